//go:build unix

package main

import (
	"fmt"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/catalog"
)

type undoCmd struct {
	Generation uint64 `arg:"" help:"The generation to reverse, as 'metactl log' shows it."`
	DryRun     bool   `name:"dry-run" help:"Check everything and show what would change, then roll back."`
}

func (c *undoCmd) Help() string {
	return `Reverses one write operation from the journal as a new write transaction of
kind "undo" (which 'metactl log' shows with the generation it reversed):

  - an undone import removes the files it added and restores the states it
    changed;
  - an undone compaction makes the files it moved live again and removes the
    compacted and timestamps files it wrote (or restores the ones it
    rewrote);
  - an undone cleanup restores the files it deleted, content, state and
    provenance as they were.

The catalog keeps what undo needs (each operation's change records, with
the content of deleted and replaced files) for the grace period of
'cleanup --retain', 30 days by default: the undo window. A cleanup after it
purges them, and the undo of an older operation is refused.

The view digest after the undo must equal the digest before the undone
operation, adjusted for what later operations changed; this is checked
inside the transaction. Undo refuses (exit 3, catalog unchanged) and names
the operation in the way when a later operation changed the same files or
depends on the view the undone one left: undo that later operation first.
Operations committed by a metactl without change records cannot be undone.
Files the undo removes are recorded as deleted, so 'export --prune' removes
them from a legacy folder.

--dry-run runs the whole undo, checks included, under the write lock and
rolls it back.

Examples:
  metactl log
  metactl undo 12 --dry-run
  metactl undo 12`
}

func (c *undoCmd) Run(a *app) error {
	db, err := a.openExisting("undo")
	if err != nil {
		return err
	}
	op, err := db.Undo(a.ctx, c.Generation, c.DryRun)
	db.Close()
	if err != nil {
		return err // names the generation: "undo generation N: ..."
	}
	if a.cli.JSON {
		return a.printJSON(api.Undo{DryRun: c.DryRun, Operation: op})
	}
	verb := map[bool]string{true: "would", false: "did"}[c.DryRun]
	for _, ch := range []struct {
		what string
		c    catalog.Changes
	}{{"restore", op.Added}, {"replace", op.Replaced}, {"move", op.Moved}, {"revive", op.Revived}, {"remove", op.Deleted}} {
		for _, h := range ch.c.Handles {
			fmt.Fprintf(a.stdout, "%s %s\n", ch.what, h)
		}
		if ch.c.Truncated {
			fmt.Fprintf(a.stdout, "... %d more to %s\n", ch.c.Count-len(ch.c.Handles), ch.what)
		}
	}
	gen := fmt.Sprintf("generation %d", op.Generation)
	if c.DryRun {
		gen = fmt.Sprintf("as generation %d", op.Generation)
	}
	fmt.Fprintf(a.stdout, "%s undo generation %d: %d restored, %d replaced, %d moved, %d revived, %d removed; view digest %s -> %s (%s)\n",
		verb, c.Generation, op.Added.Count, op.Replaced.Count, op.Moved.Count, op.Revived.Count, op.Deleted.Count,
		op.DigestBefore.Short(), op.DigestAfter.Short(), gen)
	return nil
}
