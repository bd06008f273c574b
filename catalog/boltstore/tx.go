package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/failpoint"
)

// boltTx is a bbolt transaction behind Tx (from View) and WriteTx (from
// Update).
type boltTx struct {
	db        *boltDB
	btx       *bolt.Tx
	now       time.Time
	gen       uint64
	digest    aptos.Digest
	entries   uint64 // number of keys in the entries bucket
	st        stats  // storage-state maxima and file counts (stats.go)
	op        catalog.Operation
	preserve  bool
	delta     map[string]int   // entry key -> net appearances (+1) / disappearances (-1), with preserve
	pending   map[string]int32 // entry key -> its index in pend
	pend      []pendingKey     // reference count changes not yet applied (see flush)
	keyBuf    []byte           // index's reused entry-key buffer
	valSlab   []byte           // storage for in-place counts (see setCount)
	pendBytes int              // memory held by pending, roughly
	written   int              // bytes put since the last checkpoint (bulk)
	bulk      *bulkState       // set in a bulk transaction (Create)
	// afters holds, in a bulk transaction, each changed handle's record
	// header after its last change (nil: deleted), so writeChanges need
	// not read back (and map) every record it wrote.
	afters   map[string][]byte
	flushErr error             // first flush failure, returned by Update
	touched  map[string]before // handle -> its image before this transaction first changed it
	// expect, if set, is the digest the transaction must end with (undo).
	expect *aptos.Digest
	// expectErr explains a mismatch with expect.
	expectErr  func(got aptos.Digest) error
	values     slab         // Put values, kept by bbolt until its commit (slab.go)
	images     slab         // before-images and afters, kept until the end
	filesCur   *bolt.Cursor // reads of the files bucket (fileRecord)
	hkey       []byte       // PutFile's reused key buffer (Put copies its key)
	touchOrder []string     // the keys of touched, in the order first touched
	// deletedAtStart: deletedNone or deletedSome once touchFirst has looked.
	deletedAtStart uint8
}

func (db *boltDB) newTx(btx *bolt.Tx) *boltTx {
	tx := &boltTx{db: db, btx: btx, now: db.opts.Now().UTC()}
	meta := btx.Bucket(bucketMeta)
	if v := meta.Get(keyGeneration); len(v) == 8 {
		tx.gen = binary.BigEndian.Uint64(v)
	}
	copy(tx.digest[:], meta.Get(keyViewDigest))
	if v := meta.Get(keyEntryCount); len(v) == 8 {
		tx.entries = binary.BigEndian.Uint64(v)
	}
	tx.st, _ = decodeStats(meta.Get(keyStats))
	return tx
}

