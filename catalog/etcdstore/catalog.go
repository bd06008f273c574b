package etcdstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func init() { catalog.Register(Scheme, openDB) }

// DB is an etcd catalog opened through catalog.Open. A writable DB holds
// the writer lock from Open to Close, as a writable bbolt file does, and
// keeps a scratch copy of the generation it last published or read, so a
// second transaction in the same DB does not download again.
type DB struct {
	s        *Store
	location string
	opts     catalog.Options
	lock     *Lock // writable only

	mu      sync.Mutex
	scratch *scratchCopy // writable only: the current generation, if known
}

// scratchCopy is a private bbolt copy of one generation.
type scratchCopy struct {
	snap *Snapshot
	db   catalog.DB
	path string
	done func()
}

func (c *scratchCopy) close() {
	if c != nil {
		c.db.Close()
		c.done()
	}
}

func openDB(ctx context.Context, location string, opts *catalog.Options) (catalog.DB, error) {
	cfg, err := ParseURL(location)
	if err != nil {
		return nil, err
	}
	if err := applyConnection(cfg); err != nil {
		return nil, err
	}
	s, err := Open(cfg, &Options{Timeout: opts.Timeout, Command: opts.Command, Now: opts.Now})
	if err != nil {
		return nil, err
	}
	db := &DB{s: s, location: location, opts: *opts}
	if opts.ReadOnly {
		sn, err := s.Current(ctx)
		if err == nil && sn.Manifest == nil {
			err = fmt.Errorf("open catalog %q: %w (create it with 'metactl import')", location, catalog.ErrNoCatalog)
		}
		if err != nil {
			s.Close()
			return nil, err
		}
		return db, nil
	}
	if db.lock, err = s.Lock(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := db.create(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// create publishes an empty generation 0 if the catalog does not exist, as
// a writable open of a catalog file creates the file; it honours
// Options.Mode.
func (db *DB) create(ctx context.Context) error {
	base, err := db.s.Current(ctx)
	switch {
	case err != nil:
		return err
	case base.Manifest != nil && db.opts.Mode == catalog.MustBeNew:
		return fmt.Errorf("open catalog %q: %w", db.location, catalog.ErrExist)
	case base.Manifest != nil:
		return nil
	case db.opts.Mode == catalog.MustExist:
		return fmt.Errorf("open catalog %q: %w (create it with 'metactl import')", db.location, catalog.ErrNoCatalog)
	}
	if _, err := db.s.collect(ctx, db.lock, base); err != nil {
		return err
	}
	c, err := db.s.materialize(ctx, base, false)
	if err != nil {
		return err
	}
	if c.snap, err = db.s.publishFile(ctx, db.lock, base, c.db, c.path, nil, false); err != nil {
		c.close()
		return err
	}
	db.scratch = c
	return nil
}

// Location returns the catalog URL as given to Open.
func (db *DB) Location() string { return db.location }

// Close releases the writer lock, the scratch copy and the connection.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.scratch.close()
	db.scratch = nil
	if db.lock != nil {
		db.lock.Unlock()
		db.lock = nil
	}
	if db.s != nil {
		err := db.s.Close()
		db.s = nil
		return err
	}
	return nil
}

// newScratch makes a private folder for a scratch catalog.
func (s *Store) newScratch() (string, func(), error) {
	dir, err := os.MkdirTemp(s.opts.TempDir, "metactl-etcd-")
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, "catalog.db"), func() { os.RemoveAll(dir) }, nil
}

func (s *Store) scratchOptions(readOnly bool) *catalog.Options {
	return &catalog.Options{ReadOnly: readOnly, NoSync: true, Command: s.opts.Command, Now: s.opts.Now, Timeout: -1}
}

// materialize downloads snapshot sn into a scratch catalog.
func (s *Store) materialize(ctx context.Context, sn *Snapshot, readOnly bool) (*scratchCopy, error) {
	path, done, err := s.newScratch()
	if err != nil {
		return nil, err
	}
	if sn.Manifest != nil {
		if err := s.Download(ctx, sn, path); err != nil {
			done()
			return nil, err
		}
	}
	cdb, err := catalog.Open(ctx, path, s.scratchOptions(readOnly))
	if err != nil {
		done()
		return nil, err
	}
	return &scratchCopy{snap: sn, db: cdb, path: path, done: done}, nil
}

// Update runs fn as one write, with the semantics of the file catalog's
// Update (it runs exactly that, on a scratch copy of the current
// generation), and publishes the result as the next generation with one
// compare-and-swap. If the catalog does not exist yet it is created
// (generation 0, or 1 if fn changed something), as opening a file for
// writing creates it.
func (db *DB) Update(ctx context.Context, kind catalog.Kind, fn func(catalog.WriteTx) error) (*catalog.Operation, error) {
	return db.write(ctx, func(scratch catalog.DB) (*catalog.Operation, error) { return scratch.Update(ctx, kind, fn) })
}

// Undo reverses the operation of generation gen with the file catalog's
// own rules, on a scratch copy, and publishes the result like Update.
func (db *DB) Undo(ctx context.Context, gen uint64, dry bool) (*catalog.Operation, error) {
	return db.write(ctx, func(scratch catalog.DB) (*catalog.Operation, error) { return scratch.Undo(ctx, gen, dry) })
}

// write runs do on a scratch copy of the current generation and publishes
// what it changed.
func (db *DB) write(ctx context.Context, do func(catalog.DB) (*catalog.Operation, error)) (*catalog.Operation, error) {
	var op *catalog.Operation
	err := db.writeScratch(ctx, false, func(scratch catalog.DB) (bool, *catalog.Operation, error) {
		var err error
		op, err = do(scratch)
		return err == nil, op, err
	})
	return op, err
}

// RestoreHistory gives the catalog the history an archive carries (the
// journal and the generation), with the file catalog's own checks, and
// publishes it; the journal goes to a new lineage of keys.
func (db *DB) RestoreHistory(gen uint64, ops []catalog.Operation) error {
	ctx := context.Background()
	return db.writeScratch(ctx, true, func(scratch catalog.DB) (bool, *catalog.Operation, error) {
		return true, nil, scratch.RestoreHistory(gen, ops)
	})
}

// writeScratch runs do on a scratch copy of the current generation and
// publishes the copy if it moved to another generation (newHistory: always,
// with the whole journal under a new lineage).
func (db *DB) writeScratch(ctx context.Context, newHistory bool, do func(catalog.DB) (bool, *catalog.Operation, error)) error {
	if db.opts.ReadOnly {
		return catalog.ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	s := db.s
	base, err := s.Current(ctx)
	if err != nil {
		return err
	}
	if _, err := s.collect(ctx, db.lock, base); err != nil {
		return err
	}
	if c := db.scratch; c == nil || c.snap.CurrentModRev != base.CurrentModRev {
		db.scratch.close()
		db.scratch = nil
		if db.scratch, err = s.materialize(ctx, base, false); err != nil {
			return err
		}
	}
	c := db.scratch
	ok, op, err := do(c.db)
	if err != nil || !ok {
		// The scratch copy rolled back (bbolt): it is still generation G.
		return err
	}
	if !newHistory {
		if gen, err := generationOf(ctx, c.db); err != nil || (gen == base.Generation() && base.Manifest != nil) {
			return err // nothing committed (no change, or a dry run)
		}
	}
	sn, err := s.publishFile(ctx, db.lock, base, c.db, c.path, op, newHistory)
	if err != nil {
		// The scratch copy may be ahead of etcd now: drop it.
		db.scratch.close()
		db.scratch = nil
		return err
	}
	c.snap = sn
	return nil
}

func generationOf(ctx context.Context, cdb catalog.DB) (gen uint64, err error) {
	err = cdb.View(ctx, func(tx catalog.Tx) error { gen = tx.Generation(); return nil })
	return gen, err
}

// publishFile uploads the scratch catalog as the next slot and publishes
// it; it returns the new current snapshot. op is the write's journal
// record (nil: none). With newHistory, the file's whole journal is written
// to a new lineage (a copy or a restored history); otherwise the
// generation must be the base's plus one.
func (s *Store) publishFile(ctx context.Context, l *Lock, base *Snapshot, cdb catalog.DB, path string, op *catalog.Operation, newHistory bool) (*Snapshot, error) {
	sum, gen, err := summarize(ctx, cdb)
	if err != nil {
		return nil, err
	}
	var slot, lineage uint64
	if base.Manifest != nil {
		slot, lineage = base.Manifest.Slot+1, base.Manifest.Lineage
		if !newHistory && gen != base.Generation()+1 {
			return nil, fmt.Errorf("publish %s: built generation %d on generation %d: %w", s.URL(), gen, base.Generation(), catalog.ErrCorrupt)
		}
	}
	var extra []clientv3.Op
	if newHistory || base.Manifest == nil {
		lineage = slot
		if err := s.writeJournal(ctx, l, cdb, lineage); err != nil {
			return nil, err
		}
	} else if op != nil && op.Changed() {
		rec, err := json.Marshal(op)
		if err != nil {
			return nil, err
		}
		extra = append(extra, clientv3.OpPut(s.keyJournal(lineage, op.Generation), string(rec)))
	}
	m, err := s.upload(ctx, gen, slot, path)
	if err != nil {
		return nil, err
	}
	m.Lineage = lineage
	m.Summary = sum
	m.Published = s.opts.Now().UTC()
	host, _ := os.Hostname()
	m.Publisher = &catalog.Holder{PID: os.Getpid(), Command: s.opts.Command, Host: host}
	rev, err := s.publish(ctx, l, base, m, extra...)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Revision: rev, CurrentModRev: rev, Manifest: m}, nil
}

// writeJournal writes every journal record of cdb under lineage, a few
// dozen per request, before the publish that makes them visible.
func (s *Store) writeJournal(ctx context.Context, l *Lock, cdb catalog.DB, lineage uint64) error {
	var recs []clientv3.Op
	size := 0
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		rctx, cancel := s.request(ctx)
		defer cancel()
		_, err := s.cli.Txn(rctx).If(clientv3.Compare(clientv3.CreateRevision(s.keyLock()), "=", l.rev)).Then(recs...).Commit()
		recs, size = nil, 0
		return s.etcdErr(ctx, "write the journal of "+s.URL(), err)
	}
	return cdb.View(ctx, func(tx catalog.Tx) error {
		var ferr error
		err := tx.Operations(func(op *catalog.Operation) bool {
			b, err := json.Marshal(op)
			if err != nil {
				ferr = err
				return false
			}
			if len(recs) >= 64 || size+len(b) > 1<<20 {
				if ferr = flush(); ferr != nil {
					return false
				}
			}
			recs = append(recs, clientv3.OpPut(s.keyJournal(lineage, op.Generation), string(b)))
			size += len(b)
			return true
		})
		if err == nil {
			err = ferr
		}
		if err == nil {
			err = flush()
		}
		return err
	})
}

