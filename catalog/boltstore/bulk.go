package boltstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/failpoint"
	"github.com/metactl/metactl/internal/fsutil"
)

// Large writes on a scratch file: see "Large writes" in doc.go.

// spillFactor: a bulk transaction spills its pending index changes once
// they hold spillFactor times the checkpoint size (fewer, longer runs to
// merge).
const spillFactor = 8

// remapFactor: a bulk transaction maps its scratch file afresh once
// remapFactor times the checkpoint size was written since it was mapped
// (see commitAndBegin).
const remapFactor = 16

// bulkState is what a bulk transaction keeps across its checkpoints.
type bulkState struct {
	limit  int // bytes between checkpoints
	spill  int // pending index-change bytes that make a run
	remap  int // bytes written that make commitAndBegin map the file afresh
	mapped int // bytes written since the scratch file was last mapped
	dir    string
	// runs holds the spilled entry-key changes: sorted runs, one after
	// another, in an unlinked temporary file (so a crash leaves nothing).
	runs   *os.File
	w      *bufio.Writer
	off    int64
	bounds []int64 // run i is [bounds[i], bounds[i+1])
	// spilling, if not nil, gives the error of the run being written.
	spilling chan error
	// emptyIndex: the entries bucket is empty and nothing has been
	// applied to it yet (Create), so index need not look keys up.
	emptyIndex bool
}

// newBulkState returns the state of a bulk transaction with o's
// checkpoint size, spilling to dir.
func newBulkState(o *catalog.Options, dir string) *bulkState {
	limit := o.CheckpointBytes
	if limit <= 0 {
		limit = catalog.DefaultCheckpointBytes
	}
	return &bulkState{limit: limit, spill: max(spillFactor*limit, minSpill), remap: max(remapFactor*limit, minRemap), dir: dir}
}

// minSpill is the least a run holds: a merge reads every run at once.
const minSpill = 1 << 20

// minRemap is the least written between two mappings of a scratch file
// (a test's checkpoint of a byte would map it afresh at every one).
const minRemap = 1 << 20

func (b *bulkState) close() {
	_ = b.wait()
	if b.runs != nil {
		b.runs.Close()
		b.runs, b.w, b.bounds, b.off = nil, nil, nil, 0
	}
}

// Checkpoint implements BulkWriteTx. Outside a bulk transaction it does
// nothing.
func (tx *boltTx) Checkpoint() error {
	if tx.bulk == nil {
		return nil
	}
	if tx.flushErr != nil {
		return tx.flushErr
	}
	if tx.written < tx.bulk.limit {
		return nil
	}
	return tx.commitAndBegin()
}

// commitAndBegin commits the scratch file's bbolt transaction and begins
// the next one. Everything the operation keeps in memory (the touched
// before-images, the digest, the stats, the journal record) carries over.
//
// Every bulkState.remap bytes it also closes the scratch file's bbolt
// handle and opens it again: every page of the file this process touched
// through bbolt's mapping stays in its resident set until the mapping
// goes, and bbolt touches the values it rewrites (a leaf holding a file of
// a few MB is copied out of the mapping when the next file is added
// beside it). An import of 1M lines in 100 files of 1.5 MB ended with
// 181 MB of the file resident, more than its heap. Nothing in a bulk
// transaction keeps a slice of the mapping across a checkpoint (the next
// bbolt transaction would not promise it either).
func (tx *boltTx) commitAndBegin() error {
	err := tx.btx.Commit()
	tx.btx = nil
	if err != nil {
		return err
	}
	if b := tx.bulk; b != nil {
		if b.mapped += tx.written; b.mapped >= b.remap {
			b.mapped = 0
			if err := tx.db.remapScratch(); err != nil {
				return err
			}
		}
	}
	btx, err := tx.db.bdb.Begin(true)
	if err != nil {
		return err
	}
	tx.btx = btx
	setFillPercent(btx)
	tx.written = 0
	return nil
}