// View implements DB.View with one bbolt read transaction.
func (db *boltDB) View(ctx context.Context, fn func(catalog.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.view(func(btx *bolt.Tx) error { return fn(db.newTx(btx)) })
}

var errNoChange = errors.New("no change")

// Update implements DB.Update with one bbolt read-write transaction. A
// transaction that changed no file is rolled back, so the catalog file
// stays byte-for-byte the same. Otherwise the generation is bumped, the
// view digest stored and the Operation appended to the journal, all in
// the same commit.
//
// Failpoints "<kind>.before-commit" and "<kind>.after-commit" surround
// the commit.
func (db *boltDB) Update(ctx context.Context, kind catalog.Kind, fn func(catalog.WriteTx) error) (*catalog.Operation, error) {
	return db.update(ctx, kind, false, func(tx *boltTx) error { return fn(tx) })
}

// errDryRun rolls back a transaction that got as far as its commit.
var errDryRun = errors.New("dry run")

// update is Update; with dry true it does everything but commit and
// returns the Operation that would have been committed.
func (db *boltDB) update(ctx context.Context, kind catalog.Kind, dry bool, fn func(*boltTx) error) (*catalog.Operation, error) {
	return db.updateBulk(ctx, kind, dry, nil, fn)
}

// updateBulk is update; with bulk set, the transaction may commit to the
// (scratch) file at checkpoints (bulk.go).
func (db *boltDB) updateBulk(ctx context.Context, kind catalog.Kind, dry bool, bulk *bulkState, fn func(*boltTx) error) (*catalog.Operation, error) {
	if db.opts.ReadOnly {
		return nil, catalog.ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var op catalog.Operation
	err := guard(func() error {
		btx, err := db.bdb.Begin(true)
		if err != nil {
			return err
		}
		tx := db.newTx(btx)
		tx.bulk = bulk
		defer func() {
			if tx.btx != nil {
				_ = tx.btx.Rollback()
			}
		}()
		setFillPercent(btx)
		if !tx.st.known {
			// A catalog from before the stats: compute them once,
			// stored with this write.
			st, err := computeStats(btx)
			if err != nil {
				return err
			}
			tx.st = st
		}
		tx.op = catalog.Operation{Kind: kind, Time: tx.now, Command: db.opts.Command, DigestBefore: tx.digest, Generation: tx.gen}
		// From here on, tx.btx: a bulk transaction's checkpoints begin a
		// new bbolt transaction.
		if err := fn(tx); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := tx.flush(); err != nil {
			return err
		}
		if tx.flushErr != nil {
			return tx.flushErr
		}
		if tx.preserve && tx.digest != tx.op.DigestBefore {
			return tx.lostEntries()
		}
		if tx.expect != nil && tx.digest != *tx.expect {
			return tx.expectErr(tx.digest)
		}
		if !tx.op.Changed() {
			op = tx.op
			op.DigestAfter = tx.digest
			return errNoChange
		}
		tx.gen++
		tx.op.Generation = tx.gen
		tx.op.DigestAfter = tx.digest
		tx.op.Entries = int(tx.entries)
		meta := tx.btx.Bucket(bucketMeta)
		if err := meta.Put(keyEntryCount, u64(tx.entries)); err != nil {
			return err
		}
		if err := tx.st.settle(tx.btx.Bucket(bucketEntries)); err != nil {
			return err
		}
		if tx.st.changed {
			if err := meta.Put(keyStats, tx.st.encode()); err != nil {
				return err
			}
		}
		if err := meta.Put(keyGeneration, u64(tx.gen)); err != nil {
			return err
		}
		if err := meta.Put(keyViewDigest, tx.digest[:]); err != nil {
			return err
		}
		rec, err := json.Marshal(&tx.op)
		if err != nil {
			return err
		}
		if err := tx.btx.Bucket(bucketJournal).Put(u64(tx.gen), rec); err != nil {
			return err
		}
		if err := tx.writeChanges(tx.gen); err != nil {
			return err
		}
		op = tx.op
		if dry {
			return errDryRun
		}
		failpoint.Hit(string(kind) + ".before-commit")
		err = tx.btx.Commit()
		tx.btx = nil
		return err
	})
	if errors.Is(err, errNoChange) || errors.Is(err, errDryRun) {
		return &op, nil
	}
	if err != nil {
		return nil, err
	}
	if bulk == nil {
		// A bulk write is not published yet: Create hits it once the
		// catalog is in place.
		failpoint.Hit(string(kind) + ".after-commit")
	}
	return &op, nil
}

// setFillPercent sets the fill of every bucket for one bbolt transaction.
// Imports insert in handle order and entry keys mostly arrive in order
// too: fuller pages keep the file compact (bbolt's default of 0.5 left it
// ~7x the size of the metadata).
func setFillPercent(btx *bolt.Tx) {
	for _, name := range allBuckets {
		btx.Bucket(name).FillPercent = 0.9
	}
	for _, name := range optionalBuckets {
		if b := btx.Bucket(name); b != nil {
			b.FillPercent = 0.9
		}
	}
}

// Now returns the transaction's clock reading, taken once when it began
// (UTC).
func (tx *boltTx) Now() time.Time { return tx.now }

// Generation returns the catalog generation this transaction sees: the
// number of committed writes that changed something.
func (tx *boltTx) Generation() uint64 { return tx.gen }

// ViewDigest returns the view digest, including this transaction's own
// uncommitted changes.
func (tx *boltTx) ViewDigest() aptos.Digest {
	tx.mustFlush()
	return tx.digest
}

// mustFlush flushes for accessors that cannot return an error; a failure
// is kept and returned by Update, which then rolls back.
func (tx *boltTx) mustFlush() {
	if err := tx.flush(); err != nil && tx.flushErr == nil {
		tx.flushErr = err
	}
}

// Identity returns the catalog's identity, if any file ever carried one.
func (tx *boltTx) Identity() (aptos.HashValue, bool) {
	var id aptos.HashValue
	v := tx.btx.Bucket(bucketMeta).Get(keyIdentity)
	if len(v) != len(id) {
		return id, false
	}
	copy(id[:], v)
	return id, true
}

// SetInputs records what the operation read (sources, options) in the
// journal.
func (tx *boltTx) SetInputs(inputs ...string) { tx.op.Inputs = inputs }

// SetNote records a one-line summary in the journal.
func (tx *boltTx) SetNote(note string) { tx.op.Note = note }

// PreserveView declares that this transaction must not change the view
// (compaction). Update then compares the digest before commit and fails
// with a *LostEntriesError naming the entries that would be lost or added.
func (tx *boltTx) PreserveView() {
	tx.preserve = true
	if tx.delta == nil {
		tx.delta = make(map[string]int)
	}
}

func (tx *boltTx) lostEntries() error {
	e := &catalog.LostEntriesError{}
	for k, d := range tx.delta {
		if d == 0 {
			continue
		}
		if len(e.Lost)+len(e.Added) >= 10 {
			e.More++
			continue
		}
		m, err := aptos.DecodeEntryKey([]byte(k))
		if err != nil {
			return err
		}
		line := string(aptos.AppendLine(nil, &m))
		if d < 0 {
			e.Lost = append(e.Lost, line)
		} else {
			e.Added = append(e.Added, line)
		}
	}
	if len(e.Lost)+len(e.Added) == 0 {
		// The digest moved but no key did: the stored digest disagrees
		// with the index.
		return fmt.Errorf("%w: stored digest does not match the entry index (run 'metactl verify')", catalog.ErrViewChanged)
	}
	return e
}

// File returns the file with the given handle, content included, or an
// error wrapping ErrNotFound.
func (tx *boltTx) File(handle string) (*catalog.File, error) {
	v := tx.btx.Bucket(bucketFiles).Get([]byte(handle))
	if v == nil {
		return nil, fmt.Errorf("file %q: %w", handle, catalog.ErrNotFound)
	}
	return tx.decodeFile(handle, v, true)
}

// ForEachFile calls fn for every file in handle order. With withContent
// false, File.Content is nil (a cheap listing). Returning an error from fn
// stops the walk and returns that error.
func (tx *boltTx) ForEachFile(withContent bool, fn func(*catalog.File) error) error {
	c := tx.btx.Bucket(bucketFiles).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		f, err := tx.decodeFile(string(k), v, withContent)
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// ForEachHandle implements [catalog.HandleLister]: the walk of
// ForEachFile without content, reading each record's state and checking
// it as ForEachFile decodes it, building no File.
func (tx *boltTx) ForEachHandle(state catalog.State, fn func(string) error) error {
	c := tx.btx.Bucket(bucketFiles).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if checkFileRecord("", v, false) != nil { // the handle only for the error
			return checkFileRecord(string(k), v, false)
		}
		if catalog.State(v[1]) != state {
			continue
		}
		if err := fn(string(k)); err != nil {
			return err
		}
	}
	return nil
}

// Files returns every file in handle order, without content. With a
// non-zero state, only files in that state.
func (tx *boltTx) Files(state catalog.State) ([]*catalog.File, error) {
	return catalog.FilesOf(tx.ForEachFile, state)
}

// View returns the derived view of the live files, read from the entry
// index (sorted, deduplicated) without parsing any file.
func (tx *boltTx) View() (*aptos.View, error) {
	if err := tx.flush(); err != nil {
		return nil, err
	}
	v := &aptos.View{}
	c := tx.btx.Bucket(bucketEntries).Cursor()
	if tx.entries > 1<<12 {
		// A first walk counts each kind's keys (a byte each, nothing
		// decoded), so each list is allocated once at its size: growing
		// them allocated twice the view (a 1M-entry compaction).
		var n [256]int
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) > 0 {
				n[k[0]]++
			}
		}
		v.EpochEndings = make([]aptos.EpochEndingBackup, 0, n[aptos.KindEpochEnding])
		v.StateSnapshots = make([]aptos.StateSnapshotBackup, 0, n[aptos.KindStateSnapshot])
		v.Transactions = make([]aptos.TransactionBackup, 0, n[aptos.KindTransaction])
	}
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		m, err := aptos.DecodeEntryKey(k)
		if err != nil {
			return nil, fmt.Errorf("read view: %w: %w", catalog.ErrCorrupt, err)
		}
		v.Append(&m) // keys come sorted and unique: the view needs no sort
	}
	if id, ok := tx.Identity(); ok {
		v.Identity = &id
	}
	ts, _, err := tx.LatestTimestamps()
	if err != nil {
		return nil, err
	}
	v.Timestamps = ts
	return v, nil
}

