package etcdstore

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
	"github.com/metactl/metactl/internal/failpoint"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func init() {
	catalog.Register(Scheme, openDB)
	catalog.RegisterCreate(Scheme, createDB)
}

// DB is an etcd catalog opened through [catalog.Open]. A writable DB holds
// the writer lock from Open to Close, as a writable bbolt file does, and
// keeps a local copy of the catalog (a bbolt file in a temporary folder)
// on which it runs each write with the file backend's own code; only the
// keys a write changed go to etcd.
type DB struct {
	s        *Store
	location string
	opts     catalog.Options
	lock     *Lock // writable only

	mu     sync.Mutex
	mirror *localCopy // writable only: the current generation, once loaded
}

// localCopy is a private bbolt copy of the catalog at one current key.
type localCopy struct {
	db     boltstore.RawDB
	modRev int64  // mod revision of the current key it matches
	path   string // the bbolt file
	done   func()
	closed bool // db closed (by saveCached)
}

func (c *localCopy) close() {
	if c != nil {
		if !c.closed {
			c.db.Close()
		}
		c.done()
	}
}

func openDB(ctx context.Context, location string, opts *catalog.Options) (catalog.DB, error) {
	cfg, err := ParseURL(location)
	if err != nil {
		return nil, err
	}
	for _, b := range opts.Backend {
		switch c := b.(type) {
		case Connection:
			err = c.Apply(cfg)
		case *Connection:
			err = c.Apply(cfg)
		}
		if err != nil {
			return nil, err
		}
	}
	s, err := Open(cfg, &Options{Timeout: opts.Timeout, Command: opts.Command, Now: opts.Now, CheckpointBytes: opts.CheckpointBytes})
	if err != nil {
		return nil, err
	}
	db := &DB{s: s, location: location, opts: *opts}
	if opts.ReadOnly {
		sn, err := s.Current(ctx)
		if err == nil && !sn.Exists() {
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
	case base.Exists() && db.opts.Mode == catalog.MustBeNew:
		return fmt.Errorf("open catalog %q: %w", db.location, catalog.ErrExist)
	case base.Exists():
		return nil
	case db.opts.Mode == catalog.MustExist:
		return fmt.Errorf("open catalog %q: %w (create it with 'metactl import')", db.location, catalog.ErrNoCatalog)
	}
	c, err := db.s.newLocal(ctx, "")
	if err != nil {
		return err
	}
	if err := db.s.publishAll(ctx, db.lock, base, c); err != nil {
		c.close()
		return err
	}
	db.mirror = c
	return nil
}

// Location returns the catalog URL as given to Open.
func (db *DB) Location() string { return db.location }

// Close releases the writer lock, the local copy and the connection.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.lock != nil && db.mirror != nil && db.s != nil {
		// Kept for this host's next writer (cache.go), still under the lock.
		db.s.saveCached(context.Background(), db.mirror)
	} else {
		db.mirror.close()
	}
	db.mirror = nil
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

