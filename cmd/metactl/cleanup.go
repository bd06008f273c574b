//go:build unix

package main

import (
	"fmt"
	"time"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/cleanup"
)

type cleanupCmd struct {
	OlderThan duration `name:"older-than" required:"" help:"Delete moved files moved longer ago than this: seconds or a duration such as 36h, 7d, 1w." placeholder:"DUR"`
	Retain    duration `name:"retain" default:"30d" help:"The undo window: keep each operation's change records (deleted files' content included) this long so 'metactl undo' can reverse it; older ones are purged by this run: seconds or a duration such as 30d (default: ${default})." placeholder:"DUR"`
	DryRun    bool     `name:"dry-run" help:"List what would be deleted and change nothing."`
}

func (c *cleanupCmd) Help() string {
	return `Permanently deletes moved files (superseded by compaction, the ones Aptos keeps
in metadata_backup/) that were moved longer ago than --older-than. Live files
are never touched. All in one transaction. Aptos's own 'backup-maintenance
cleanup' does nothing; this one is real. A later 'export --prune' removes
the deleted files from a legacy folder.

The catalog keeps a deleted file's content, and every operation's change
records, for the grace period --retain (30 days by default), so 'metactl
undo GENERATION' can bring the files of a cleanup back. Each cleanup purges
the records of operations older than that; those can no longer be undone.

Examples:
  metactl cleanup --older-than 7d --dry-run
  metactl cleanup --older-than 7d
  metactl cleanup --older-than 7d --retain 90d`
}

func (c *cleanupCmd) Run(a *app) error {
	opts := cleanup.Options{OlderThan: time.Duration(c.OlderThan), Retain: time.Duration(c.Retain),
		Inputs: []string{"older-than=" + c.OlderThan.String(), "retain=" + c.Retain.String()}}
	var res *cleanup.Result
	if c.DryRun {
		db, done, err := a.openRead("cleanup --dry-run")
		if err != nil {
			return err
		}
		res, err = cleanup.Plan(a.ctx, db, opts, a.now())
		done()
		if err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
	} else {
		db, err := a.openExisting("cleanup")
		if err != nil {
			return err
		}
		res, err = cleanup.Run(a.ctx, db, opts)
		db.Close()
		if err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
	}
	out := api.Cleanup{DryRun: c.DryRun, Cutoff: res.Cutoff.UTC().Format(time.RFC3339), Deleted: res.Deleted,
		Purged: res.Purged, Generation: res.Generation}
	if a.cli.JSON {
		return a.printJSON(out)
	}
	verb := map[bool]string{true: "would delete", false: "deleted"}[c.DryRun]
	for _, h := range out.Deleted {
		fmt.Fprintf(a.stdout, "%s %s\n", verb, h)
	}
	fmt.Fprintf(a.stdout, "%s %s moved before %s (generation %d)\n", verb, count(len(out.Deleted), "moved file"), out.Cutoff, out.Generation)
	if out.Purged > 0 {
		fmt.Fprintf(a.stdout, "purged %s kept for undo of operations before %s\n", count(out.Purged, "change record"), res.PurgeCutoff.UTC().Format(time.RFC3339))
	}
	return nil
}
