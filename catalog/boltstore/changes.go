package boltstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/metactl/metactl/catalog"
)

// Change records: what undo needs to reverse one operation exactly.
//
// Every write transaction remembers, for each file handle it touches, the
// handle's record as it was before the first touch (the before-image) and,
// at commit, writes one change record per handle under the key
// generation | handle in the changes bucket. The journal's Operation lists
// at most 1000 handles per kind of change; the change records are the
// exact set.
//
// Change record, version 1:
//
//	0      1  record version (1)
//	1      1  state before: 0 absent, 1 live, 2 moved
//	2      1  state after: 0 absent, 1 live, 2 moved
//	3      1  flags: changeContentSame (the before-image's content is the
//	          after content and was left out)
//	4     32  SHA-256 of the content after (zero if absent)
//	36     4  length B of the before-image
//	40     B  before-image: a file record (keys.go), with its content left
//	          out when changeContentSame
//	40+B   -  the handle's deleted record before (deletedRecLen bytes), or
//	          nothing if the handle was not recorded as deleted
//
// Deleted record (bucket deleted, key handle), version 1:
//
//	0      1  record version (1)
//	1      1  state before the deletion (1 live, 2 moved)
//	2      8  generation that deleted the file, u64
//	10     8  deleted at, unix nanoseconds, i64
//	18    32  SHA-256 of the content
//	50     8  size of the content, u64
//
// The deleted file's content itself stays in the change record of the
// deleting generation until a cleanup purges it after the grace period.
const (
	changeRecVersion  = 1
	changeRecFixedLen = 40
	changeContentSame = 1 << 0

	deletedRecVersion = 1
	deletedRecLen     = 58
)

// Values of boltTx.deletedAtStart: whether the deleted bucket held any
// record when the transaction first touched a handle (0: not known yet).
const (
	deletedNone = 1
	deletedSome = 2
)

// before is the first-touch image of one handle in a transaction.
type before struct {
	rec     []byte // file record, nil if absent; without content while headOnly
	deleted []byte // deleted record, nil if none
	// headOnly: rec holds the record without its content. The content is
	// copied only when the transaction is about to destroy it (dropFile):
	// a compaction moving a million files copies no content.
	headOnly bool
}

// touch remembers handle's before-image the first time a transaction
// changes it. Every change to the files or deleted buckets goes through it.
func (tx *boltTx) touch(handle string) {
	if _, ok := tx.touched[handle]; ok {
		return
	}
	tx.touchFirst(handle, tx.btx.Bucket(bucketFiles).Get([]byte(handle)))
}

// touchFirst is touch for a handle the transaction has not touched yet,
// given its current file record v (nil: none), which the caller has
// already read. It returns the before-image it kept.
func (tx *boltTx) touchFirst(handle string, v []byte) before {
	if tx.touched == nil {
		tx.touched = make(map[string]before)
	}
	var b before
	if v != nil {
		if len(v) >= fileRecFixedLen {
			b.rec, b.headOnly = tx.images.clone(recordHeader(v)), true
			b.rec[0] = fileRecVersion // images are version 1 records (chunks.go)
		} else {
			b.rec = tx.images.clone(v) // malformed: decode reports it later
		}
	}
	// A handle's deleted record changes only after its first touch (see
	// setDeleted's callers), so if the deleted bucket is empty at the
	// transaction's first touch, no handle has a record at its own: a
	// first import reads none.
	if tx.deletedAtStart == 0 {
		tx.deletedAtStart = deletedNone
		if bk := tx.btx.Bucket(bucketDeleted); bk != nil {
			if k, _ := bk.Cursor().First(); k != nil {
				tx.deletedAtStart = deletedSome
			}
		}
	}
	if tx.deletedAtStart == deletedSome {
		if v := tx.btx.Bucket(bucketDeleted).Get([]byte(handle)); v != nil {
			b.deleted = tx.images.clone(v)
		}
	}
	tx.touched[handle] = b
	tx.touchOrder = append(tx.touchOrder, handle)
	return b
}

// ExpectFiles implements [catalog.FileCountHinter]: it sizes the
// before-images, the afters and the touch order for n more handles, if
// nothing was touched yet (maxExpect at most).
func (tx *boltTx) ExpectFiles(n int) {
	n = min(n, maxExpect)
	if n <= 0 || len(tx.touched) > 0 || len(tx.afters) > 0 {
		return
	}
	tx.touched = make(map[string]before, n)
	tx.touchOrder = make([]string, 0, n)
	if tx.bulk != nil {
		tx.afters = make(map[string][]byte, n)
	}
}