// newLocal makes a private local catalog file: a copy of the file at src,
// or a new empty catalog.
func (s *Store) newLocal(ctx context.Context, src string) (*localCopy, error) {
	dir, err := os.MkdirTemp(s.opts.TempDir, "metactl-etcd-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, cacheFile)
	if src != "" {
		if err := boltstore.CopyFile(src, path); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	return s.openLocal(ctx, dir, path)
}

// loads counts loadLocal's calls, for tests.
var loads atomic.Int64

// loadLocal copies the snapshot's catalog into a new local file.
func (s *Store) loadLocal(ctx context.Context, sn *Snapshot) (*localCopy, error) {
	loads.Add(1)
	if sn.Legacy != nil {
		return s.legacyLocal(ctx, sn)
	}
	c, err := s.newLocal(ctx, "")
	if err != nil {
		return nil, err
	}
	if err := s.load(ctx, sn, c.db); err != nil {
		c.close()
		return nil, err
	}
	c.modRev = sn.CurrentModRev
	return c, nil
}

// Update runs fn as one write with the semantics of the file catalog's
// Update (it runs exactly that, on the local copy), and publishes the keys
// it changed (see the package doc).
func (db *DB) Update(ctx context.Context, kind catalog.Kind, fn func(catalog.WriteTx) error) (*catalog.Operation, error) {
	var op *catalog.Operation
	err := db.write(ctx, func(c catalog.DB) (err error) { op, err = c.Update(ctx, kind, fn); return err })
	return op, err
}

// Undo reverses the operation of generation gen with the file catalog's
// own rules, on the local copy, and publishes it like Update.
func (db *DB) Undo(ctx context.Context, gen uint64, dry bool) (*catalog.Operation, error) {
	var op *catalog.Operation
	err := db.write(ctx, func(c catalog.DB) (err error) { op, err = c.Undo(ctx, gen, dry); return err })
	return op, err
}

// RestoreHistory gives the catalog the history an archive carries (the
// journal and the generation), with the file catalog's own checks.
func (db *DB) RestoreHistory(gen uint64, ops []catalog.Operation) error {
	return db.write(context.Background(), func(c catalog.DB) error { return c.RestoreHistory(gen, ops) })
}

// write runs do on the local copy of the current generation and publishes
// the keys it changed.
func (db *DB) write(ctx context.Context, do func(catalog.DB) error) error {
	if db.opts.ReadOnly {
		return catalog.ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	s := db.s
	defer s.releaseAfter(ctx, s.written.Load())
	base, c, err := db.begin(ctx)
	if err != nil {
		return err
	}
	enc := encoder{valueSize: s.cfg.ValueSize}
	err = c.db.Diff(ctx, func() error { return do(c.db) }, func(kv boltstore.RawKV) error { return enc.change(kv, kv.Old) })
	if err != nil {
		if gen, gerr := generationOf(ctx, c.db); gerr != nil || gen != base.Generation() {
			db.mirror.close() // ahead of etcd now
			db.mirror = nil
		}
		return err
	}
	if len(enc.ops) == 0 {
		return nil // nothing changed, or a dry run
	}
	ops, listing, err := s.changeOps(ctx, base, c.db, &enc, false)
	var rev int64
	if err == nil {
		rev, err = s.publish(ctx, db.lock, base, c.db, ops, listing)
	}
	if err != nil {
		db.mirror.close()
		db.mirror = nil
		return err
	}
	c.modRev = rev
	s.compactHistory(ctx, db.lock)
	return nil
}

// begin readies a write: it collects what a dead writer left, converts
// a catalog of the old layout, and returns the current generation and
// the local copy of it (db.mirror). The caller holds db.mu.
func (db *DB) begin(ctx context.Context) (*Snapshot, *localCopy, error) {
	s := db.s
	base, err := s.prepare(ctx, db.lock)
	if err != nil {
		return nil, nil, err
	}
	if base.Legacy != nil {
		if base, err = db.convert(ctx, base); err != nil {
			return nil, nil, err
		}
	}
	if c := db.mirror; c == nil || c.modRev != base.CurrentModRev {
		db.mirror.close()
		db.mirror = s.takeCached(ctx, base)
		if db.mirror == nil {
			if db.mirror, err = s.loadLocal(ctx, base); err != nil {
				return nil, nil, err
			}
		}
	}
	return base, db.mirror, nil
}

func generationOf(ctx context.Context, cdb catalog.DB) (gen uint64, err error) {
	err = cdb.View(ctx, func(tx catalog.Tx) error { gen = tx.Generation(); return nil })
	return gen, err
}

// prepare reads the current key and, under the writer lock, finishes or
// collects what a writer that died left: a staged write it published but
// did not fold in is folded; keys it staged but never published are
// deleted.
func (s *Store) prepare(ctx context.Context, l *Lock) (*Snapshot, error) {
	base, err := s.Current(ctx)
	if err != nil {
		return nil, err
	}
	if base.Current != nil && base.Current.Stage != 0 {
		if err := s.fold(ctx, l, base); err != nil {
			return nil, err
		}
		if base, err = s.Current(ctx); err != nil {
			return nil, err
		}
	}
	rctx, cancel := s.request(ctx)
	resp, err := s.cli.Get(rctx, s.key(relStage), clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(1))
	cancel()
	if err != nil {
		return nil, s.etcdErr(ctx, "collect "+s.URL(), err)
	}
	if len(resp.Kvs) > 0 {
		if err := s.txn(ctx, l, "collect "+s.URL(), nil, []op{{rel: relStage, end: prefixEnd(relStage)}}); err != nil {
			return nil, err
		}
	}
	if err := s.collectDirect(ctx, l, base); err != nil {
		return nil, err
	}
	return base, nil
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

// etcdOps turns ops into etcd operations under the key prefix plus rel.
func (s *Store) etcdOps(under string, ops []op) []clientv3.Op {
	out := make([]clientv3.Op, 0, len(ops))
	for _, o := range ops {
		k := s.key(under + o.rel)
		switch {
		case o.val != nil:
			out = append(out, clientv3.OpPut(k, string(o.val)))
		case o.end != "":
			out = append(out, clientv3.OpDelete(k, clientv3.WithRange(s.key(under+o.end))))
		default:
			out = append(out, clientv3.OpDelete(k))
		}
	}
	return out
}

// txn runs ops in one transaction if this writer still holds the lock
// (and the extra comparisons hold); it retries once or twice while the
// cluster elects a leader.
func (s *Store) txn(ctx context.Context, l *Lock, what string, cmps []clientv3.Cmp, ops []op) error {
	_, err := s.txnRev(ctx, l, what, cmps, s.etcdOps("", ops))
	return err
}

func (s *Store) txnRev(ctx context.Context, l *Lock, what string, cmps []clientv3.Cmp, ops []clientv3.Op) (int64, error) {
	cmps = append(cmps, l.owner())
	var resp *clientv3.TxnResponse
	send := func(rctx context.Context) (err error) {
		resp, err = s.cli.Txn(rctx).If(cmps...).Then(ops...).Commit()
		return err
	}
	var err error
	if len(cmps) > 1 {
		// A compare-and-swap is not retried blindly: it may have
		// succeeded; the caller reads the current key again.
		rctx, cancel := s.request(ctx)
		err = send(rctx)
		cancel()
	} else {
		// A batch (a put of staged keys, a fold) is idempotent.
		err = s.retry(ctx, send)
	}
	if err != nil {
		return 0, s.etcdErr(ctx, what, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("%s: %w", what, ErrLostRace)
	}
	s.written.Add(keysWritten(ops, resp))
	return resp.Header.Revision, nil
}

// ErrLostRace is returned by a publish when the current key moved or the
// writer lost its lock (its lease expired) since it read the generation
// it built on. Nothing became visible; retry.
var ErrLostRace = errors.New("the catalog changed or the writer lock was lost during the write")

// batches cuts ops into runs that fit one transaction beside reserve
// operations of reserveBytes.
func (s *Store) batches(ops []op, reserve, reserveBytes int) [][]op {
	var out [][]op
	start, size := 0, reserveBytes
	for i, o := range ops {
		if i > start && (i-start+reserve >= s.cfg.TxnOps || size+o.size() > s.cfg.TxnBytes) {
			out = append(out, ops[start:i])
			start, size = i, reserveBytes
		}
		size += o.size()
	}
	if start < len(ops) || len(out) == 0 {
		out = append(out, ops[start:])
	}
	return out
}

// changeOps returns the ops of a write whose raw changes enc encoded: its
// keys, the index shards and the listing shards it changed (all: every
// shard, built from c), and the listing's shard count for the current key.
func (s *Store) changeOps(ctx context.Context, base *Snapshot, c boltstore.RawDB, enc *encoder, all bool) ([]op, int, error) {
	iops, err := s.indexOps(ctx, base, c, enc.index, all)
	if err != nil {
		return nil, 0, err
	}
	live := enc.live
	b := base
	if all {
		live, b = nil, &Snapshot{Revision: base.Revision}
	}
	lops, listing, err := s.listingOps(ctx, b, c, live)
	if err != nil {
		return nil, 0, err
	}
	return append(append(enc.ops, iops...), lops...), listing, nil
}

// publish makes the local catalog c, whose changes since base are ops,
// the next generation. A write that fits one transaction (at most TxnOps
// operations and TxnBytes bytes, current key and summary included) is that
// transaction: compare the current key's mod revision with base's, then
// put and delete exactly the changed keys. A larger one is staged (see
// stage). It returns the new current key's mod revision.
func (s *Store) publish(ctx context.Context, l *Lock, base *Snapshot, c catalog.DB, ops []op, listing int) (int64, error) {
	cur, meta, err := s.publication(ctx, base, c, listing)
	if err != nil {
		return 0, err
	}
	gen := cur.Generation
	what := fmt.Sprintf("publish %s generation %d", s.URL(), gen)
	if b := s.batches(ops, len(meta)+1, 1024+len(meta[0].val)); len(b) > 1 {
		return s.stage(ctx, l, base, cur, append(ops, meta...))
	}
	curB, _ := json.Marshal(cur)
	all := append(append(ops, meta...), op{rel: relCurrent, val: curB})
	failpoint.Hit("etcd.before-cas")
	rev, err := s.txnRev(ctx, l, what, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.key(relCurrent)), "=", base.CurrentModRev)}, s.etcdOps("", all))
	if err != nil {
		return 0, err
	}
	failpoint.Hit("etcd.after-cas")
	return rev, nil
}

// stage publishes a write too large for one transaction. Its changes go
// under stage/<G>/ first (a put as 'p'+value, a delete as 'd', a range
// delete as 'r'+end), as many transactions as it takes, all invisible to
// readers. One compare-and-swap then sets the current key to generation G
// with Stage G: from that revision on, readers let stage/<G>/ override
// kv/. Then the staged changes are applied to their own keys (folded) and
// a last transaction clears Stage and deletes stage/<G>/. A writer that
// dies before the swap leaves keys the next writer deletes; after it, a
// stage the next writer folds.
func (s *Store) stage(ctx context.Context, l *Lock, base *Snapshot, cur currentRecord, ops []op) (int64, error) {
	sp := stagePrefix(cur.Generation)
	staged := make([]op, 0, len(ops))
	var direct []op
	for _, o := range ops {
		switch {
		case o.direct:
			direct = append(direct, o)
		case o.val != nil:
			staged = append(staged, op{rel: sp + o.rel, val: append([]byte{stagePut}, o.val...)})
		case o.end != "":
			staged = append(staged, op{rel: sp + o.rel, val: append([]byte{stageRange}, o.end...)})
		default:
			staged = append(staged, op{rel: sp + o.rel, val: []byte{stageDel}})
		}
	}
	failpoint.Hit("etcd.before-keys")
	if err := s.putDirect(ctx, l, cur.Generation, direct); err != nil {
		return 0, err
	}
	for _, b := range s.batches(staged, 0, 0) {
		if err := s.txn(ctx, l, fmt.Sprintf("stage %s generation %d", s.URL(), cur.Generation), nil, b); err != nil {
			return 0, err
		}
		failpoint.Hit("etcd.after-chunk")
	}
	return s.swapStaged(ctx, l, base, cur)
}

// fold applies the staged write of sn to its own keys and clears the
// stage. Folding changes nothing a reader sees, so it can be repeated by
// the next writer if this one dies.
func (s *Store) fold(ctx context.Context, l *Lock, sn *Snapshot) error {
	g := sn.Current.Stage
	sp := stagePrefix(g)
	what := fmt.Sprintf("fold %s generation %d", s.URL(), g)
	// The staged keys are applied as they are read, a few transactions'
	// worth at a time: a large write's stage is not held whole.
	q := sendQueue{s: s, send: func(b []op) error {
		if err := s.txn(ctx, l, what, nil, b); err != nil {
			return err
		}
		failpoint.Hit("etcd.after-fold")
		return nil
	}}
	err := s.scan(ctx, s.key(sp), s.key(prefixEnd(sp)), sn.Revision, s.pageCap(relStage), func(k string, v []byte) error {
		rel := k[len(s.key(sp)):]
		if len(v) == 0 {
			return fmt.Errorf("fold %s generation %d: empty staged key %q: %w", s.URL(), g, rel, catalog.ErrCorrupt)
		}
		switch v[0] {
		case stagePut:
			return q.add(op{rel: rel, val: v[1:]})
		case stageDel:
			return q.add(op{rel: rel})
		case stageRange:
			return q.add(op{rel: rel, end: string(v[1:])})
		}
		return fmt.Errorf("fold %s generation %d: staged key %q: unknown tag: %w", s.URL(), g, rel, catalog.ErrCorrupt)
	})
	if err == nil {
		err = q.flush()
	}
	if err != nil {
		return err
	}
	cur := *sn.Current
	cur.Stage = 0
	curB, _ := json.Marshal(cur)
	dp := directPrefix(g)
	return s.txn(ctx, l, what, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.key(relCurrent)), "=", sn.CurrentModRev)},
		[]op{{rel: relCurrent, val: curB}, {rel: sp, end: prefixEnd(sp)}, {rel: dp, end: prefixEnd(dp)}})
}

