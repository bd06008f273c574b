package metrics

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

// Facts are what one read-only transaction says about a catalog.
type Facts struct {
	Generation            uint64
	LiveFiles, MovedFiles int
	// Quarantined counts the storage files import --quarantine set aside.
	Quarantined int
	Entries     int
	State       aptos.StorageState
	// Frontier is the restorable frontier (see [Frontier]); Restorable is
	// false when no restore can start, and Frontier is then 0.
	Frontier   uint64
	Restorable bool
	// LastOperation is the commit time of the newest journal operation of
	// each kind (import, compact, cleanup, undo, ...).
	LastOperation map[string]time.Time
}

// Read gathers the Facts of tx's generation.
func Read(tx catalog.Tx) (*Facts, error) {
	f := &Facts{Generation: tx.Generation(), Entries: tx.EntryCount(), LastOperation: map[string]time.Time{}}
	var err error
	if f.State, err = tx.StorageState(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if f.LiveFiles, f.MovedFiles, err = tx.CountFiles(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err = tx.QuarantinedFiles(func(*catalog.QuarantinedFile) error { f.Quarantined++; return nil }); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	v, err := tx.View()
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	f.Frontier, f.Restorable = Frontier(v)
	err = tx.Operations(func(op *catalog.Operation) bool {
		if _, seen := f.LastOperation[string(op.Kind)]; !seen {
			f.LastOperation[string(op.Kind)] = op.Time
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return f, nil
}

// Frontier returns the restorable frontier of v (see
// [aptos.View.RestorableFrontier], where the rule lives).
func Frontier(v *aptos.View) (frontier uint64, ok bool) {
	return v.RestorableFrontier()
}

// Run is one metactl command's own run.
type Run struct {
	Command  string // "compact", "import", ...
	Start    time.Time
	Duration time.Duration
	Exit     int
}

// Verify is the outcome of the last verify.
type Verify struct {
	Problems int
	At       time.Time
}

var (
	descGeneration  = prometheus.NewDesc("metactl_catalog_generation", "The catalog generation: every write transaction adds one.", nil, nil)
	descQuarantined = prometheus.NewDesc("metactl_quarantined_files", "Storage files import --quarantine set aside (they fail to parse or validate); metactl verify names them.", nil, nil)
	descFiles       = prometheus.NewDesc("metactl_files", "Metadata files in the catalog, by state (live: in metadata/, moved: in metadata_backup/).", []string{"state"}, nil)
	descEntries     = prometheus.NewDesc("metactl_view_entries", "Entries in the view (epoch endings, state snapshots, transactions), as Aptos's MetadataView counts them.", nil, nil)
	descState       = map[string]*prometheus.Desc{
		"epoch_ending_epoch":     prometheus.NewDesc("metactl_storage_latest_epoch_ending_epoch", "BackupStorageState latest_epoch_ending_epoch.", nil, nil),
		"state_snapshot_epoch":   prometheus.NewDesc("metactl_storage_latest_state_snapshot_epoch", "BackupStorageState latest_state_snapshot_epoch.", nil, nil),
		"state_snapshot_version": prometheus.NewDesc("metactl_storage_latest_state_snapshot_version", "BackupStorageState latest_state_snapshot_version.", nil, nil),
		"transaction_version":    prometheus.NewDesc("metactl_storage_latest_transaction_version", "BackupStorageState latest_transaction_version.", nil, nil),
	}
	descRestorable = prometheus.NewDesc("metactl_restorable", "1 if a restore can start: a state snapshot below the first gap in transaction or epoch-ending coverage.", nil, nil)
	descFrontier   = prometheus.NewDesc("metactl_restorable_frontier_version", "The highest version a restore can reach with continuous coverage from version 0 and a state snapshot.", nil, nil)
	descLastOp     = prometheus.NewDesc("metactl_last_operation_timestamp_seconds", "Commit time of the newest journal operation of each kind.", []string{"kind"}, nil)
	descVerify     = prometheus.NewDesc("metactl_verify_problems", "Problems the last verify found (0: the catalog verified).", nil, nil)
	descVerifyAt   = prometheus.NewDesc("metactl_verify_timestamp_seconds", "When the last verify ran.", nil, nil)
	descRunStart   = prometheus.NewDesc("metactl_run_timestamp_seconds", "Start of the metactl run that wrote this file.", []string{"command"}, nil)
	descRunDur     = prometheus.NewDesc("metactl_run_duration_seconds", "Duration of the metactl run that wrote this file.", []string{"command"}, nil)
	descRunExit    = prometheus.NewDesc("metactl_run_exit_code", "Exit code of the metactl run that wrote this file (0: success).", []string{"command"}, nil)
)

// Source supplies what a Collector reports at each scrape. Facts may
// return nil and an error (the scrape then reports the error); Verify and
// Run may return nil when unknown.
type Source struct {
	Facts  func() (*Facts, error)
	Verify func() *Verify
	Run    func() *Run
}

// Collector is a prometheus.Collector over a Source.
type Collector struct{ src Source }

// NewCollector returns a Collector that calls src at every scrape.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descGeneration, descFiles, descQuarantined, descEntries, descRestorable, descFrontier, descLastOp,
		descVerify, descVerifyAt, descRunStart, descRunDur, descRunExit} {
		ch <- d
	}
	for _, d := range descState {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if c.src.Facts != nil {
		f, err := c.src.Facts()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(descGeneration, err)
		} else if f != nil {
			gauge(descGeneration, float64(f.Generation))
			gauge(descFiles, float64(f.LiveFiles), "live")
			gauge(descFiles, float64(f.MovedFiles), "moved")
			gauge(descQuarantined, float64(f.Quarantined))
			gauge(descEntries, float64(f.Entries))
			for name, p := range map[string]*uint64{
				"epoch_ending_epoch": f.State.LatestEpochEndingEpoch, "state_snapshot_epoch": f.State.LatestStateSnapshotEpoch,
				"state_snapshot_version": f.State.LatestStateSnapshotVersion, "transaction_version": f.State.LatestTransactionVersion,
			} {
				if p != nil {
					gauge(descState[name], float64(*p))
				}
			}
			if f.Restorable {
				gauge(descRestorable, 1)
				gauge(descFrontier, float64(f.Frontier))
			} else {
				gauge(descRestorable, 0)
			}
			kinds := make([]string, 0, len(f.LastOperation))
			for k := range f.LastOperation {
				kinds = append(kinds, k)
			}
			slices.Sort(kinds)
			for _, k := range kinds {
				gauge(descLastOp, unixSeconds(f.LastOperation[k]), k)
			}
		}
	}
	if c.src.Verify != nil {
		if v := c.src.Verify(); v != nil {
			gauge(descVerify, float64(v.Problems))
			gauge(descVerifyAt, unixSeconds(v.At))
		}
	}
	if c.src.Run != nil {
		if r := c.src.Run(); r != nil {
			gauge(descRunStart, unixSeconds(r.Start), r.Command)
			gauge(descRunDur, r.Duration.Seconds(), r.Command)
			gauge(descRunExit, float64(r.Exit), r.Command)
		}
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// WriteTextfile writes the metrics of src to path for node-exporter's
// textfile collector, atomically: readers see the old file or the new one.
func WriteTextfile(path string, src Source) error {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(NewCollector(src)); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		if dir := filepath.Dir(path); errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(dir); serr != nil {
				// Name the missing folder, not the temporary file.
				return fmt.Errorf("metrics: write %s: %w", path, serr)
			}
		}
		return fmt.Errorf("metrics: write %s: %w", path, err)
	}
	return nil
}