// ForEachEntry calls fn for every entry of the view, in key order (the
// view's), decoded from the entry index one at a time.
func (tx *boltTx) ForEachEntry(fn func(m *aptos.Metadata) error) error {
	if err := tx.flush(); err != nil {
		return err
	}
	c := tx.btx.Bucket(bucketEntries).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		m, err := aptos.DecodeEntryKey(k)
		if err != nil {
			return fmt.Errorf("read view: %w: %w", catalog.ErrCorrupt, err)
		}
		if err := fn(&m); err != nil {
			return err
		}
	}
	return nil
}

// LatestTimestamps returns the CompactionTimestamps entry with the largest
// file_compacted_at among live files, and the handle of its file; ties go
// to the handle that sorts last. It returns nil if no live file has one.
func (tx *boltTx) LatestTimestamps() (*aptos.CompactionTimestamps, string, error) {
	k, v := tx.btx.Bucket(bucketTimestamps).Cursor().Last()
	if k == nil {
		return nil, "", nil
	}
	m, err := aptos.ParseLine(v)
	if err != nil || m.Kind != aptos.KindCompactionTimestamps {
		return nil, "", fmt.Errorf("read compaction timestamps: %w: stored line does not parse", catalog.ErrCorrupt)
	}
	return &m.Timestamps, string(k[8:]), nil
}