// putDirect puts a staged write's direct keys in place, after listing them
// (deflated, as the listing's shards) under direct/<G>/ so that the next writer can delete them if this one
// dies before its compare-and-swap (the list goes with the fold).
func (s *Store) putDirect(ctx context.Context, l *Lock, gen uint64, direct []op) error {
	if len(direct) == 0 {
		return nil
	}
	dp := directPrefix(gen)
	var lists []op
	var list []byte
	for i, o := range direct {
		list = append(append(list, o.rel...), '\n')
		if len(list) >= s.cfg.ValueSize/2 || i == len(direct)-1 {
			lists = append(lists, op{rel: fmt.Sprintf("%s%08d", dp, len(lists)), val: deflate(list)})
			list = nil
		}
	}
	what := fmt.Sprintf("stage %s generation %d", s.URL(), gen)
	for _, b := range s.batches(append(lists, direct...), 0, 0) {
		if err := s.txn(ctx, l, what, nil, b); err != nil {
			return err
		}
		failpoint.Hit("etcd.after-chunk")
	}
	return nil
}

// collectDirect deletes the direct keys of staged writes that were never
// published (their generation is past the current one), and their lists.
func (s *Store) collectDirect(ctx context.Context, l *Lock, base *Snapshot) error {
	var del []op
	err := s.scan(ctx, s.key(relDirect), s.key(prefixEnd(relDirect)), 0, s.pageCap(relDirect), func(k string, v []byte) error {
		rel := k[len(s.key("")):]
		var g uint64
		if _, err := fmt.Sscanf(rel, relDirect+"%020d/", &g); err != nil {
			return nil
		}
		if base.Current != nil && g <= base.Generation() {
			return nil // published: the fold deletes the list
		}
		list := strings.Split(strings.TrimSuffix(string(v), "\n"), "\n")
		if len(v) > 0 && v[0] == tagListing {
			// Deflated, as the listing's shards (an older writer's
			// lists are plain).
			var err error
			if list, err = s.decodeShard(rel, v); err != nil {
				return err
			}
		}
		for _, key := range list {
			if key != "" {
				del = append(del, op{rel: key})
			}
		}
		del = append(del, op{rel: rel})
		return nil
	})
	if err != nil {
		return err
	}
	for _, b := range s.batches(del, 0, 0) {
		if err := s.txn(ctx, l, "collect "+s.URL(), nil, b); err != nil {
			return err
		}
	}
	return nil
}