// summarize computes the small answers about a catalog.
func summarize(ctx context.Context, cdb catalog.DB) (Summary, uint64, error) {
	var sum Summary
	var gen uint64
	err := cdb.View(ctx, func(tx catalog.Tx) error {
		var err error
		gen = tx.Generation()
		if sum.State, err = tx.StorageState(); err != nil {
			return err
		}
		sum.ViewDigest, sum.Entries = tx.ViewDigest(), tx.EntryCount()
		if id, ok := tx.Identity(); ok {
			sum.Identity = id.String()
		}
		if sum.LiveFiles, sum.MovedFiles, err = tx.CountFiles(); err != nil {
			return err
		}
		return nil
	})
	return sum, gen, err
}

// View runs fn on the current generation, read at one etcd revision. The
// small answers (Generation, ViewDigest, Identity, CountFiles,
// EntryCount, StorageState) come from the generation's
// manifest and the journal from its own keys; the first call that needs
// the files downloads the generation, at the same revision.
func (db *DB) View(ctx context.Context, fn func(catalog.Tx) error) error {
	db.mu.Lock()
	if c := db.scratch; c != nil {
		// A writer holding the lock knows the current generation.
		defer db.mu.Unlock()
		return c.db.View(ctx, fn)
	}
	db.mu.Unlock()
	sn, err := db.s.Current(ctx)
	if err != nil {
		return err
	}
	if sn.Manifest == nil {
		if !db.opts.ReadOnly {
			// A writable open of a new catalog: it is empty.
			c, err := db.s.materialize(ctx, sn, true)
			if err != nil {
				return err
			}
			defer c.close()
			return c.db.View(ctx, fn)
		}
		return fmt.Errorf("read catalog %q: %w", db.location, catalog.ErrNoCatalog)
	}
	tx := &lazyTx{ctx: ctx, db: db, snap: sn, now: db.opts.Now().UTC()}
	defer tx.close()
	return fn(tx)
}