// PutFile adds a file, or brings an existing identical one to the given
// state. It validates the handle and every line (ValidateEntry), keeps the
// view index and digest in step, and records the catalog identity from an
// Identity line. It returns an error wrapping ErrConflict if the handle
// holds other content (unless Replace) or if an Identity line differs from
// the catalog's, and [aptos.ErrInvalid] for a bad handle or line.
func (tx *boltTx) PutFile(nf catalog.NewFile) (catalog.PutResult, error) {
	if err := aptos.ValidateHandle(nf.Handle); err != nil {
		return catalog.Unchanged, err
	}
	if nf.State != catalog.Live && nf.State != catalog.Moved {
		return catalog.Unchanged, fmt.Errorf("put %q: invalid state %d: %w", nf.Handle, nf.State, aptos.ErrInvalid)
	}
	sum := nf.SHA256
	if sum == ([32]byte{}) {
		sum = contentSHA(nf.Content)
	}
	files := tx.btx.Bucket(bucketFiles)
	tx.hkey = append(tx.hkey[:0], nf.Handle...)
	old := tx.fileRecord(tx.hkey)
	result := catalog.Added
	if old != nil {
		of, err := decodeFileRecord(nf.Handle, old, false)
		if err != nil {
			return catalog.Unchanged, err
		}
		if of.SHA256 == sum {
			if of.State == nf.State {
				return catalog.Unchanged, nil
			}
			return catalog.StateChanged, tx.SetState(nf.Handle, nf.State)
		}
		if !nf.Replace {
			return catalog.Unchanged, fmt.Errorf("file %q already holds other content (sha256 %x, from %s; new sha256 %x, from %s): %w",
				nf.Handle, of.SHA256[:8], of.Source, sum[:8], nf.Source, catalog.ErrConflict)
		}
		tx.touch(nf.Handle)
		if err := tx.dropFile(nf.Handle, old); err != nil {
			return catalog.Unchanged, err
		}
		result = catalog.Replaced
	}
	lines := nf.Lines
	nlines := len(lines)
	if lines == nil && nf.LineBatches == nil {
		// Not parsed by the caller: checked here, and indexed below, a
		// batch of lines at a time, so a file of a million lines costs
		// a batch of parsed lines, not a million.
		var err error
		if nlines, err = checkLines(nf.Content); err != nil {
			return catalog.Unchanged, fmt.Errorf("put %q: %w", nf.Handle, err)
		}
	}
	for i := range lines {
		if err := aptos.ValidateEntry(&lines[i]); err != nil {
			return catalog.Unchanged, fmt.Errorf("put %q: line %d: %w", nf.Handle, i+1, err)
		}
	}
	// A handle this transaction has not touched yet needs no second read
	// of its record, and its deleted record, if any, is in the image.
	wasDeleted := true
	if _, ok := tx.touched[nf.Handle]; !ok {
		wasDeleted = tx.touchFirst(nf.Handle, old).deleted != nil
	}
	if lines != nil {
		if err := tx.noteIdentities(nf.Handle, lines); err != nil {
			return catalog.Unchanged, err
		}
	}
	if wasDeleted {
		if err := tx.setDeleted(nf.Handle, nil); err != nil {
			return catalog.Unchanged, err
		}
	}
	if lines == nil {
		// The identities and the index in one pass over the lines, a
		// batch at a time. Content was checked above (checkLines), or
		// by the caller who gives LineBatches; an error here leaves the
		// transaction half changed, and the caller fails it.
		batches := nf.LineBatches
		if batches == nil {
			batches = func(fn func([]aptos.Metadata) error) error { return eachBatch(nil, nf.Content, fn) }
		}
		counted := 0
		if err := batches(func(batch []aptos.Metadata) error {
			for i := range batch {
				if err := aptos.ValidateEntry(&batch[i]); err != nil {
					return fmt.Errorf("put %q: line %d: %w", nf.Handle, counted+i+1, err)
				}
			}
			counted += len(batch)
			if err := tx.noteIdentities(nf.Handle, batch); err != nil {
				return err
			}
			if nf.State != catalog.Live {
				return nil
			}
			return tx.index(nf.Handle, batch, +1, nil)
		}); err != nil {
			return catalog.Unchanged, err
		}
		nlines = counted
	}
	f := catalog.File{Handle: nf.Handle, State: nf.State, Content: nf.Content, Lines: nlines, SHA256: sum,
		Source: nf.Source, ImportedAt: tx.now, StateChangedAt: tx.now}
	chunked := len(nf.Content) > maxInline
	var rec []byte
	if chunked {
		rec = appendChunkedRecord(tx.values.take(fileRecordLen(&f) - len(f.Content) + 8)[:0], &f)
	} else {
		rec = appendFileRecord(tx.values.take(fileRecordLen(&f))[:0], &f)
	}
	if err := files.Put(tx.hkey, rec); err != nil {
		return catalog.Unchanged, fmt.Errorf("put %q: %w", nf.Handle, err)
	}
	tx.written += len(nf.Handle) + len(rec)
	tx.noteAfter(nf.Handle, rec)
	if nf.State == catalog.Live && lines != nil {
		var encoded []byte
		if nf.Encoded && len(lines) == 1 {
			encoded = nf.Content
		}
		if err := tx.index(nf.Handle, lines, +1, encoded); err != nil {
			return catalog.Unchanged, err
		}
	}
	tx.st.noteFile(nf.State, +1)
	if result == catalog.Replaced {
		tx.op.Replaced.Add(nf.Handle)
	} else {
		tx.op.Added.Add(nf.Handle)
	}
	if chunked {
		// Last: it may checkpoint (no bbolt slice is held past it).
		if err := tx.putChunks(nf.Handle, nf.Content); err != nil {
			return catalog.Unchanged, err
		}
	}
	return result, nil
}

