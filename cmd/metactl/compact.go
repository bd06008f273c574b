//go:build unix

package main

import (
	"github.com/metactl/metactl/aptos"

	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/compaction"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/workflow"
)

type compactCmd struct {
	storageFlags
	cacheFlags
	quarantineFlag
	EpochEndingFileCompactFactor   int      `name:"epoch-ending-file-compact-factor" help:"Epoch-ending entries per compacted file (default: ${default})." default:"1" placeholder:"N"`
	StateSnapshotFileCompactFactor int      `name:"state-snapshot-file-compact-factor" help:"State-snapshot entries per compacted file (default: ${default})." default:"1" placeholder:"N"`
	TransactionFileCompactFactor   int      `name:"transaction-file-compact-factor" help:"Transaction entries per compacted file (default: ${default})." default:"1" placeholder:"N"`
	RemoveCompactedFileAfter       duration `name:"remove-compacted-file-after" help:"How long a superseded file stays live (timestamped) before it is moved to metadata_backup: seconds, as Aptos takes it, or a duration such as 36h, 7d (default: ${default}, Aptos's 86400)." default:"1d" placeholder:"DUR"`
	DryRun                         bool     `name:"dry-run" help:"Print the plan (files written, timestamped, moved) and change nothing."`
	Verbose                        bool     `short:"v" help:"Also list every file that is timestamped or moved."`
}

func (c *compactCmd) Help() string {
	return `Does what 'aptos-db-tool backup-maintenance compact' does, with the same flags,
names and timestamps, but as ONE catalog transaction: a reader in another
process sees the catalog before or after it, never in between, and a crash
leaves it as it was. The view (every epoch-ending, state-snapshot and
transaction entry) is checked unchanged inside the transaction.

Each kind of entry is cut, in sorted order from the first, into chunks of the
factor and written as *_compacted_* files. Files not rewritten get a
timestamp; files whose timestamp is older than --remove-compacted-file-after
are moved. A continuity gap inside a chunk exits 3 with Aptos's message and
changes nothing; a factor of 0 exits 2.

With --local-fs-dir or --command-adapter-config, metactl is a drop-in
replacement for backup-maintenance compact on that storage: it imports
(syncs) the storage, compacts, then exports, writing every new file before
moving any old one, so Aptos readers of the storage always see whole files
and full coverage.

Example (Aptos's helm CronJob settings):
  metactl compact --epoch-ending-file-compact-factor 100 \
    --state-snapshot-file-compact-factor 100 --transaction-file-compact-factor 100`
}

func (c *compactCmd) Validate() error {
	if err := c.storageFlags.validate(); err != nil {
		return err
	}
	if err := c.validateCache(); err != nil {
		return err
	}
	for _, f := range []int{c.EpochEndingFileCompactFactor, c.StateSnapshotFileCompactFactor, c.TransactionFileCompactFactor} {
		if f <= 0 {
			return usagef("compaction factors must be at least 1, got %d", f)
		}
	}
	return nil
}

func (c *compactCmd) options() compaction.Options {
	return compaction.Options{
		EpochEndingFactor:        c.EpochEndingFileCompactFactor,
		StateSnapshotFactor:      c.StateSnapshotFileCompactFactor,
		TransactionFactor:        c.TransactionFileCompactFactor,
		RemoveCompactedFileAfter: time.Duration(c.RemoveCompactedFileAfter),
	}
}