// Check downloads the current generation, which checks it against its
// manifest's size and SHA-256, runs bbolt's consistency check on it, and
// compares the manifest's small answers with the file's own.
func (db *DB) Check(ctx context.Context) error {
	sn, err := db.s.Current(ctx)
	if err != nil {
		return err
	}
	if sn.Manifest == nil {
		return fmt.Errorf("check catalog %q: %w", db.location, catalog.ErrNoCatalog)
	}
	c, err := db.s.materialize(ctx, sn, true)
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.db.Check(ctx); err != nil {
		return err
	}
	sum, gen, err := summarize(ctx, c.db)
	if err != nil {
		return err
	}
	a, _ := json.Marshal(sum)
	b, _ := json.Marshal(sn.Manifest.Summary)
	if gen != sn.Generation() || string(a) != string(b) {
		return fmt.Errorf("check catalog %q: generation %d: the manifest's summary disagrees with the catalog it describes: %w",
			db.location, sn.Generation(), catalog.ErrCorrupt)
	}
	return nil
}

// lazyTx is a read transaction on one snapshot: small answers from the
// manifest, everything else from a scratch copy downloaded on first use.
type lazyTx struct {
	ctx  context.Context
	db   *DB
	snap *Snapshot
	now  time.Time
	copy *scratchCopy
	err  error
}