// spill hands the pending entry-key changes to a goroutine that sorts
// them and writes them as one run to the runs file, and drops them from
// the transaction; flush merges the runs. One run is written at a time,
// beside the transaction's own work.
func (tx *boltTx) spill() error {
	b := tx.bulk
	if err := b.wait(); err != nil {
		return err
	}
	if b.runs == nil {
		f, err := os.CreateTemp(b.dir, ".metactl-runs-*")
		if err != nil {
			return fmt.Errorf("spill index changes: %w", err)
		}
		_ = os.Remove(f.Name()) // unlinked: nothing to clean up after a crash
		b.runs, b.w, b.bounds = f, bufio.NewWriterSize(f, 1<<20), []int64{0}
	}
	pend := tx.pend
	tx.pending, tx.pend, tx.pendBytes = nil, nil, 0
	done := make(chan error, 1)
	b.spilling = done
	go func() { done <- b.writeRun(sortRun(pend)) }()
	return nil
}

// wait waits for the run being written, if any, and returns its error.
func (b *bulkState) wait() error {
	if b.spilling == nil {
		return nil
	}
	err := <-b.spilling
	b.spilling = nil
	return err
}

// writeRun appends one sorted run to the runs file.
func (b *bulkState) writeRun(keys []pendingKey) error {
	var buf []byte
	for _, p := range keys {
		buf = binary.AppendUvarint(buf[:0], uint64(len(p.key)))
		buf = append(buf, p.key...)
		buf = binary.AppendVarint(buf, int64(p.delta))
		if _, err := b.w.Write(buf); err != nil {
			return fmt.Errorf("spill index changes: %w", err)
		}
		b.off += int64(len(buf))
	}
	b.bounds = append(b.bounds, b.off)
	return nil
}

// merged is a batch of merged changes, handed from the merging goroutine
// to applySorted.
type merged struct {
	keys   []byte
	ends   []int
	deltas []int
	err    error
}

// applyRuns merges the spilled runs (and what is still pending) on
// another goroutine and applies them in key order, checkpointing as it
// goes.
func (tx *boltTx) applyRuns() error {
	b := tx.bulk
	if len(tx.pend) > 0 {
		if err := tx.spill(); err != nil {
			return err
		}
	}
	defer b.close()
	if err := b.wait(); err != nil {
		return err
	}
	if err := b.w.Flush(); err != nil {
		return fmt.Errorf("spill index changes: %w", err)
	}
	rs := make([]*runReader, 0, len(b.bounds)-1)
	for i := 0; i+1 < len(b.bounds); i++ {
		r := &runReader{r: bufio.NewReaderSize(io.NewSectionReader(b.runs, b.bounds[i], b.bounds[i+1]-b.bounds[i]), 64<<10)}
		if err := r.next(); err != nil {
			return err
		}
		if r.ok {
			rs = append(rs, r)
		}
	}
	// Batches go back through free to be filled again.
	batches, free, stop := make(chan merged, 2), make(chan merged, 4), make(chan struct{})
	defer func() {
		close(stop)
		for range batches { // the merger is done with the runs file
		}
	}()
	go func() {
		defer close(batches)
		var m merged
		send := func() bool {
			select {
			case batches <- m:
				select {
				case m = <-free:
					m.keys, m.ends, m.deltas = m.keys[:0], m.ends[:0], m.deltas[:0]
				default:
					m = merged{}
				}
				return true
			case <-stop:
				return false
			}
		}
		for {
			var min *runReader
			for _, r := range rs {
				if r.ok && (min == nil || bytes.Compare(r.key, min.key) < 0) {
					min = r
				}
			}
			if min == nil {
				send()
				return
			}
			start := len(m.keys)
			m.keys = append(m.keys, min.key...)
			key := m.keys[start:]
			delta := 0
			for _, r := range rs {
				for r.ok && bytes.Equal(r.key, key) {
					delta += r.delta
					if m.err = r.next(); m.err != nil {
						send()
						return
					}
				}
			}
			if delta == 0 {
				m.keys = m.keys[:start]
				continue
			}
			m.ends, m.deltas = append(m.ends, len(m.keys)), append(m.deltas, delta)
			if len(m.ends) == 4096 && !send() {
				return
			}
		}
	}()
	var cur merged
	i, start := 0, 0
	return tx.applySorted(func() ([]byte, int, bool, error) {
		for i == len(cur.ends) {
			if cur.err != nil {
				return nil, 0, false, cur.err
			}
			select {
			case free <- cur:
			default:
			}
			var ok bool
			if cur, ok = <-batches; !ok {
				return nil, 0, false, nil
			}
			i, start = 0, 0
		}
		k, d := cur.keys[start:cur.ends[i]], cur.deltas[i]
		start = cur.ends[i]
		i++
		return k, d, true, nil
	})
}