func (c *compactCmd) Run(a *app) error {
	if c.MetadataCacheDir != "" {
		if err := a.makeCatalogDir(); err != nil {
			return withOp("compact", err)
		}
	}
	o := workflow.DropInOptions{Compaction: c.options(), DryRun: c.DryRun, Hooks: a.hooks()}
	if !c.given() {
		smallCompactionGC(a.cli.Catalog) // not a drop-in run: the compaction alone
	} else {
		var err error
		if o.Target, err = c.target(false, c.concurrency(), true); err != nil {
			return withOp("compact", err)
		}
		if o.Source, err = c.source(); err != nil {
			return withOp("compact", err)
		}
		// A file Aptos is still writing in place is skipped and read by
		// the next run, not a failed run (issue 21).
		o.Import = importer.Options{Source: c.describe(), Concurrency: c.concurrency(), Now: a.now, Quarantine: c.Quarantine, InProgress: true}
		// A dry run syncs into a scratch copy of the catalog, so its plan
		// is the real run's (in the cache folder when one is given).
		o.CopyCatalog, o.ScratchDir = a.copyCatalog, c.MetadataCacheDir
	}
	res, err := workflow.DropIn(a.ctx, appCatalog{a}, o)
	if err != nil {
		return err
	}
	plan := res.Plan
	out := api.Compact{DryRun: c.DryRun, Written: []string{}, Timestamped: []string{}, Moved: []string{}, Skipped: []string{}, Warnings: []importer.Warning{}}
	if o.Target != nil {
		out.Storage = &api.Storage{Target: o.Target.String(), Published: res.Published}
		if s := res.Synced; s != nil {
			out.Warnings = nonNilW(s.Warnings)
			out.Storage.Synced = &api.Sync{Added: s.Added, Moved: s.Moved, Unchanged: s.Unchanged, Quarantined: nonNilQ(s.Quarantined)}
			warnQuarantined(a, s.Quarantined)
		}
	}
	if op := res.Op; op != nil {
		out.Changed, out.Generation, out.ViewDigest = op.Changed(), op.Generation, op.DigestAfter.String()
	}
	out.Now, out.TimestampsFile = time.Unix(int64(plan.Now), 0).UTC().Format(time.RFC3339), plan.TimestampsFile
	for _, w := range plan.Write {
		out.Written = append(out.Written, w.Handle)
	}
	for _, s := range plan.Timestamped {
		out.Timestamped = append(out.Timestamped, s.Handle)
	}
	out.Moved = append(out.Moved, plan.Move...)
	out.Skipped = append(out.Skipped, plan.Skipped...)
	nothing := res.Nothing()
	if res.Published != nil {
		warnNew(a, res.Published)
	}
	if a.cli.JSON {
		return a.printJSON(out)
	}
	verb := map[bool]string{true: "would write", false: "wrote"}[c.DryRun]
	if st := out.Storage; st != nil {
		switch {
		case st.Synced != nil && c.DryRun:
			fmt.Fprintf(a.stdout, "dry run: synced %s into a scratch copy of the catalog: %d added, %d moved, %d unchanged (the catalog is unchanged)\n",
				st.Target, st.Synced.Added, st.Synced.Moved, st.Synced.Unchanged)
		case st.Synced != nil:
			fmt.Fprintf(a.stdout, "synced %s: %d added, %d moved, %d unchanged\n", st.Target, st.Synced.Added, st.Synced.Moved, st.Synced.Unchanged)
		default:
			fmt.Fprintf(a.stdout, "dry run: %s not synced; the real run imports its new files first\n", st.Target)
		}
	}
	if nothing {
		fmt.Fprintf(a.stdout, "nothing to compact: the catalog has no live files; nothing written\n")
		return nil
	}
	for _, w := range plan.Write {
		if w.Exists {
			// Already in the catalog as it would be written: not written.
			fmt.Fprintf(a.stdout, "unchanged %s: %s, already present\n", aptos.Quote(w.Handle), count(w.Lines, "line"))
			continue
		}
		fmt.Fprintf(a.stdout, "%s %s: %s\n", verb, aptos.Quote(w.Handle), count(w.Lines, "line"))
	}
	newStamps := 0
	for _, s := range plan.Timestamped {
		if s.New {
			newStamps++
		}
		if c.Verbose {
			fmt.Fprintf(a.stdout, "timestamp %s: %d\n", s.Handle, s.At)
		}
	}
	if c.Verbose {
		for _, m := range plan.Move {
			fmt.Fprintf(a.stdout, "move %s -> metadata_backup/\n", m)
		}
	}
	fmt.Fprintf(a.stdout, "%s %s: %s timestamped (%d newly), %d moved (grace %s)\n", verb, plan.TimestampsFile,
		count(len(plan.Timestamped), "file"), newStamps, len(plan.Move), c.RemoveCompactedFileAfter)
	if !c.DryRun {
		fmt.Fprintf(a.stdout, "generation %d, view digest %s unchanged\n", out.Generation, out.ViewDigest[:12])
	}
	if res := publishedOrNil(out.Storage); res != nil {
		renderPublish(a, res, c.Verbose)
		if res.DryRun {
			fmt.Fprintf(a.stdout, "storage %s: would write %d, move %d; %d unchanged, %d kept\n",
				res.Target, len(res.Written), len(res.Moved), res.Unchanged, len(res.Kept))
		} else {
			fmt.Fprintf(a.stdout, "storage %s: %d written, %d moved, %d unchanged, %d kept\n",
				res.Target, len(res.Written), len(res.Moved), res.Unchanged, len(res.Kept))
		}
	}
	return nil
}

func publishedOrNil(s *api.Storage) *export.Result {
	if s == nil {
		return nil
	}
	return s.Published
}

// smallCompactionGC gives the compaction of a small catalog file (under
// smallCatalogBytes) the collector headroom of GOGC=400, unless GOGC or
// GOMEMLIMIT is set: its heap is tens of MB, and collecting it at the
// default cost a tenth of its CPU (the mainnet-scale row's compaction of
// 40k files, a 26 MB catalog: task-clock 175 ms at GOGC=100, 152 ms at
// 400, peak RSS 87 -> 95 MiB). A soft memory limit of smallCompactionLimit
// stays as a backstop. A larger catalog (issue 11's 1M lines: 276 MB,
// peaking at 458 MiB against a goal of 768) keeps the default, and so
// does a catalog that is not a local file or a drop-in run, whose sync
// may import far more than the catalog holds (the caller skips those).
func smallCompactionGC(path string) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() >= smallCatalogBytes {
		return
	}
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(smallCompactionLimit)
}

// smallCatalogBytes is the largest catalog file smallCompactionGC
// applies to: about 100k entries.
const smallCatalogBytes = 64 << 20

// smallCompactionLimit is smallCompactionGC's soft memory limit.
const smallCompactionLimit = 256 << 20