func (tx *boltTx) noteIdentities(handle string, lines []aptos.Metadata) error {
	meta := tx.btx.Bucket(bucketMeta)
	for i := range lines {
		if lines[i].Kind != aptos.KindIdentity {
			continue
		}
		id := lines[i].Identity.ID
		if cur, ok := tx.Identity(); ok && cur != id {
			return fmt.Errorf("file %q: identity %s differs from the catalog's identity %s (a different chain or storage): %w",
				handle, id, cur, catalog.ErrConflict)
		}
		if err := meta.Put(keyIdentity, id[:]); err != nil {
			return err
		}
		if err := tx.btx.Bucket(bucketIdentities).Put([]byte(handle), id[:]); err != nil {
			return err
		}
	}
	return nil
}

// SetState moves a file between Live and Moved, updating the view index.
func (tx *boltTx) SetState(handle string, s catalog.State) error {
	files := tx.btx.Bucket(bucketFiles)
	v := files.Get([]byte(handle))
	if v == nil {
		return fmt.Errorf("set state of %q: %w", handle, catalog.ErrNotFound)
	}
	f, err := tx.decodeFile(handle, v, true)
	if err != nil {
		return err
	}
	if f.State == s {
		return nil
	}
	chunked := isChunked(v)
	tx.touch(handle)
	delta := +1
	if s == catalog.Moved {
		delta = -1
	}
	// A batch of lines at a time (a transaction that fails here is
	// rolled back whole).
	if err := eachBatch(nil, f.Content, func(lines []aptos.Metadata) error { return tx.index(handle, lines, delta, nil) }); err != nil {
		return fmt.Errorf("set state of %q: %w", handle, err)
	}
	tx.st.noteFile(f.State, -1)
	tx.st.noteFile(s, +1)
	f.State, f.StateChangedAt = s, tx.now
	rec, err := encodeFileRecord(f)
	if chunked {
		// The content stays in its chunks: a new header.
		rec = appendChunkedRecord(nil, f)
	}
	if err != nil {
		return err
	}
	if err := files.Put([]byte(handle), rec); err != nil {
		return err
	}
	tx.written += len(handle) + len(rec)
	tx.noteAfter(handle, rec)
	if s == catalog.Moved {
		tx.op.Moved.Add(handle)
	} else {
		tx.op.Revived.Add(handle)
	}
	return nil
}

// DeleteFile removes a file from the catalog for good. The catalog records
// it as deleted (Tx.DeletedFiles) and keeps its content for undo until a
// cleanup purges it after the grace period (Tx.PurgeRetained).
func (tx *boltTx) DeleteFile(handle string) error {
	v := tx.btx.Bucket(bucketFiles).Get([]byte(handle))
	if v == nil {
		return fmt.Errorf("delete %q: %w", handle, catalog.ErrNotFound)
	}
	f, err := decodeFileRecord(handle, v, false)
	if err != nil {
		return err
	}
	tx.touch(handle)
	if err := tx.dropFile(handle, v); err != nil {
		return err
	}
	if err := tx.setDeleted(handle, encodeDeleted(f, tx.gen+1, tx.now)); err != nil {
		return err
	}
	tx.op.Deleted.Add(handle)
	return nil
}

// dropFile removes a file record and, if it was live, its index entries.
func (tx *boltTx) dropFile(handle string, rec []byte) error {
	chunked := isChunked(rec)
	// A chunked file's before-image (and what is parsed below) is the
	// record with its content inline.
	rec, err := inlineRecord(tx.btx, handle, rec)
	if err != nil {
		return err
	}
	tx.keepContent(handle, rec)
	f, err := decodeFileRecord(handle, rec, true)
	if err != nil {
		return err
	}
	if chunked {
		if err := tx.deleteChunks(handle); err != nil {
			return err
		}
	}
	if f.State == catalog.Live {
		if err := eachBatch(nil, f.Content, func(lines []aptos.Metadata) error { return tx.index(handle, lines, -1, nil) }); err != nil {
			return fmt.Errorf("drop %q: %w", handle, err)
		}
	}
	tx.st.noteFile(f.State, -1)
	_ = tx.btx.Bucket(bucketIdentities).Delete([]byte(handle))
	tx.noteAfter(handle, nil)
	return tx.btx.Bucket(bucketFiles).Delete([]byte(handle))
}

