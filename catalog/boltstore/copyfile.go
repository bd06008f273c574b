package boltstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/metactl/metactl/catalog"
)

// CopyFile copies the catalog file at from to the new path to (refused if
// it exists) and syncs it. The caller keeps from unchanged meanwhile: a
// read-only open of it holds the shared lock, or it is a private scratch
// file.
func CopyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Snapshot is [catalog.Snapshotter]: the catalog file's bytes, copied
// while this DB's open holds the file's lock (a read-only open its shared
// lock), so no other process writes them meanwhile. Do not write through
// db while it runs.
func (db *boltDB) Snapshot(ctx context.Context, path string) (uint64, error) {
	var gen uint64
	if err := db.View(ctx, func(tx catalog.Tx) error { gen = tx.Generation(); return nil }); err != nil {
		return 0, err
	}
	return gen, CopyFile(db.path, path)
}

// load is the backend's [catalog.LoadFunc]: the file at path, copied
// beside the new catalog file and linked into place (a link, not a
// rename: it never replaces a file that appeared meanwhile), then opened
// read-only to check it.
func load(ctx context.Context, location, path string, opts *catalog.Options) (uint64, error) {
	to := strings.TrimPrefix(location, catalog.FileScheme+"://")
	part := fmt.Sprintf("%s.copying-%d", to, os.Getpid())
	if err := CopyFile(path, part); err != nil {
		return 0, err
	}
	defer os.Remove(part)
	if err := os.Link(part, to); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("%s appeared meanwhile; nothing copied", to)
		}
		return 0, err
	}
	o := *opts
	o.ReadOnly, o.Mode = true, catalog.OpenOrCreate
	db, err := openBolt(ctx, to, &o)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var gen uint64
	err = db.View(ctx, func(tx catalog.Tx) error { gen = tx.Generation(); return nil })
	return gen, err
}
