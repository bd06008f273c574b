package boltstore

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/failpoint"
	"github.com/metactl/metactl/internal/fsutil"
)

var _ catalog.BulkUpdater = (*boltDB)(nil)

// UpdateBulk implements BulkUpdater.
func (db *boltDB) UpdateBulk(ctx context.Context, kind catalog.Kind, fn func(catalog.BulkWriteTx) error) (*catalog.Operation, error) {
	// We hold the writer's locks and have no transaction open: the file
	// is quiescent while we copy it.
	target, scratch, op, err := db.writeScratch(ctx, kind, fn, true, func(sdb *boltDB) error {
		return guard(sdb.bdb.Sync) // the scratch file ran without fsync
	})
	if err != nil || scratch == "" {
		return op, err
	}
	failpoint.Hit(string(kind) + ".before-publish")
	if err := os.Rename(scratch, target); err != nil {
		_ = os.Remove(scratch)
		return nil, fmt.Errorf("%s: replace the catalog with its scratch copy: %w", kind, err)
	}
	// Published: from here on the operation stands, whatever fails.
	serr := fsutil.SyncDir(filepath.Dir(target))
	failpoint.Hit(string(kind) + ".after-commit")
	// Our bbolt handle maps the old file: open the new one, still under
	// the lock file (no other process can open the catalog meanwhile).
	rerr := db.reopen()
	if err := errorsJoin(serr, rerr); err != nil {
		return op, fmt.Errorf("%s: committed generation %d, then: %w", kind, op.Generation, err)
	}
	return op, nil
}

// writeScratch runs fn as a bulk write on a scratch copy of the catalog
// (scratchCopy), in the background flushing it to disk as it goes if
// durable; then, if the write changed something, finish while the copy is
// still open; then closes it. It returns the file to replace and the
// scratch file that replaces it, or scratch "" (and nothing left) when
// the write failed or changed nothing.
func (db *boltDB) writeScratch(ctx context.Context, kind catalog.Kind, fn func(catalog.BulkWriteTx) error, durable bool, finish func(sdb *boltDB) error) (target, scratch string, op *catalog.Operation, err error) {
	if db.opts.ReadOnly {
		return "", "", nil, catalog.ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return "", "", nil, err
	}
	target, scratch, sdb, err := db.scratchCopy(kind)
	if err != nil {
		return "", "", nil, err
	}
	bulk := newBulkState(&db.opts, filepath.Dir(target))
	stopSync := func() {}
	if durable {
		stopSync = syncBehind(scratch)
	}
	op, err = sdb.updateBulk(ctx, kind, false, bulk, func(tx *boltTx) error { return fn(tx) })
	stopSync()
	bulk.close()
	if err == nil && op.Changed() {
		err = finish(sdb)
	}
	if cerr := sdb.Close(); err == nil {
		err = cerr
	}
	if err != nil || !op.Changed() {
		_ = os.Remove(scratch)
		return target, "", op, err
	}
	return target, scratch, op, nil
}

// scratchCopy copies the catalog to a scratch file beside the file to
// replace, and opens the copy. The file to replace is a symbolic link's
// target (replacing the link would leave the target stale), so the
// scratch file is on its file system. On error nothing is left.
func (db *boltDB) scratchCopy(kind catalog.Kind) (target, scratch string, sdb *boltDB, err error) {
	target = db.path
	if fi, err := os.Lstat(db.path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if target, err = filepath.EvalSymlinks(db.path); err != nil {
			return "", "", nil, fmt.Errorf("%s: %w", kind, err)
		}
	}
	scratch = scratchPath(target)
	if err := copyScratch(target, scratch); err != nil {
		_ = os.Remove(scratch)
		return "", "", nil, fmt.Errorf("%s: copy the catalog to a scratch file: %w", kind, err)
	}
	if sdb, err = openScratch(scratch, &db.opts); err != nil {
		_ = os.Remove(scratch)
		return "", "", nil, err
	}
	return target, scratch, sdb, nil
}

// copyScratch copies the catalog file to scratch (in the kernel where it
// can: nothing passes through this process's memory), with the catalog's
// permissions and, where this process may set them, its owner and group:
// the scratch file replaces the catalog.
func copyScratch(from, scratch string) error {
	_ = os.Remove(scratch)
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(scratch, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		_ = out.Chown(int(sys.Uid), int(sys.Gid)) // not ours to set: keep ours
	}
	if err := out.Chmod(st.Mode().Perm()); err != nil {
		out.Close()
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// openScratch opens a scratch copy of a catalog for a bulk write
// (scratchOptions).
func openScratch(scratch string, o *catalog.Options) (*boltDB, error) {
	var bdb *bolt.DB
	err := guard(func() error {
		var err error
		bdb, err = bolt.Open(scratch, 0o600, scratchOptions())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open scratch catalog %q: %w", scratch, err)
	}
	bdb.AllocSize = allocSize
	return &boltDB{path: scratch, opts: *o, bdb: bdb}, nil
}

// reopen replaces db's bbolt handle with a new one on the file now at
// db.path (after UpdateBulk renamed its scratch file there).
func (db *boltDB) reopen() error {
	if db.bdb != nil {
		_ = guard(db.bdb.Close)
		db.bdb = nil
	}
	bopts := &bolt.Options{Timeout: max(db.opts.Timeout, time.Second), NoSync: db.opts.NoSync, InitialMmapSize: writerMmapSize}
	return guard(func() error {
		bdb, err := bolt.Open(db.path, 0o600, bopts)
		if err != nil {
			return fmt.Errorf("reopen catalog %q: %w", db.path, err)
		}
		bdb.AllocSize = allocSize
		db.bdb = bdb
		return nil
	})
}

func errorsJoin(a, b error) error {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return fmt.Errorf("%w; %w", a, b)
}
