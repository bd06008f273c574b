//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/scratch"
	"github.com/metactl/metactl/workflow"
)

type copyCmd struct {
	From string `required:"" help:"Catalog to copy: a catalog file, an archive made by 'export --archive', or etcd://HOST:PORT[,...]/PREFIX." placeholder:"CATALOG"`
	To   string `required:"" help:"Where to put the copy: a new catalog file or an etcd://HOST:PORT[,...]/PREFIX that holds no catalog yet." placeholder:"CATALOG"`
}

func (c *copyCmd) Help() string {
	return `Copies a whole catalog between backends, for example from the local file to
etcd when jobs move to several hosts, or from etcd back to a file:

  metactl copy --from metactl.db --to etcd://10.0.0.1:2379,10.0.0.2:2379/metactl/mainnet
  metactl copy --from etcd://10.0.0.1:2379/metactl/mainnet --to restored.db

The copy is the same catalog: same generation, files, index, digest and
journal ('metactl log' shows the same history). The source is read in one
read-only transaction (a file) or at one etcd revision, and stays as it is;
the destination must not exist yet and appears whole or not at all. An
archive made by 'metactl export --archive' carries the journal too (format
2 and later) and can be a source; to make one, use 'export --archive'.`
}

func (c *copyCmd) Run(a *app) error {
	for _, loc := range []string{c.From, c.To} {
		if err := checkURL(loc); err != nil {
			return err
		}
	}
	if c.From == c.To {
		return usagef("copy: --from and --to are the same catalog")
	}
	if k := workflow.Classify(c.To); k != workflow.URL && k != workflow.Missing {
		return fmt.Errorf("copy to %s: %w; copy into a new file", c.To, catalog.ErrExist)
	}
	// The source as a private bbolt file.
	dir, err := scratch.Make("", "metactl-copy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "catalog.db")
	from, cleanup, err := a.spool(c.From) // an archive from a pipe
	if err != nil {
		return fmt.Errorf("copy from %s: %w", c.From, err)
	}
	defer cleanup()
	if err := c.fetch(a, from, tmp); err != nil {
		return withOp("copy from "+c.From, err)
	}
	// The destination's backend publishes the copy whole (catalog.Load).
	gen, err := catalog.Load(a.ctx, c.To, tmp, a.options(false, "copy"))
	if err != nil {
		return withOp("copy to "+c.To, err)
	}
	if a.cli.JSON {
		return a.printJSON(api.Copy{From: c.From, To: c.To, Generation: gen})
	}
	_, err = fmt.Fprintf(a.stdout, "copied generation %d from %s to %s\n", gen, c.From, c.To)
	return err
}

// fetch writes the source catalog from (c.From, or its spooled copy) to
// the new file tmp: a snapshot of its current generation, which its
// backend writes ([catalog.Snapshot]).
func (c *copyCmd) fetch(a *app, from, tmp string) error {
	var db catalog.DB
	var done func()
	var err error
	if workflow.Classify(from) == workflow.ArchiveFile {
		db, done, err = a.openArchive(from, "copy")
	} else {
		db, err = catalog.Open(a.ctx, from, a.options(true, "copy"))
		done = func() { db.Close() }
	}
	if err != nil {
		return err
	}
	defer done()
	_, err = catalog.Snapshot(a.ctx, db, tmp)
	return err
}