// publishAll publishes every key of the local catalog c as the catalog
// (a new catalog, a copy, a conversion): base holds none under kv/.
func (s *Store) publishAll(ctx context.Context, l *Lock, base *Snapshot, c *localCopy) error {
	enc := encoder{valueSize: s.cfg.ValueSize}
	err := c.db.ForEachRaw(func(kv boltstore.RawKV) error {
		kv.Value = append([]byte(nil), kv.Value...)
		kv.Key = append([]byte(nil), kv.Key...)
		return enc.change(kv, nil)
	})
	if err != nil {
		return err
	}
	ops, listing, err := s.changeOps(ctx, base, c.db, &enc, true)
	if err != nil {
		return err
	}
	rev, err := s.publish(ctx, l, base, c.db, ops, listing)
	if err != nil {
		return err
	}
	c.modRev = rev
	return nil
}

// View runs fn on the current generation, read at one etcd revision. The
// small answers come from the summary key, a file from its two keys, a
// listing from the files' headers and the journal from its keys; the
// first call that needs more copies the whole generation, at the same
// revision, into a local file.
func (db *DB) View(ctx context.Context, fn func(catalog.Tx) error) error {
	db.mu.Lock()
	if c := db.mirror; c != nil {
		// A writer holding the lock has the current generation.
		defer db.mu.Unlock()
		return c.db.View(ctx, fn)
	}
	sn, err := db.s.Current(ctx)
	if err != nil {
		db.mu.Unlock()
		return err
	}
	if db.lock != nil && sn.Current != nil && sn.Current.Stage == 0 {
		// A writer reads from the copy the host's previous writer left
		// in the cache folder, if it is this generation's (cache.go).
		if db.mirror = db.s.takeCached(ctx, sn); db.mirror != nil {
			defer db.mu.Unlock()
			return db.mirror.db.View(ctx, fn)
		}
	}
	db.mu.Unlock()
	if !sn.Exists() {
		return fmt.Errorf("read catalog %q: %w", db.location, catalog.ErrNoCatalog)
	}
	tx := &lazyTx{ctx: ctx, s: db.s, location: db.location, snap: sn, now: db.opts.Now().UTC()}
	defer tx.close()
	return fn(tx)
}

