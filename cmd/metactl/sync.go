//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/metrics"
	"github.com/metactl/metactl/workflow"
)

// syncCmd is 'metactl sync': the continuous mode. It keeps the catalog
// current from a storage ([workflow.Sync]), as litestream's replicate keeps
// a replica, where the deploy/ sync job used to run a whole drop-in
// compaction every 15 minutes.
type syncCmd struct {
	storageFlags
	cacheFlags
	quarantineFlag
	Every duration `help:"Sync again this long after each sync ends, until SIGTERM or SIGINT (then exit 0): seconds or a duration such as 30s, 5m. 0 (the default) syncs once." default:"0" placeholder:"DUR"`
	Full  bool     `help:"Read every listed file each time, also those the catalog holds (by default only new names are read)."`
}

func (c *syncCmd) Help() string {
	return `Keeps the catalog current from a storage: an incremental import (only the
names the catalog does not hold are read; the listing is the only full pass),
then, with --every, the same again after each pause, until SIGTERM. Nothing
is compacted or written to the storage: the storage stays Aptos's, the
catalog follows it (run the drop-in 'metactl compact --command-adapter-config'
on its own schedule, or let Aptos's compaction run; both are synced).

Each sync is one write transaction, held only for its commit: readers and
'serve' never wait for the storage. A sync that fails (the storage
unreachable, a bad file, the catalog busy) changes nothing, is reported, and
the next one tries again; without --every its error is the exit code.

Each sync prints one line (--json: one document per line) and, with
--metrics-textfile, rewrites the textfile, so a pod's log and node-exporter
follow it.

Examples:
  metactl sync --command-adapter-config s3.yaml --every 1m
  metactl sync --local-fs-dir /backups/mainnet`
}

func (c *syncCmd) Validate() error {
	if err := c.storageFlags.validate(); err != nil {
		return err
	}
	if err := c.validateCache(); err != nil {
		return err
	}
	if !c.given() {
		return usagef("give the storage to sync from: --local-fs-dir or --command-adapter-config")
	}
	if c.Every < 0 {
		return usagef("--every %s: want 0 or more", c.Every)
	}
	return nil
}

// syncJSONLine is the documented --json shape of one sync: one document
// per line.
type syncJSONLine struct {
	Sync         int                `json:"sync"`
	Start        string             `json:"start"`
	Seconds      float64            `json:"seconds"`
	OK           bool               `json:"ok"`
	Error        string             `json:"error,omitempty"`
	Read         int                `json:"read"`
	KnownSkipped int                `json:"known_skipped"`
	Added        int                `json:"added"`
	Moved        int                `json:"moved"`
	Unchanged    int                `json:"unchanged"`
	Changed      bool               `json:"changed"`
	Generation   uint64             `json:"generation"`
	Warnings     []importer.Warning `json:"warnings"`
}

func (c *syncCmd) Run(a *app) error {
	if err := checkCatalogPath(a.cli.Catalog, true); err != nil {
		return err
	}
	if c.MetadataCacheDir != "" {
		if err := a.makeCatalogDir(); err != nil {
			return withOp("sync", err)
		}
	}
	src, err := c.source()
	if err != nil {
		return withOp("sync", err)
	}
	opts := workflow.SyncOptions{
		Every:   time.Duration(c.Every),
		Command: "sync",
		Import:  importer.Options{Source: c.describe(), Concurrency: c.concurrency(), Now: a.now, Full: c.Full, Quarantine: c.Quarantine, InProgress: true},
	}
	return workflow.Sync(a.ctx, appCatalog{a}, src, opts, func(r workflow.Round) {
		c.report(a, r, opts.Every > 0)
	})
}

// report prints one round, and with --every rewrites the metrics textfile
// (without --every, run writes it once at the end as for any command).
func (c *syncCmd) report(a *app, r workflow.Round, loop bool) {
	line := syncJSONLine{Sync: r.N, Start: r.Start.UTC().Format(time.RFC3339), Seconds: r.Took.Round(time.Millisecond).Seconds(), OK: r.Err == nil, Warnings: []importer.Warning{}}
	if res := r.Result; res != nil {
		a.warn(res.Warnings)
		warnQuarantined(a, res.Quarantined)
		line.Read, line.KnownSkipped, line.Added, line.Moved, line.Unchanged = res.Files, res.KnownSkipped, res.Added, res.Moved, res.Unchanged
		line.Changed, line.Generation, line.Warnings = res.Changed, res.Generation, nonNilW(res.Warnings)
	}
	if r.Err != nil {
		line.Error = r.Err.Error()
		if loop {
			// The loop goes on: the error is this round's, not the
			// command's (without --every, run reports it).
			a.warnf("sync %d failed, next in %s: %v", r.N, c.Every, r.Err)
		}
	}
	switch {
	case a.cli.JSON && (r.Err == nil || loop):
		json.NewEncoder(a.stdout).Encode(line) // one line per sync
	case r.Err == nil:
		fmt.Fprintf(a.stdout, "sync %d: %s read, %d known not read; %d added, %d moved, %d unchanged; generation %d (%s)\n",
			r.N, count(line.Read, "file"), line.KnownSkipped, line.Added, line.Moved, line.Unchanged, line.Generation, r.Took.Round(time.Millisecond))
	}
	if loop && a.cli.MetricsFile != "" {
		run := &metrics.Run{Command: "sync", Start: r.Start, Duration: r.Took, Exit: exitCodeOf(r.Err)}
		if err := a.writeMetrics(run); err != nil {
			a.warnf("%v", err)
		}
	}
}
