//go:build unix

package main

import (
	"github.com/metactl/metactl/aptos"

	"fmt"
	"text/tabwriter"
	"time"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/remote"
)

type logCmd struct {
	Limit int  `short:"n" help:"Show at most this many operations, 0 for all (default: ${default})." default:"20"`
	Files bool `help:"Also list the handles each operation touched."`
}

func (c *logCmd) Help() string {
	return `Shows the catalog's journal, newest first: each committed write with its
generation, time, kind (import, compact, cleanup, undo), file counts and
the view digest before and after. Compaction never changes the digest;
import and cleanup may. An undo names the generation it reversed in its
KIND column ("undo 12") and in "undoes" with --json. --json prints the full
records.

Examples:

    metactl log
    metactl log -n 0 --files
    metactl --catalog backup.mcar log    # the journal as it was at export`
}

func (c *logCmd) Run(a *app) error {
	out, err := query(a, false, func(r *remote.Client) (*api.Log, error) { return r.Log(a.ctx, c.Limit) }, func() (*api.Log, error) {
		db, done, err := a.openRead("log")
		if err != nil {
			return nil, err
		}
		defer done()
		return api.LogOf(a.ctx, db, c.Limit)
	})
	if err != nil {
		return err
	}
	if a.cli.JSON {
		return a.printJSON(out)
	}
	ops := out.Operations
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GEN\tTIME\tKIND\tADDED\tREPLACED\tMOVED\tREVIVED\tDELETED\tENTRIES\tDIGEST BEFORE\tDIGEST AFTER\tNOTE")
	for _, op := range ops {
		kind := string(op.Kind)
		if op.Undoes != 0 {
			kind = fmt.Sprintf("%s %d", op.Kind, op.Undoes)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", op.Generation, op.Time.Format(time.RFC3339), kind,
			op.Added.Count, op.Replaced.Count, op.Moved.Count, op.Revived.Count, op.Deleted.Count, op.Entries,
			op.DigestBefore.Short(), op.DigestAfter.Short(), aptos.Sanitize(op.Note))
		if c.Files {
			for _, ch := range []struct {
				what string
				c    catalog.Changes
			}{{"added", op.Added}, {"replaced", op.Replaced}, {"moved", op.Moved}, {"revived", op.Revived}, {"deleted", op.Deleted}} {
				for _, h := range ch.c.Handles {
					fmt.Fprintf(tw, "\t\t  %s %s\n", ch.what, aptos.Quote(h))
				}
			}
		}
	}
	return tw.Flush()
}