// Check copies the current generation into a local file, runs the file
// backend's check on it, recomputes the view from the files, and compares
// the summary key with the catalog it describes.
func (db *DB) Check(ctx context.Context) error {
	sn, err := db.s.Current(ctx)
	if err != nil {
		return err
	}
	if !sn.Exists() {
		return fmt.Errorf("check catalog %q: %w", db.location, catalog.ErrNoCatalog)
	}
	c, err := db.s.loadLocal(ctx, sn)
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.db.Check(ctx); err != nil {
		return err
	}
	if err := c.db.View(ctx, func(tx catalog.Tx) error { return tx.StoredEntriesMatch() }); err != nil {
		return err
	}
	if sn.Legacy != nil {
		return nil
	}
	sum, gen, err := summarize(ctx, c.db)
	if err != nil {
		return err
	}
	stored, err := readSummary(ctx, db.s, sn)
	if err != nil {
		return err
	}
	a, _ := json.Marshal(sum)
	b, _ := json.Marshal(stored)
	if gen != sn.Generation() || string(a) != string(b) {
		return fmt.Errorf("check catalog %q: generation %d: the summary key disagrees with the catalog it describes: %w",
			db.location, sn.Generation(), catalog.ErrCorrupt)
	}
	return nil
}

func readSummary(ctx context.Context, s *Store, sn *Snapshot) (*Summary, error) {
	v, err := s.get(ctx, sn, relSummary)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("read %s: generation %d has no summary key: %w", s.URL(), sn.Generation(), catalog.ErrCorrupt)
	}
	var sum Summary
	if err := json.Unmarshal(v, &sum); err != nil {
		return nil, fmt.Errorf("read %s: summary key: %w: %v", s.URL(), catalog.ErrCorrupt, err)
	}
	return &sum, nil
}