// runReader reads one sorted run of spilled changes.
type runReader struct {
	r     *bufio.Reader
	key   []byte
	delta int
	ok    bool
}

func (r *runReader) next() error {
	n, err := binary.ReadUvarint(r.r)
	if err == io.EOF {
		r.ok = false
		return nil
	}
	if err != nil {
		return fmt.Errorf("read spilled index changes: %w", err)
	}
	if cap(r.key) < int(n) {
		r.key = make([]byte, n)
	}
	r.key = r.key[:n]
	if _, err := io.ReadFull(r.r, r.key); err != nil {
		return fmt.Errorf("read spilled index changes: %w", err)
	}
	d, err := binary.ReadVarint(r.r)
	if err != nil {
		return fmt.Errorf("read spilled index changes: %w", err)
	}
	r.delta, r.ok = int(d), true
	return nil
}

// Create makes a new catalog at path with one write operation of the
// given kind, built on a scratch file beside path that nobody else sees:
// fn's transaction may checkpoint ([BulkWriteTx.Checkpoint]), so memory
// stays bounded however large the write, and the finished file is linked
// into place only if fn returns nil. The catalog then holds exactly what
// Open followed by one Update would leave (the operation record, the
// journal, the change records, the stats and the digest), and generation 1
// (0 if fn changed nothing). If fn fails, or ctx ends, or the process dies,
// no catalog appears; a failed Create also removes the lock file it made.
//
// Create holds the catalog's lock file exclusively for the whole build,
// as a writer does, so other writers wait (or time out busy, naming this
// process) and then see the new catalog. It returns an error wrapping
// ErrExist, having written nothing, if a catalog exists at path or one
// was written there meanwhile: the caller then uses Open and Update.
// path must be a file path, not a "<scheme>://" location.
func Create(ctx context.Context, path string, opts *catalog.Options, kind catalog.Kind, fn func(catalog.BulkWriteTx) error) (*catalog.Operation, error) {
	o := opts.WithDefaults()
	if o.ReadOnly {
		return nil, catalog.ErrReadOnly
	}
	if catalog.Scheme(path) != "" {
		return nil, fmt.Errorf("create catalog %q: a bulk build needs a catalog file, not a %s location", path, catalog.Scheme(path))
	}
	exists := func() error {
		return fmt.Errorf("create catalog %q: %w", path, catalog.ErrExist)
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, exists()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("create catalog %q: %w", path, err)
	}
	deadline := time.Now().Add(o.Timeout)
	gate, err := openGate(path, false)
	if err != nil {
		return nil, err
	}
	db := &boltDB{path: path, opts: *o}
	if err := flockWait(ctx, gate, syscall.LOCK_EX, deadline); err != nil {
		gate.Close()
		return nil, db.lockError(err)
	}
	writeHolder(gate, &catalog.Holder{PID: os.Getpid(), Command: o.Command, Started: time.Now().UTC(), Host: hostname()})
	// abandon releases the lock; if no catalog exists, the lock file goes
	// too (a failed first write leaves nothing), removed while held.
	abandon := func() {
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			_ = os.Remove(lockPath(path))
		}
		releaseGate(gate)
	}
	if _, err := os.Lstat(path); err == nil {
		// A writer created it while we waited for the lock.
		releaseGate(gate)
		return nil, exists()
	}
	removeScratch(path)

	scratch := scratchPath(path)
	sdb, err := createScratch(scratch, o)
	if err != nil {
		abandon()
		return nil, err
	}
	bulk := newBulkState(o, filepath.Dir(path))
	bulk.emptyIndex = true // a new catalog
	stopSync := syncBehind(scratch)
	op, err := sdb.updateBulk(ctx, kind, false, bulk, func(tx *boltTx) error { return fn(tx) })
	stopSync()
	bulk.close()
	if err == nil {
		err = guard(sdb.bdb.Sync) // the scratch file ran without fsync
	}
	if err == nil {
		err = publish(scratch, path)
	}
	if err != nil {
		sdb.Close()
		_ = os.Remove(scratch)
		abandon()
		return nil, err
	}
	failpoint.Hit(string(kind) + ".after-commit")
	err = sdb.Close()
	releaseGate(gate)
	if err != nil {
		return nil, fmt.Errorf("create catalog %q: %w", path, err)
	}
	return op, nil
}

// scratchSuffix marks a catalog being built by Create: "<catalog>.build-<pid>".
const scratchSuffix = ".build-"

