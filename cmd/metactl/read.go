//go:build unix

package main

import (
	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/remote"
)

type readCmd struct {
	Handles []string `arg:"" name:"handle" help:"Metadata file handles: metadata/x.meta, metadata_backup/x.meta, or just x.meta."`
}

func (c *readCmd) Help() string {
	return `Prints every entry of the named files as pretty JSON (two-space indent, as
serde_json's pretty printer writes it), one JSON value per entry, in file
order. Unlike Aptos's read-metadata, compacted multi-line files work. All
files are read in one read-only transaction, so they come from one committed
generation. With --json, prints one document: the generation and, per file,
its handle, state and entries.

Examples:

    metactl read metadata/epoch_ending_0-0.meta
    metactl read transaction_compacted_0-58000000.meta
    metactl --catalog backup.mcar read --json epoch_ending_0-0.meta`
}

func (c *readCmd) Run(a *app) error {
	out, err := query(a, false, func(r *remote.Client) (*api.Read, error) { return r.Read(a.ctx, c.Handles) }, func() (*api.Read, error) {
		db, done, err := a.openRead("read")
		if err != nil {
			return nil, err
		}
		defer done()
		return api.ReadOf(a.ctx, db, c.Handles)
	})
	if err != nil {
		return err
	}
	if a.cli.JSON {
		return a.printJSON(out)
	}
	text, err := out.Pretty()
	if err != nil {
		return withOp("read", err)
	}
	_, err = a.stdout.Write(text)
	return err
}
