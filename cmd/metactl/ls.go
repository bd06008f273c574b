//go:build unix

package main

import (
	"github.com/metactl/metactl/aptos"

	"fmt"
	"text/tabwriter"
	"time"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/remote"
)

type lsCmd struct {
	State string `help:"Only files in this state: live or moved." enum:"all,live,moved" default:"all"`
	Long  bool   `short:"l" help:"Also show SHA-256 prefix, import time and source."`
}

func (c *lsCmd) Help() string {
	return `Lists every metadata file in handle order with its state (live: in metadata/,
moved: superseded by compaction, in metadata_backup/), number of lines and size
in bytes, and where it lives (metadata/<name>, or metadata_backup/<name> once
moved). Runs in one read-only transaction.

Examples:

    metactl ls
    metactl ls --state moved -l
    metactl ls --json | jq -r '.files[] | select(.state == "live") | .path'`
}

func (c *lsCmd) Run(a *app) error {
	state, err := api.ParseState(c.State)
	if err != nil {
		return usagef("ls: --state: %w", err)
	}
	out, err := query(a, false, func(r *remote.Client) (*api.Ls, error) { return r.Ls(a.ctx, state) }, func() (*api.Ls, error) {
		db, done, err := a.openRead("ls")
		if err != nil {
			return nil, err
		}
		defer done()
		return api.LsOf(a.ctx, db, state)
	})
	if err != nil {
		return err
	}
	if a.cli.JSON {
		return a.printJSON(out)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	if c.Long {
		fmt.Fprintln(tw, "STATE\tLINES\tSIZE\tSHA256\tIMPORTED\tSOURCE\tPATH")
	} else {
		fmt.Fprintln(tw, "STATE\tLINES\tSIZE\tPATH")
	}
	for _, f := range out.Files {
		if c.Long {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", f.State, f.Lines, f.Size, f.SHA256[:12],
				f.ImportedAt.UTC().Format(time.RFC3339), aptos.Quote(f.Source), aptos.Quote(f.Path))
		} else {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", f.State, f.Lines, f.Size, aptos.Quote(f.Path))
		}
	}
	return tw.Flush()
}
