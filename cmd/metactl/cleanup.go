package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/metactl/metactl/catalog"
)

type cleanupCmd struct {
	OlderThan string `name:"older-than" required:"" help:"Delete moved files moved longer ago than this: a Go duration (36h, 90m) or days (7d)." placeholder:"DURATION"`
	DryRun    bool   `name:"dry-run" help:"List what would be deleted and change nothing."`
}

func (c *cleanupCmd) Help() string {
	return `Permanently deletes moved files (superseded by compaction, the ones Aptos keeps
in metadata_backup/) that were moved longer ago than --older-than. Live files
are never touched. All in one transaction. Aptos's own 'backup-maintenance
cleanup' does nothing; this one is real. A later 'export --prune' removes
the deleted files from a legacy folder.`
}

func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(d, 10, 32)
		if err != nil {
			return 0, usagef("--older-than %q: want a duration such as 36h or 7d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur < 0 {
		return 0, usagef("--older-than %q: want a duration such as 36h or 7d", s)
	}
	return dur, nil
}

type cleanupJSON struct {
	DryRun     bool     `json:"dry_run"`
	Cutoff     string   `json:"cutoff"`
	Deleted    []string `json:"deleted"`
	Generation uint64   `json:"generation"`
}

func (c *cleanupCmd) Run(a *app) error {
	age, err := parseAge(c.OlderThan)
	if err != nil {
		return err
	}
	cutoff := a.now().Add(-age)
	out := cleanupJSON{DryRun: c.DryRun, Cutoff: cutoff.UTC().Format(time.RFC3339), Deleted: []string{}}
	pick := func(tx *catalog.Tx) error {
		files, err := tx.Files(catalog.Moved)
		if err != nil {
			return err
		}
		for _, f := range files {
			if f.StateChangedAt.Before(cutoff) {
				out.Deleted = append(out.Deleted, f.Handle)
			}
		}
		return nil
	}
	if c.DryRun {
		db, done, err := a.openRead("cleanup --dry-run")
		if err != nil {
			return err
		}
		defer done()
		err = db.View(func(tx *catalog.Tx) error { out.Generation = tx.Generation(); return pick(tx) })
		if err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
	} else {
		db, err := a.openWrite("cleanup")
		if err != nil {
			return err
		}
		op, err := db.Update(a.ctx, "cleanup", func(tx *catalog.Tx) error {
			tx.SetInputs("older-than=" + c.OlderThan)
			if err := pick(tx); err != nil {
				return err
			}
			for _, h := range out.Deleted {
				if err := tx.DeleteFile(h); err != nil {
					return err
				}
			}
			tx.SetNote(fmt.Sprintf("deleted %d moved files", len(out.Deleted)))
			return nil
		})
		db.Close()
		if err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		out.Generation = op.Generation
	}
	if a.cli.JSON {
		return a.printJSON(out)
	}
	verb := map[bool]string{true: "would delete", false: "deleted"}[c.DryRun]
	for _, h := range out.Deleted {
		fmt.Fprintf(a.stdout, "%s %s\n", verb, h)
	}
	fmt.Fprintf(a.stdout, "%s %d moved files moved before %s (generation %d)\n", verb, len(out.Deleted), out.Cutoff, out.Generation)
	return nil
}