// lazyTx is a read transaction on one snapshot: the small answers, single
// files, listings and the journal from their keys; everything else from a
// local copy made on first use.
type lazyTx struct {
	ctx      context.Context
	s        *Store
	location string
	snap     *Snapshot
	now      time.Time
	summary  *Summary
	copy     *localCopy
	err      error
}

func (tx *lazyTx) close() { tx.copy.close() }

func (tx *lazyTx) full() (catalog.DB, error) {
	if tx.copy == nil && tx.err == nil {
		tx.copy, tx.err = tx.s.loadLocal(tx.ctx, tx.snap)
	}
	if tx.err != nil {
		return nil, tx.err
	}
	return tx.copy.db, nil
}

// onFull runs fn in a read transaction of the local copy.
func (tx *lazyTx) onFull(fn func(catalog.Tx) error) error {
	cdb, err := tx.full()
	if err != nil {
		return err
	}
	return cdb.View(tx.ctx, fn)
}

// sum returns the summary, or nil for a catalog of the old layout (then
// every answer comes from the local copy).
func (tx *lazyTx) sum() (*Summary, error) {
	if tx.snap.Legacy != nil {
		return nil, nil
	}
	if tx.summary == nil {
		s, err := readSummary(tx.ctx, tx.s, tx.snap)
		if err != nil {
			return nil, err
		}
		tx.summary = s
	}
	return tx.summary, nil
}