// index adds (delta +1) or removes (delta -1) the lines of a live file
// from the view index. A key already indexed (and not pending) has its
// count changed in place at once: that replaces a value, or removes a key,
// in a node of page size. New keys are only collected here and inserted
// by flush, in key order: bbolt does not split a node until commit, so a
// million inserts in file-handle order (which is not entry order) would
// each shift one huge in-memory node, quadratic time. Compaction adds
// every entry once more and moves files whose entries stay indexed, so it
// never goes through the pending map (at 1M entries that map was 300 MB of
// allocations and a third of the run's CPU).
//
// encoded, if not nil, is the one line of lines encoded and followed by
// "\n" (NewFile.Encoded): a CompactionTimestamps line's stored value is
// copied from it rather than encoded again.
func (tx *boltTx) index(handle string, lines []aptos.Metadata, delta int, encoded []byte) error {
	stamps := tx.btx.Bucket(bucketTimestamps)
	var entries *bolt.Bucket
	var c *bolt.Cursor
	for i := range lines {
		m := &lines[i]
		switch m.Kind {
		case aptos.KindCompactionTimestamps:
			k := timestampsKey(m.Timestamps.FileCompactedAt, handle)
			var err error
			switch {
			case delta > 0 && len(lines) == 1 && len(encoded) > 0 && encoded[len(encoded)-1] == '\n':
				err = stamps.Put(k, tx.values.clone(encoded[:len(encoded)-1])) // bbolt keeps the slice to the commit
			case delta > 0:
				err = stamps.Put(k, aptos.AppendLine(nil, m))
			default:
				err = stamps.Delete(k)
			}
			if err != nil {
				return err
			}
			continue
		case aptos.KindIdentity:
			continue
		}
		// One reused buffer: a map lookup does not copy it, so an entry
		// already pending (compaction adds each entry once more, for the
		// compacted file, after the original's) costs no allocation.
		tx.keyBuf = aptos.AppendEntryKey(tx.keyBuf[:0], m)
		if tx.bulk == nil {
			// A bulk transaction has no map: the sort (and the merge of
			// spilled runs) sums a key's changes anyway.
			if i, ok := tx.pending[string(tx.keyBuf)]; ok {
				tx.pend[i].delta += delta
				continue
			}
		}
		// A new catalog's index is empty until the merge: no lookup.
		if tx.bulk == nil || !tx.bulk.emptyIndex {
			if c == nil {
				entries = tx.btx.Bucket(bucketEntries)
				c = entries.Cursor()
			}
			if ck, v := c.Seek(tx.keyBuf); bytes.Equal(ck, tx.keyBuf) && len(v) == 4 {
				if err := tx.setCount(entries, tx.keyBuf, int64(binary.BigEndian.Uint32(v)), delta, nil); err != nil {
					return err
				}
				tx.written += len(tx.keyBuf) + 4
				continue
			}
		}
		k := string(tx.keyBuf)
		if tx.bulk != nil {
			tx.pend = append(tx.pend, pendingKey{key: k, delta: delta})
			tx.pendBytes += len(k) + bulkPendingOverhead
			continue
		}
		if tx.pending == nil {
			tx.pending = make(map[string]int32)
		}
		tx.pending[k] = int32(len(tx.pend))
		tx.pend = append(tx.pend, pendingKey{key: k, delta: delta})
		tx.pendBytes += len(k) + pendingOverhead
	}
	if tx.bulk != nil && tx.pendBytes >= tx.bulk.spill {
		return tx.spill()
	}
	return nil
}

// pendingOverhead is the memory a pending key costs beyond its bytes (map
// slot, string header, pendingKey), roughly.
const pendingOverhead = 64

// bulkPendingOverhead is that cost without the map (bulk transactions).
const bulkPendingOverhead = 40

// flush applies the collected entry-key changes in key order, keeping the
// entry count and the digest in step. Everything that reads the entries
// bucket, the digest or the count calls it first.
func (tx *boltTx) flush() error {
	if tx.flushErr != nil {
		return tx.flushErr // the index is half-applied: the transaction must fail
	}
	if tx.bulk != nil && tx.bulk.runs != nil {
		// Changes were spilled: apply them all in one merged pass.
		if err := tx.applyRuns(); err != nil {
			tx.flushErr = err
			return err
		}
		return nil
	}
	if len(tx.pend) == 0 {
		return nil
	}
	if err := tx.applyPending(); err != nil {
		tx.flushErr = err
		return err
	}
	return nil
}

func (tx *boltTx) applyPending() error {
	keys := tx.sortedPending()
	i := 0
	err := tx.applySorted(func() ([]byte, int, bool, error) {
		if i == len(keys) {
			return nil, 0, false, nil
		}
		p := keys[i]
		i++
		// Put copies the key, so the pending map's string is passed
		// without a copy.
		return unsafe.Slice(unsafe.StringData(p.key), len(p.key)), p.delta, true, nil
	})
	if err != nil {
		return err
	}
	tx.resetPending()
	return nil
}

// sortedPending returns the pending changes with a non-zero delta in key
// order, filtered in place (pend is cleared after).
func (tx *boltTx) sortedPending() []pendingKey { return sortRun(tx.pend) }

// sortRun sorts changes by key in place, sums the changes of a key (a
// bulk transaction's pend may hold a key more than once), and drops those
// that cancel out.
func sortRun(pend []pendingKey) []pendingKey {
	keys := pend[:0]
	for _, p := range pend {
		if p.delta != 0 {
			keys = append(keys, p)
		}
	}
	slices.SortFunc(keys, func(a, b pendingKey) int { return strings.Compare(a.key, b.key) })
	// A bulk transaction's pend may hold a key more than once: one change
	// per key, and none that cancels out.
	out := keys[:0]
	for i := 0; i < len(keys); {
		p := keys[i]
		for i++; i < len(keys) && keys[i].key == p.key; i++ {
			p.delta += keys[i].delta
		}
		if p.delta != 0 {
			out = append(out, p)
		}
	}
	return out
}

// resetPending drops the applied (or spilled) pending changes.
func (tx *boltTx) resetPending() {
	tx.pendBytes = 0
	if len(tx.pend) > 1<<16 {
		// A bulk change: let the collector have the map's table before
		// the commit allocates its pages; clear would keep it.
		tx.pending, tx.pend = nil, nil
		return
	}
	clear(tx.pending)
	clear(tx.pend) // drop the key strings
	tx.pend = tx.pend[:0]
}