func (tx *lazyTx) close() { tx.copy.close() }

func (tx *lazyTx) full() (catalog.DB, error) {
	if tx.copy == nil && tx.err == nil {
		tx.copy, tx.err = tx.db.s.materialize(tx.ctx, tx.snap, true)
		if errors.Is(tx.err, errCompacted) {
			tx.err = fmt.Errorf("read catalog %q: etcd compacted revision %d away while it was read (its history retention is shorter than this read; retry): %w",
				tx.db.location, tx.snap.Revision, tx.err)
		}
	}
	if tx.err != nil {
		return nil, tx.err
	}
	return tx.copy.db, nil
}

// onFull runs fn in a read transaction of the downloaded copy.
func (tx *lazyTx) onFull(fn func(catalog.Tx) error) error {
	cdb, err := tx.full()
	if err != nil {
		return err
	}
	return cdb.View(tx.ctx, fn)
}

func (tx *lazyTx) sum() *Summary            { return &tx.snap.Manifest.Summary }
func (tx *lazyTx) Now() time.Time           { return tx.now }
func (tx *lazyTx) Generation() uint64       { return tx.snap.Generation() }
func (tx *lazyTx) ViewDigest() aptos.Digest { return tx.sum().ViewDigest }
func (tx *lazyTx) EntryCount() int          { return tx.sum().Entries }
func (tx *lazyTx) Identity() (aptos.HashValue, bool) {
	var id aptos.HashValue
	if tx.sum().Identity == "" {
		return id, false
	}
	b, err := hex.DecodeString(tx.sum().Identity)
	if err != nil || len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, true
}
func (tx *lazyTx) CountFiles() (int, int, error) {
	return tx.sum().LiveFiles, tx.sum().MovedFiles, nil
}
func (tx *lazyTx) StorageState() (aptos.StorageState, error) { return tx.sum().State, nil }
func (tx *lazyTx) LatestTimestamps() (ts *aptos.CompactionTimestamps, h string, err error) {
	// Not in the manifest: the line names every compacted file, easily
	// megabytes, more than one etcd request may carry.
	err = tx.onFull(func(t catalog.Tx) error { ts, h, err = t.LatestTimestamps(); return err })
	return ts, h, err
}
func (tx *lazyTx) Operations(fn func(*catalog.Operation) bool) error {
	return tx.db.s.Journal(tx.ctx, tx.snap, fn)
}

func (tx *lazyTx) File(handle string) (f *catalog.File, err error) {
	err = tx.onFull(func(t catalog.Tx) error { f, err = t.File(handle); return err })
	return f, err
}
func (tx *lazyTx) ForEachFile(withContent bool, fn func(*catalog.File) error) error {
	return tx.onFull(func(t catalog.Tx) error { return t.ForEachFile(withContent, fn) })
}
func (tx *lazyTx) Files(state catalog.State) (fs []*catalog.File, err error) {
	err = tx.onFull(func(t catalog.Tx) error { fs, err = t.Files(state); return err })
	return fs, err
}
func (tx *lazyTx) View() (v *aptos.View, err error) {
	err = tx.onFull(func(t catalog.Tx) error { v, err = t.View(); return err })
	return v, err
}
func (tx *lazyTx) DeletedFiles(fn func(*catalog.DeletedFile) error) error {
	return tx.onFull(func(t catalog.Tx) error { return t.DeletedFiles(fn) })
}
func (tx *lazyTx) Deleted(handle string) (d *catalog.DeletedFile, err error) {
	err = tx.onFull(func(t catalog.Tx) error { d, err = t.Deleted(handle); return err })
	return d, err
}
func (tx *lazyTx) DeletedContent(handle string) (b []byte, err error) {
	err = tx.onFull(func(t catalog.Tx) error { b, err = t.DeletedContent(handle); return err })
	return b, err
}
func (tx *lazyTx) StoredEntriesMatch() error {
	return tx.onFull(func(t catalog.Tx) error { return t.StoredEntriesMatch() })
}
