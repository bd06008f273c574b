//go:build unix

package main

import (
	"encoding/hex"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
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

// lsJSON is the documented --json shape of one ls row.
type lsJSON struct {
	Handle         string        `json:"handle"`
	Path           string        `json:"path"` // where the file lives: metadata/<name> or metadata_backup/<name>
	State          catalog.State `json:"state"`
	Lines          int           `json:"lines"`
	Size           int           `json:"size"`
	SHA256         string        `json:"sha256"`
	Source         string        `json:"source"`
	ImportedAt     time.Time     `json:"imported_at"`
	StateChangedAt time.Time     `json:"state_changed_at"`
}

type lsOutput struct {
	Generation uint64   `json:"generation"`
	Files      []lsJSON `json:"files"`
}

// filePath is where f lives in a storage: metadata/<name> while live,
// metadata_backup/<name> once moved.
func filePath(f *catalog.File) string {
	if f.State == catalog.Moved {
		return aptos.MovedHandle(f.Name())
	}
	return aptos.LiveHandle(f.Name())
}

func (c *lsCmd) Run(a *app) error {
	db, done, err := a.openRead("ls")
	if err != nil {
		return err
	}
	defer done()
	out := lsOutput{Files: []lsJSON{}}
	err = db.View(a.ctx, func(tx catalog.Tx) error {
		out.Generation = tx.Generation()
		return tx.ForEachFile(false, func(f *catalog.File) error {
			if c.State != "all" && f.State.String() != c.State {
				return nil
			}
			out.Files = append(out.Files, lsJSON{f.Handle, filePath(f), f.State, f.Lines, f.Size, hex.EncodeToString(f.SHA256[:]),
				f.Source, f.ImportedAt, f.StateChangedAt})
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("ls: %w", err)
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
				f.ImportedAt.UTC().Format(time.RFC3339), f.Source, f.Path)
		} else {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", f.State, f.Lines, f.Size, f.Path)
		}
	}
	return tw.Flush()
}