// maxExpect bounds ExpectFiles: a wrong hint costs at most this many
// files' bookkeeping up front.
const maxExpect = 1 << 20

// noteAfter remembers, in a bulk transaction, handle's record header
// after a change (rec nil: the record was deleted).
func (tx *boltTx) noteAfter(handle string, rec []byte) {
	if tx.bulk == nil {
		return
	}
	if tx.afters == nil {
		tx.afters = make(map[string][]byte)
	}
	if rec == nil || len(rec) < fileRecFixedLen {
		tx.afters[handle] = rec
		return
	}
	tx.afters[handle] = tx.images.clone(recordHeader(rec))
}

// keepContent completes handle's before-image with the content of rec,
// the handle's current record, before the transaction drops it. Until
// then only the state may have changed, so the content is the original.
func (tx *boltTx) keepContent(handle string, rec []byte) {
	b, ok := tx.touched[handle]
	if !ok || !b.headOnly || len(rec) < fileRecFixedLen {
		return
	}
	srcLen := int(binary.BigEndian.Uint16(rec[54:]))
	b.rec = append(b.rec, rec[fileRecFixedLen+srcLen:]...)
	b.headOnly = false
	tx.touched[handle] = b
}

// writeChanges stores the change records of generation gen, in handle
// order. A handle that ends as it began gets none.
func (tx *boltTx) writeChanges(gen uint64) error {
	bk, err := tx.btx.CreateBucketIfNotExists(bucketChanges)
	if err != nil {
		return err
	}
	bk.FillPercent = 0.9
	// The handles in the order first touched: an import touches them in
	// handle order already, and then needs no sort.
	handles := tx.touchOrder
	if !slices.IsSorted(handles) {
		handles = slices.Clone(handles)
		slices.Sort(handles)
	}
	for _, h := range handles {
		b := tx.touched[h]
		after, cached := tx.afters[h]
		if b.rec != nil || !cached {
			// Only a handle that was absent needs no more than the
			// header after.
			tx.hkey = append(tx.hkey[:0], h...)
			after = tx.fileRecord(tx.hkey)
		}
		if b.headOnly && after != nil && len(after) >= fileRecFixedLen && sameHeader(b.rec, recordHeader(after)) ||
			!b.headOnly && b.rec != nil && bytes.Equal(b.rec, after) {
			continue
		}
		if b.headOnly && (after == nil || len(after) < fileRecFixedLen || !bytes.Equal(b.rec[18:50], after[18:50])) {
			return fmt.Errorf("file %q: change record lost the content it replaced: %w", h, catalog.ErrCorrupt)
		}
		if b.rec == nil && after == nil && bytes.Equal(b.deleted, tx.deletedRecord(h)) {
			continue
		}
		// bbolt keeps the value until the commit (slab); it copies the key.
		v := tx.values.take(changeRecFixedLen + len(b.rec) + len(b.deleted))[:changeRecFixedLen]
		clear(v)
		v[0] = changeRecVersion
		img := b.rec
		if b.rec != nil {
			v[1] = b.rec[1]
		}
		if after != nil {
			if len(after) < fileRecFixedLen {
				return fmt.Errorf("file %q: malformed record: %w", h, catalog.ErrCorrupt)
			}
			v[2] = after[1]
			copy(v[4:36], after[18:50])
			if img != nil && bytes.Equal(img[18:50], after[18:50]) {
				v[3] |= changeContentSame
				if !b.headOnly {
					img = recordHeader(img)
				}
			}
		}
		binary.BigEndian.PutUint32(v[36:], uint32(len(img)))
		v = append(v, img...)
		v = append(v, b.deleted...)
		tx.hkey = appendChangeKey(tx.hkey[:0], gen, h)
		if err := bk.Put(tx.hkey, v); err != nil {
			return err
		}
	}
	return nil
}

// sameHeader reports whether two record headers are equal but for their
// version (a chunked record's image is a version 1 record).
func sameHeader(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && bytes.Equal(a[1:], b[1:])
}

// recordHeader returns a file record without its content.
func recordHeader(rec []byte) []byte {
	srcLen := int(binary.BigEndian.Uint16(rec[54:]))
	return rec[:fileRecFixedLen+srcLen]
}

func changeKey(gen uint64, handle string) []byte {
	return appendChangeKey(make([]byte, 0, 8+len(handle)), gen, handle)
}

