package etcdstore

import (
	"context"
	"fmt"
	"os"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
)

func init() { catalog.RegisterLoad(Scheme, load) }

// load is the backend's [catalog.LoadFunc]: it publishes the bbolt catalog
// file at path as the etcd catalog at location, which must not exist yet
// (or be the empty generation 0 a writable open creates): every key of the
// file becomes a key of the layout, staged and published with one
// compare-and-swap. It returns the generation published.
func load(ctx context.Context, location, path string, opts *catalog.Options) (uint64, error) {
	db, err := catalog.Open(ctx, location, withDefaults(opts, false))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	e := db.(*DB)
	s := e.s
	e.mu.Lock()
	defer e.mu.Unlock()
	defer s.releaseAfter(ctx, s.written.Load())
	base, err := s.prepare(ctx, e.lock)
	if err != nil {
		return 0, err
	}
	if base.Legacy != nil || base.Generation() != 0 {
		return 0, fmt.Errorf("copy to %s: the %w (generation %d); copy into a new prefix", location, catalog.ErrExist, base.Generation())
	}
	if sum, err := readSummary(ctx, s, base); err != nil || sum.LiveFiles+sum.MovedFiles != 0 {
		if err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("copy to %s: the %w (generation %d); copy into a new prefix", location, catalog.ErrExist, base.Generation())
	}
	c, err := s.newLocal(ctx, path)
	if err != nil {
		return 0, err
	}
	// Generation 0's keys are a subset of any catalog's: the copy's
	// replace them.
	if err := s.publishAll(ctx, e.lock, base, c); err != nil {
		c.close()
		return 0, err
	}
	e.mirror.close()
	e.mirror = c
	return generationOf(ctx, c.db)
}

// Snapshot is [catalog.Snapshotter]: the current generation, read at one
// revision, written to a new bbolt file at path (which must not exist).
func (db *DB) Snapshot(ctx context.Context, path string) (uint64, error) {
	s := db.s
	sn, err := s.Current(ctx)
	if err != nil {
		return 0, err
	}
	if !sn.Exists() {
		return 0, fmt.Errorf("copy from %s: %w", db.location, catalog.ErrNoCatalog)
	}
	c, err := s.loadLocal(ctx, sn)
	if err != nil {
		return 0, err
	}
	defer c.close()
	gen, err := generationOf(ctx, c.db)
	if err != nil {
		return 0, err
	}
	src := c.db.Location()
	c.db.Close()
	tmp := fmt.Sprintf("%s.copying-%d", path, os.Getpid())
	defer os.Remove(tmp)
	if err := boltstore.CopyFile(src, tmp); err != nil {
		return 0, err
	}
	if err := syncFile(tmp); err != nil {
		return 0, err
	}
	// Link, not rename: never replace a file that appeared meanwhile.
	if err := os.Link(tmp, path); err != nil {
		return 0, fmt.Errorf("copy to %s: %w", path, err)
	}
	return gen, nil
}

func withDefaults(o *catalog.Options, readOnly bool) *catalog.Options {
	c := catalog.Options{}
	if o != nil {
		c = *o
	}
	c.ReadOnly = readOnly
	return &c
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