// applySorted applies reference count changes, given by next in strictly
// ascending key order, to the entries bucket (setCount). One cursor for
// every read (Bucket.Get allocates a cursor per call). In a bulk
// transaction it checkpoints as it goes.
func (tx *boltTx) applySorted(next func() (k []byte, delta int, ok bool, err error)) error {
	if tx.bulk != nil {
		tx.bulk.emptyIndex = false
	}
	entries := tx.btx.Bucket(bucketEntries)
	c := entries.Cursor()
	// Keys past the index's last one are not in it: no lookup (a new
	// catalog's index is written in order, all of it past the end).
	last, _ := c.Last()
	last = bytes.Clone(last)
	for {
		k, delta, ok, err := next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		var n int64
		if last != nil && bytes.Compare(k, last) <= 0 {
			if ck, v := c.Seek(k); bytes.Equal(ck, k) && len(v) == 4 {
				n = int64(binary.BigEndian.Uint32(v))
			}
		}
		if err := tx.setCount(entries, k, n, delta, nil); err != nil {
			return err
		}
		tx.written += len(k) + 4
		if tx.bulk != nil && tx.written >= tx.bulk.limit {
			if err := tx.commitAndBegin(); err != nil {
				return err
			}
			entries = tx.btx.Bucket(bucketEntries)
			c = entries.Cursor()
			tx.valSlab = nil // bbolt has written the counts
		}
	}
}

// setCount changes entry key k's count from n by delta, keeping the entry
// count, the digest, the tracked delta and the stats in step. bbolt keeps
// a Put's value slice (not a copy) until the commit: val, if not nil, is
// 4 bytes for the count; otherwise they come from a slab. Put copies the
// key.
func (tx *boltTx) setCount(entries *bolt.Bucket, k []byte, n int64, delta int, val []byte) error {
	after := n + int64(delta)
	switch {
	case after < 0:
		m, _ := aptos.DecodeEntryKey(k)
		return fmt.Errorf("unindex entry %s: it is not indexed: %w", aptos.AppendLine(nil, &m), catalog.ErrCorrupt)
	case n == 0 && after > 0:
		tx.entries++
		tx.digest.Add(k)
		tx.track(k, +1)
		tx.st.noteEntry(k, +1)
	case n > 0 && after == 0:
		tx.entries--
		tx.digest.Subtract(k)
		tx.track(k, -1)
		tx.st.noteEntry(k, -1)
	}
	if after == 0 {
		return entries.Delete(k)
	}
	if val == nil {
		if len(tx.valSlab) < 4 {
			tx.valSlab = make([]byte, 4096)
		}
		val, tx.valSlab = tx.valSlab[:4:4], tx.valSlab[4:]
	}
	binary.BigEndian.PutUint32(val, uint32(after))
	return entries.Put(k, val)
}

// pendingKey is one entry key's reference count change awaiting flush.
type pendingKey struct {
	key   string
	delta int
}

func (tx *boltTx) track(k []byte, d int) {
	if tx.delta == nil {
		return
	}
	s := string(k)
	if tx.delta[s]+d == 0 {
		delete(tx.delta, s)
	} else {
		tx.delta[s] += d
	}
}

// EntryCount returns the number of entries in the view.
func (tx *boltTx) EntryCount() int {
	tx.mustFlush()
	return int(tx.entries)
}

// Operations calls fn for journal records, newest first, until fn returns
// false.
func (tx *boltTx) Operations(fn func(*catalog.Operation) bool) error {
	c := tx.btx.Bucket(bucketJournal).Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		op, err := decodeOperation(binary.BigEndian.Uint64(k), v)
		if err != nil {
			return err
		}
		if !fn(op) {
			return nil
		}
	}
	return nil
}