func (tx *lazyTx) Now() time.Time     { return tx.now }
func (tx *lazyTx) Generation() uint64 { return tx.snap.Generation() }

func (tx *lazyTx) ViewDigest() (d aptos.Digest) {
	if s, err := tx.sum(); err == nil && s != nil {
		return s.ViewDigest
	}
	_ = tx.onFull(func(t catalog.Tx) error { d = t.ViewDigest(); return nil })
	return d
}

func (tx *lazyTx) EntryCount() (n int) {
	if s, err := tx.sum(); err == nil && s != nil {
		return s.Entries
	}
	_ = tx.onFull(func(t catalog.Tx) error { n = t.EntryCount(); return nil })
	return n
}

func (tx *lazyTx) Identity() (id aptos.HashValue, ok bool) {
	s, err := tx.sum()
	if err != nil || s == nil {
		_ = tx.onFull(func(t catalog.Tx) error { id, ok = t.Identity(); return nil })
		return id, ok
	}
	if s.Identity == "" {
		return id, false
	}
	b, err := hex.DecodeString(s.Identity)
	if err != nil || len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

func (tx *lazyTx) CountFiles() (live, moved int, err error) {
	s, err := tx.sum()
	if err != nil {
		return 0, 0, err
	}
	if s == nil {
		err = tx.onFull(func(t catalog.Tx) error { live, moved, err = t.CountFiles(); return err })
		return live, moved, err
	}
	return s.LiveFiles, s.MovedFiles, nil
}

func (tx *lazyTx) StorageState() (st aptos.StorageState, err error) {
	s, err := tx.sum()
	if err != nil {
		return st, err
	}
	if s == nil {
		err = tx.onFull(func(t catalog.Tx) error { st, err = t.StorageState(); return err })
		return st, err
	}
	return s.State, nil
}

func (tx *lazyTx) LatestTimestamps() (ts *aptos.CompactionTimestamps, h string, err error) {
	err = tx.onFull(func(t catalog.Tx) error { ts, h, err = t.LatestTimestamps(); return err })
	return ts, h, err
}

// File reads the file's header and content keys.
func (tx *lazyTx) File(handle string) (*catalog.File, error) {
	if tx.snap.Legacy != nil || tx.copy != nil {
		var f *catalog.File
		err := tx.onFull(func(t catalog.Tx) (err error) { f, err = t.File(handle); return err })
		return f, err
	}
	h, err := tx.s.get(tx.ctx, tx.snap, kvRel(boltstore.RawBucketFiles, []byte(handle)))
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("file %q: %w", handle, catalog.ErrNotFound)
	}
	if len(h) < 9 || h[0] != tagFile {
		return nil, fmt.Errorf("read %s: file %q: malformed header: %w", tx.s.URL(), handle, catalog.ErrCorrupt)
	}
	cv, err := tx.s.get(tx.ctx, tx.snap, kvRel(contentBucket, []byte(handle)))
	if err != nil {
		return nil, err
	}
	if cv == nil {
		return nil, fmt.Errorf("read %s: file %q has no content key: %w", tx.s.URL(), handle, catalog.ErrCorrupt)
	}
	c, err := tx.s.decodeValue(tx.ctx, tx.snap, contentBucket, []byte(handle), cv)
	if err != nil {
		return nil, err
	}
	return boltstore.DecodeFileRecord(handle, append(append([]byte(nil), h[9:]...), c...), true)
}