func appendChangeKey(k []byte, gen uint64, handle string) []byte {
	k = binary.BigEndian.AppendUint64(k, gen)
	return append(k, handle...)
}

// change is a decoded change record.
type change struct {
	handle      string
	stateBefore catalog.State // 0: absent
	stateAfter  catalog.State // 0: absent
	flags       byte
	shaAfter    [32]byte
	image       []byte // before-image file record (content maybe left out)
	deleted     []byte // deleted record before, nil if none
}

func decodeChange(k, v []byte) (*change, error) {
	if len(k) < 8 || len(v) < changeRecFixedLen || v[0] != changeRecVersion {
		return nil, fmt.Errorf("change record %x: malformed: %w", k, catalog.ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint32(v[36:]))
	if len(v) < changeRecFixedLen+n {
		return nil, fmt.Errorf("change record %x: malformed: %w", k, catalog.ErrCorrupt)
	}
	c := &change{handle: string(k[8:]), stateBefore: catalog.State(v[1]), stateAfter: catalog.State(v[2]), flags: v[3]}
	copy(c.shaAfter[:], v[4:36])
	c.image = bytes.Clone(v[changeRecFixedLen : changeRecFixedLen+n])
	if rest := v[changeRecFixedLen+n:]; len(rest) > 0 {
		c.deleted = bytes.Clone(rest)
	}
	return c, nil
}

// changesOf returns the change records of generation gen in handle order.
func (tx *boltTx) changesOf(gen uint64) ([]*change, error) {
	bk := tx.btx.Bucket(bucketChanges)
	if bk == nil {
		return nil, nil
	}
	prefix := u64(gen)
	var out []*change
	c := bk.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) == len(prefix) {
			continue // a purge's tombstone
		}
		ch, err := decodeChange(k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, nil
}

func (tx *boltTx) deletedRecord(handle string) []byte {
	bk := tx.btx.Bucket(bucketDeleted)
	if bk == nil {
		return nil
	}
	return bk.Get([]byte(handle))
}

func encodeDeleted(f *catalog.File, gen uint64, at time.Time) []byte {
	v := make([]byte, deletedRecLen)
	v[0] = deletedRecVersion
	v[1] = byte(f.State)
	binary.BigEndian.PutUint64(v[2:], gen)
	binary.BigEndian.PutUint64(v[10:], uint64(at.UnixNano()))
	copy(v[18:50], f.SHA256[:])
	binary.BigEndian.PutUint64(v[50:], uint64(f.Size))
	return v
}

func (tx *boltTx) decodeDeleted(handle string, v []byte) (*catalog.DeletedFile, error) {
	if len(v) != deletedRecLen || v[0] != deletedRecVersion {
		return nil, fmt.Errorf("deleted record %q: malformed: %w", handle, catalog.ErrCorrupt)
	}
	d := &catalog.DeletedFile{
		Handle:     handle,
		State:      catalog.State(v[1]),
		Generation: binary.BigEndian.Uint64(v[2:]),
		DeletedAt:  unixNano(binary.BigEndian.Uint64(v[10:])),
		Size:       int(binary.BigEndian.Uint64(v[50:])),
	}
	copy(d.SHA256[:], v[18:50])
	if bk := tx.btx.Bucket(bucketChanges); bk != nil {
		if cv := bk.Get(changeKey(d.Generation, handle)); cv != nil {
			ch, err := decodeChange(changeKey(d.Generation, handle), cv)
			if err != nil {
				return nil, err
			}
			d.Retained = ch.flags&changeContentSame == 0 && len(ch.image) > 0
		}
	}
	return d, nil
}

// DeletedFiles calls fn for every file recorded as deleted, in handle
// order. A handle that was deleted and later added again is not listed.
func (tx *boltTx) DeletedFiles(fn func(*catalog.DeletedFile) error) error {
	bk := tx.btx.Bucket(bucketDeleted)
	if bk == nil {
		return nil
	}
	c := bk.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		d, err := tx.decodeDeleted(string(k), v)
		if err != nil {
			return err
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

// Deleted returns the deleted record of handle, or an error wrapping
// ErrNotFound if the catalog has no record of deleting it (or holds the
// file again).
func (tx *boltTx) Deleted(handle string) (*catalog.DeletedFile, error) {
	v := tx.deletedRecord(handle)
	if v == nil {
		return nil, fmt.Errorf("deleted file %q: %w", handle, catalog.ErrNotFound)
	}
	return tx.decodeDeleted(handle, v)
}

// DeletedContent returns the content of the deleted file handle, kept in
// the change record of the deleting generation until a cleanup purges it.
func (tx *boltTx) DeletedContent(handle string) ([]byte, error) {
	v := tx.deletedRecord(handle)
	if v == nil {
		return nil, fmt.Errorf("deleted file %q: %w", handle, catalog.ErrNotFound)
	}
	d, err := tx.decodeDeleted(handle, v)
	if err != nil {
		return nil, err
	}
	bk := tx.btx.Bucket(bucketChanges)
	var cv []byte
	if bk != nil {
		cv = bk.Get(changeKey(d.Generation, handle))
	}
	if cv == nil {
		return nil, fmt.Errorf("deleted file %q: content purged after the undo window: %w", handle, catalog.ErrNotFound)
	}
	ch, err := decodeChange(changeKey(d.Generation, handle), cv)
	if err != nil {
		return nil, err
	}
	if ch.flags&changeContentSame != 0 || len(ch.image) == 0 {
		return nil, fmt.Errorf("deleted file %q: content not retained: %w", handle, catalog.ErrNotFound)
	}
	f, err := decodeFileRecord(handle, ch.image, true)
	if err != nil {
		return nil, err
	}
	if f.SHA256 != d.SHA256 {
		return nil, fmt.Errorf("deleted file %q: retained content does not match its deleted record: %w", handle, catalog.ErrCorrupt)
	}
	return f.Content, nil
}

// setDeleted records handle as deleted (v non-nil) or clears the record.
func (tx *boltTx) setDeleted(handle string, v []byte) error {
	bk := tx.btx.Bucket(bucketDeleted)
	if v == nil {
		if bk == nil {
			return nil
		}
		return bk.Delete([]byte(handle))
	}
	bk, err := tx.btx.CreateBucketIfNotExists(bucketDeleted)
	if err != nil {
		return err
	}
	return bk.Put([]byte(handle), v)
}

// PurgeRetained drops the change records (content included) of every
// operation committed before cutoff, oldest first, and returns how many
// it dropped. Those operations can no longer be undone: each leaves a
// tombstone naming the purging generation, so undo says so. Deleted
// records stay (DeletedFile.Retained becomes false). Cleanup calls it with
// now minus the grace period (DefaultRetention unless told otherwise), so
// the change records a catalog keeps are bounded by what one grace period
// writes.
func (tx *boltTx) PurgeRetained(cutoff time.Time) (int, error) {
	bk := tx.btx.Bucket(bucketChanges)
	if bk == nil {
		return 0, nil
	}
	meta := tx.btx.Bucket(bucketMeta)
	var from uint64
	if v := meta.Get(keyPurgedThrough); len(v) == 8 {
		from = binary.BigEndian.Uint64(v)
	}
	journal := tx.btx.Bucket(bucketJournal)
	through := from
	purged := 0
	jc := journal.Cursor()
	for k, v := jc.Seek(u64(from + 1)); k != nil; k, v = jc.Next() {
		var op struct {
			Time time.Time `json:"time"`
		}
		if err := json.Unmarshal(v, &op); err != nil {
			return 0, fmt.Errorf("read journal record %x: %w: %w", k, catalog.ErrCorrupt, err)
		}
		if !op.Time.Before(cutoff) {
			break
		}
		gen := binary.BigEndian.Uint64(k)
		prefix := u64(gen)
		var keys [][]byte
		c := bk.Cursor()
		for ck, _ := c.Seek(prefix); ck != nil && bytes.HasPrefix(ck, prefix); ck, _ = c.Next() {
			if len(ck) > len(prefix) {
				keys = append(keys, bytes.Clone(ck))
			}
		}
		for _, ck := range keys {
			if err := bk.Delete(ck); err != nil {
				return 0, err
			}
		}
		purged += len(keys)
		if len(keys) > 0 {
			// The tombstone: generation | "" -> the purging generation.
			if err := bk.Put(prefix, u64(tx.gen+1)); err != nil {
				return 0, err
			}
		}
		through = gen
	}
	if through != from {
		if err := meta.Put(keyPurgedThrough, u64(through)); err != nil {
			return 0, err
		}
		tx.op.Purged += purged
	}
	return purged, nil
}

// purgedBy returns the generation whose cleanup purged gen's change
// records, if one did.
func (tx *boltTx) purgedBy(gen uint64) (uint64, bool) {
	bk := tx.btx.Bucket(bucketChanges)
	if bk == nil {
		return 0, false
	}
	v := bk.Get(u64(gen))
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}