// StoredEntriesMatch recomputes the view from the live files' content and
// compares it, its digest and its storage state, and the file counts, with
// the index and what the catalog keeps. It
// returns nil if all agree (metactl verify).
func (tx *boltTx) StoredEntriesMatch() error {
	var all []aptos.Metadata
	err := tx.ForEachFile(true, func(f *catalog.File) error {
		// Damage a read would pass on: a handle that is no longer one, or
		// content whose digest is not the one kept (ls -l shows it).
		if err := checkHandle(f.Handle); err != nil {
			return fmt.Errorf("file key %s: %w: %w", quoteKey([]byte(f.Handle)), catalog.ErrCorrupt, err)
		}
		if sum := contentSHA(f.Content); sum != f.SHA256 {
			return fmt.Errorf("file %q: stored SHA-256 %x, content's %x: %w", f.Handle, f.SHA256[:6], sum[:6], catalog.ErrCorrupt)
		}
		if f.State != catalog.Live {
			return nil
		}
		lines, err := aptos.ParseFile(f.Content)
		if err != nil {
			return fmt.Errorf("file %q: %w: %w", f.Handle, catalog.ErrCorrupt, err)
		}
		all = append(all, lines...)
		return nil
	})
	if err != nil {
		return err
	}
	fresh := aptos.NewView(all)
	indexed, err := tx.View()
	if err != nil {
		return err
	}
	var a, b bytes.Buffer
	fresh.ForEachEntry(func(m *aptos.Metadata) { a.Write(aptos.EncodeLine(m)) })
	indexed.ForEachEntry(func(m *aptos.Metadata) { b.Write(aptos.EncodeLine(m)) })
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		return fmt.Errorf("entry index disagrees with the live files (%d vs %d entries): %w", fresh.Len(), indexed.Len(), catalog.ErrCorrupt)
	}
	var bad error
	err = tx.Operations(func(op *catalog.Operation) bool {
		for _, ch := range []catalog.Changes{op.Added, op.Replaced, op.Moved, op.Revived, op.Deleted} {
			for _, h := range ch.Handles {
				if err := checkHandle(h); err != nil {
					bad = fmt.Errorf("journal record %d: handle %s: %w: %w", op.Generation, quoteKey([]byte(h)), catalog.ErrCorrupt, err)
					return false
				}
			}
		}
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return err
	}
	if d := fresh.Digest(); d != tx.digest {
		return fmt.Errorf("stored view digest %s, recomputed %s: %w", tx.digest.Short(), d.Short(), catalog.ErrCorrupt)
	}
	if !tx.st.known {
		return nil
	}
	kept, err := tx.StorageState()
	if err != nil {
		return err
	}
	if want := fresh.StorageState(); kept.String() != want.String() {
		return fmt.Errorf("kept storage state %q, recomputed %q: %w", kept, want, catalog.ErrCorrupt)
	}
	live, moved, err := countFiles(tx.btx)
	if err != nil {
		return err
	}
	if uint64(live) != tx.st.live || uint64(moved) != tx.st.moved {
		return fmt.Errorf("kept file counts %d live, %d moved; counted %d, %d: %w", tx.st.live, tx.st.moved, live, moved, catalog.ErrCorrupt)
	}
	return nil
}

// StorageState returns the view's BackupStorageState (see
// View.StorageState) from the stats kept with the index: two stored
// maxima and one cursor seek. A catalog written before the stats were kept
// is walked once per call instead (its next write stores them).
func (tx *boltTx) StorageState() (aptos.StorageState, error) {
	if err := tx.flush(); err != nil {
		return aptos.StorageState{}, err
	}
	if !tx.st.known {
		return tx.walkStorageState()
	}
	entries := tx.btx.Bucket(bucketEntries)
	if err := tx.st.settle(entries); err != nil {
		return aptos.StorageState{}, err
	}
	var s aptos.StorageState
	if tx.st.flags&statsHasEE != 0 {
		v := tx.st.eeLast
		s.LatestEpochEndingEpoch = &v
	}
	if tx.st.flags&statsHasTxn != 0 {
		v := tx.st.txnLast
		s.LatestTransactionVersion = &v
	}
	snap, err := latestSnapshot(entries)
	if err != nil {
		return s, err
	}
	if snap != nil {
		s.LatestStateSnapshotEpoch, s.LatestStateSnapshotVersion = &snap.Epoch, &snap.Version
	}
	return s, nil
}

// walkStorageState computes the storage state by walking the entry index.
func (tx *boltTx) walkStorageState() (aptos.StorageState, error) {
	var s aptos.StorageState
	var snap *aptos.StateSnapshotBackup
	c := tx.btx.Bucket(bucketEntries).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		m, err := aptos.DecodeEntryKey(k)
		if err != nil {
			return s, fmt.Errorf("read view: %w: %w", catalog.ErrCorrupt, err)
		}
		switch m.Kind {
		case aptos.KindEpochEnding:
			if s.LatestEpochEndingEpoch == nil || m.EpochEnding.LastEpoch > *s.LatestEpochEndingEpoch {
				s.LatestEpochEndingEpoch = &m.EpochEnding.LastEpoch
			}
		case aptos.KindStateSnapshot:
			snap = &m.StateSnapshot // keys ascend: the last one is the greatest
		case aptos.KindTransaction:
			if s.LatestTransactionVersion == nil || m.Transaction.LastVersion > *s.LatestTransactionVersion {
				s.LatestTransactionVersion = &m.Transaction.LastVersion
			}
		}
	}
	if snap != nil {
		s.LatestStateSnapshotEpoch, s.LatestStateSnapshotVersion = &snap.Epoch, &snap.Version
	}
	return s, nil
}

// CountFiles returns the number of live and moved files, kept with the
// files (a catalog written before they were kept is walked, reading only
// each record's state byte).
func (tx *boltTx) CountFiles() (live, moved int, err error) {
	if tx.st.known {
		return int(tx.st.live), int(tx.st.moved), nil
	}
	return countFiles(tx.btx)
}

// checkHandle checks that a stored handle is one the catalog could have
// stored: "metadata/<ShellSafeName>".
func checkHandle(h string) error {
	dir, name, err := aptos.ParseHandle(h)
	if err != nil {
		return err
	}
	if dir != aptos.MetadataDir {
		return fmt.Errorf("%w %q: not a metadata/ handle", aptos.ErrInvalidHandle, h)
	}
	return aptos.ValidName(name)
}