func scratchPath(path string) string {
	return path + scratchSuffix + strconv.Itoa(os.Getpid())
}

// removeScratch removes the scratch files a crashed Create left beside
// path. The caller holds the catalog's lock file exclusively, as every
// Create does for its whole build, so no live build owns one.
func removeScratch(path string) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), base+scratchSuffix) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// scratchOptions are the bbolt options of a scratch file (Create,
// UpdateBulk): no fsync until the end, not even when the file grows
// (syncBehind writes it out meanwhile), the writer's mapping.
func scratchOptions() *bolt.Options {
	return &bolt.Options{Timeout: time.Second, NoSync: true, NoGrowSync: true, InitialMmapSize: writerMmapSize}
}

// remapScratch closes the bbolt handle of a scratch file between two of
// its transactions and opens it again (see commitAndBegin).
func (db *boltDB) remapScratch() error {
	err := guard(db.bdb.Close)
	db.bdb = nil
	if err != nil {
		return fmt.Errorf("map scratch catalog %q afresh: %w", db.path, err)
	}
	return guard(func() error {
		bdb, err := bolt.Open(db.path, 0o600, scratchOptions())
		if err != nil {
			return fmt.Errorf("map scratch catalog %q afresh: %w", db.path, err)
		}
		bdb.AllocSize = allocSize
		db.bdb = bdb
		return nil
	})
}

// createScratch initializes a fresh catalog file at scratch and opens it
// for a bulk write (scratchOptions).
func createScratch(scratch string, o *catalog.Options) (*boltDB, error) {
	_ = os.Remove(scratch)
	bopts := scratchOptions()
	var bdb *bolt.DB
	err := guard(func() error {
		var err error
		if bdb, err = bolt.Open(scratch, 0o600, bopts); err != nil {
			return err
		}
		bdb.AllocSize = allocSize // before the first commit grows the file
		return bdb.Update(func(btx *bolt.Tx) error { return initCatalog(btx, o) })
	})
	if err != nil {
		if bdb != nil {
			bdb.Close()
		}
		_ = os.Remove(scratch)
		return nil, fmt.Errorf("create catalog: scratch file %q: %w", scratch, err)
	}
	return &boltDB{path: scratch, opts: *o, bdb: bdb}, nil
}

// publish puts the finished scratch file at path, atomically, and syncs
// the folder. The caller holds the lock file, so no process has opened
// path's catalog since Create checked it was absent; but an opener that
// arrived meanwhile has created an empty catalog there before waiting for
// the lock (see create). That one is replaced; any other is ErrExist.
func publish(scratch, path string) error {
	err := os.Link(scratch, path)
	switch {
	case err == nil:
		_ = os.Remove(scratch)
	case errors.Is(err, fs.ErrExist):
		empty, eerr := emptyCatalog(path)
		if eerr != nil || !empty {
			return fmt.Errorf("create catalog %q: %w (written meanwhile)", path, catalog.ErrExist)
		}
		if err := os.Rename(scratch, path); err != nil {
			return fmt.Errorf("create catalog %q: %w", path, err)
		}
	default:
		return fmt.Errorf("create catalog %q: %w", path, err)
	}
	if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("create catalog %q: %w", path, err)
	}
	return nil
}

// emptyCatalog reports whether path is a catalog with no write committed
// (generation 0, no file).
func emptyCatalog(path string) (bool, error) {
	if err := checkFile(path); err != nil {
		return false, err
	}
	empty := false
	err := guard(func() error {
		bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			return err
		}
		defer bdb.Close()
		return bdb.View(func(btx *bolt.Tx) error {
			meta, files := btx.Bucket(bucketMeta), btx.Bucket(bucketFiles)
			if meta == nil || files == nil {
				return nil
			}
			g := meta.Get(keyGeneration)
			k, _ := files.Cursor().First()
			empty = len(g) == 8 && binary.BigEndian.Uint64(g) == 0 && k == nil
			return nil
		})
	})
	return empty, err
}

// syncBehind writes the scratch file's pages to disk on another goroutine
// while the build goes on, so the one fsync at its end has little left to
// write. Errors are ignored: that final fsync reports them.
func syncBehind(path string) (stop func()) {
	f, err := os.Open(path)
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(syncBehindEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = f.Sync()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		f.Close()
	}
}

// syncBehindEvery is how often syncBehind syncs.
const syncBehindEvery = 100 * time.Millisecond