// ForEachFile lists the files' headers alone when withContent is false.
func (tx *lazyTx) ForEachFile(withContent bool, fn func(*catalog.File) error) error {
	if withContent || tx.snap.Legacy != nil || tx.copy != nil {
		return tx.onFull(func(t catalog.Tx) error { return t.ForEachFile(withContent, fn) })
	}
	fp := relKV + boltstore.RawBucketFiles + "/"
	return tx.s.iterate(tx.ctx, tx.snap, fp, prefixEnd(fp), func(rel string, v []byte) error {
		handle := rel[len(fp):]
		if len(v) < 9 || v[0] != tagFile {
			return fmt.Errorf("read %s: file %q: malformed header: %w", tx.s.URL(), handle, catalog.ErrCorrupt)
		}
		f, err := boltstore.DecodeFileRecord(handle, v[9:], false)
		if err != nil {
			return err
		}
		f.Size = int(binary.BigEndian.Uint64(v[1:]))
		return fn(f)
	})
}

func (tx *lazyTx) Files(state catalog.State) ([]*catalog.File, error) {
	return catalog.FilesOf(tx.ForEachFile, state)
}

// Operations reads the journal's keys newest first, a page at a time.
func (tx *lazyTx) Operations(fn func(*catalog.Operation) bool) error {
	if tx.snap.Legacy != nil || tx.copy != nil || tx.snap.Current.Stage != 0 {
		return tx.onFull(func(t catalog.Tx) error { return t.Operations(fn) })
	}
	jp := tx.s.key(relKV + boltstore.RawBucketJournal + "/")
	end := prefixEnd(jp)
	for {
		rctx, cancel := tx.s.request(tx.ctx)
		resp, err := tx.s.cli.Get(rctx, jp, clientv3.WithRange(end), clientv3.WithRev(tx.snap.Revision),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(100))
		cancel()
		if err != nil {
			return tx.s.readErr(tx.ctx, err)
		}
		for _, kv := range resp.Kvs {
			key := kv.Key[len(jp):]
			v, err := tx.s.decodeValue(tx.ctx, tx.snap, boltstore.RawBucketJournal, key, kv.Value)
			if err != nil {
				return err
			}
			var op catalog.Operation
			if err := json.Unmarshal(v, &op); err != nil {
				return fmt.Errorf("read %s journal record %x: %w: %v", tx.s.URL(), key, catalog.ErrCorrupt, err)
			}
			if !fn(&op) {
				return nil
			}
			end = string(kv.Key)
		}
		if !resp.More {
			return nil
		}
	}
}

func (tx *lazyTx) View() (v *aptos.View, err error) {
	err = tx.onFull(func(t catalog.Tx) error { v, err = t.View(); return err })
	return v, err
}
func (tx *lazyTx) ForEachEntry(fn func(*aptos.Metadata) error) error {
	return tx.onFull(func(t catalog.Tx) error { return t.ForEachEntry(fn) })
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
func (tx *lazyTx) QuarantinedFiles(fn func(*catalog.QuarantinedFile) error) error {
	return tx.onFull(func(t catalog.Tx) error { return t.QuarantinedFiles(fn) })
}
func (tx *lazyTx) StoredEntriesMatch() error {
	return tx.onFull(func(t catalog.Tx) error { return t.StoredEntriesMatch() })
}
