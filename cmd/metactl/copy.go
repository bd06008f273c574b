//go:build unix

package main

import (
	"errors"
	"fmt"
	"github.com/metactl/metactl/internal/scratch"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
	"github.com/metactl/metactl/catalog/etcdstore"
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
	var gen uint64
	if etcdstore.IsURL(c.To) {
		gen, err = etcdstore.CopyIn(a.ctx, c.To, tmp, a.options(false, "copy"))
	} else {
		gen, err = c.store(a, tmp)
	}
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
// the new file tmp.
func (c *copyCmd) fetch(a *app, from, tmp string) error {
	if etcdstore.IsURL(from) {
		_, err := etcdstore.CopyOut(a.ctx, from, tmp, a.options(true, "copy"))
		return err
	}
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
	// A read-only open holds the file's shared lock: no writer can change
	// it while its bytes are copied.
	return boltstore.CopyFile(db.Location(), tmp)
}

// store moves the file tmp to the destination path, whole or not at all,
// and checks that it opens.
func (c *copyCmd) store(a *app, tmp string) (uint64, error) {
	part := fmt.Sprintf("%s.copying-%d", c.To, os.Getpid())
	if err := boltstore.CopyFile(tmp, part); err != nil {
		return 0, err
	}
	defer os.Remove(part)
	if err := os.Link(part, c.To); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("%s appeared meanwhile; nothing copied", c.To)
		}
		return 0, err
	}
	db, err := catalog.Open(a.ctx, c.To, a.options(true, "copy"))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var gen uint64
	err = db.View(a.ctx, func(tx catalog.Tx) error { gen = tx.Generation(); return nil })
	return gen, err
}
