package etcdstore

import (
	"context"
	"fmt"
	"os"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
)

// CopyIn publishes the bbolt catalog file at path as the etcd catalog at
// location, which must not exist yet: the file becomes its generation G
// as it is (files, index, journal), and every journal record also gets
// its own key. Nothing is visible until the final compare-and-swap. It
// returns the generation published.
func CopyIn(ctx context.Context, location, path string, opts *catalog.Options) (uint64, error) {
	db, err := catalog.Open(ctx, location, withDefaults(opts, false))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	e := db.(*DB)
	s := e.s
	base, err := s.Current(ctx)
	if err != nil {
		return 0, err
	}
	// Open created an empty generation 0; anything beyond it is a
	// catalog we must not overwrite.
	if base.Manifest != nil && (base.Generation() != 0 || base.Manifest.Summary.LiveFiles+base.Manifest.Summary.MovedFiles != 0) {
		return 0, fmt.Errorf("copy to %s: the catalog already exists (generation %d); copy into a new prefix", location, base.Generation())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.scratch.close()
	e.scratch = nil
	// Work on a private copy: the source stays untouched.
	tmp, done, err := s.newScratch()
	if err != nil {
		return 0, err
	}
	defer done()
	if err := boltstore.CopyFile(path, tmp); err != nil {
		return 0, err
	}
	src, err := catalog.Open(ctx, tmp, s.scratchOptions(true))
	if err != nil {
		return 0, err
	}
	defer src.Close()
	sn, err := s.publishFile(ctx, e.lock, base, src, tmp, nil, true)
	if err != nil {
		return 0, err
	}
	return sn.Generation(), nil
}

// CopyOut writes the current generation of the etcd catalog at location
// to a new bbolt file at path (which must not exist), read at one
// revision and checked against its manifest. It returns the generation.
func CopyOut(ctx context.Context, location, path string, opts *catalog.Options) (uint64, error) {
	db, err := catalog.Open(ctx, location, withDefaults(opts, true))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	s := db.(*DB).s
	sn, err := s.Current(ctx)
	if err != nil {
		return 0, err
	}
	if sn.Manifest == nil {
		return 0, fmt.Errorf("copy from %s: %w", location, catalog.ErrNoCatalog)
	}
	tmp := fmt.Sprintf("%s.copying-%d", path, os.Getpid())
	defer os.Remove(tmp)
	if err := s.Download(ctx, sn, tmp); err != nil {
		return 0, err
	}
	if err := syncFile(tmp); err != nil {
		return 0, err
	}
	// Link, not rename: never replace a file that appeared meanwhile.
	if err := os.Link(tmp, path); err != nil {
		return 0, fmt.Errorf("copy to %s: %w", path, err)
	}
	return sn.Generation(), nil
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
