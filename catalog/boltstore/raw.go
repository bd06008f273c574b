package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/metactl/metactl/catalog"
	bolt "go.etcd.io/bbolt"
)

// Raw key access, for a backend that keeps this package's buckets in
// another store key for key (package etcdstore): it runs every write on a
// local copy of the catalog with this package's own transaction code and
// ships only the keys the write changed.

// RawKV is one key of one bucket. Value nil means the key is absent
// (deleted, in a Diff).
type RawKV struct {
	Bucket string
	Key    []byte
	Value  []byte
	Old    []byte // in a Diff: the value before the write (nil: none)
	// Content, set only by DiffBulk for a file record whose content is
	// stored in chunks, reads that content (ContentSize bytes), piece by
	// piece, in order; Value is then the record's header alone. It is
	// valid only during the report call.
	Content     func(fn func(piece []byte) error) error
	ContentSize int
	// OldHeaderOnly, set only by DiffBulk: Old is the header alone of a
	// record whose content (OldContentSize bytes) was stored in chunks.
	OldHeaderOnly  bool
	OldContentSize int
}

// RawDB is implemented by the DB that [catalog.Open] returns for a file.
type RawDB interface {
	catalog.DB
	// PutRaw writes kvs (Value nil: delete) in one transaction, creating
	// buckets as needed. It bypasses every check, the generation and the
	// journal: it is for copying a catalog in, key by key.
	PutRaw(kvs []RawKV) error
	// ForEachRaw calls fn for every key of every bucket, buckets in name
	// order, keys in byte order. Values are valid only during the call.
	// A big file's record comes with its content inline (version 1), and
	// the bucket of its chunks is not listed; Diff reports the same way.
	ForEachRaw(fn func(RawKV) error) error
	// Diff runs write (an Update, Undo or RestoreHistory of this DB) and
	// calls report for every key it changed, with the key's new value
	// (nil: deleted), buckets in name order and keys in byte order.
	// Buckets the write did not touch are not read.
	Diff(ctx context.Context, write func() error, report func(RawKV) error) error
}

// PutRaw implements RawDB.
func (db *boltDB) PutRaw(kvs []RawKV) error {
	return guard(func() error {
		return db.bdb.Update(func(btx *bolt.Tx) error {
			for _, kv := range kvs {
				b, err := btx.CreateBucketIfNotExists([]byte(kv.Bucket))
				if err != nil {
					return fmt.Errorf("put raw key in bucket %q: %w", kv.Bucket, err)
				}
				if kv.Value == nil {
					err = b.Delete(kv.Key)
				} else {
					b.FillPercent = 0.9
					err = b.Put(kv.Key, kv.Value)
				}
				if err != nil {
					return fmt.Errorf("put raw key %q in bucket %q: %w", kv.Key, kv.Bucket, err)
				}
			}
			return nil
		})
	})
}

// ForEachRaw implements RawDB.
func (db *boltDB) ForEachRaw(fn func(RawKV) error) error {
	return db.view(func(btx *bolt.Tx) error {
		return btx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if bytes.Equal(name, bucketChunks) {
				return nil // in the files' records (inlineRecord)
			}
			files := bytes.Equal(name, bucketFiles)
			return b.ForEach(func(k, v []byte) error {
				if v == nil {
					return nil // a nested bucket: the schema has none
				}
				if files {
					var err error
					if v, err = inlineRecord(btx, string(k), v); err != nil {
						return err
					}
				}
				return fn(RawKV{Bucket: string(name), Key: k, Value: v})
			})
		})
	})
}

// Diff implements RawDB. It holds a read transaction on the state before
// the write while the write runs (bbolt's MVCC keeps its pages), then
// walks the buckets whose root page changed side by side. A writable open
// maps writerMmapSize up front, so the write does not need to remap while
// the read transaction is open (which would wait for it forever) unless
// the file outgrows that.
func (db *boltDB) Diff(ctx context.Context, write func() error, report func(RawKV) error) error {
	before, err := db.bdb.Begin(false)
	if err != nil {
		return err
	}
	defer before.Rollback()
	if err := write(); err != nil {
		return err
	}
	return db.view(func(after *bolt.Tx) error {
		names := map[string]bool{}
		collect := func(name []byte, _ *bolt.Bucket) error { names[string(name)] = true; return nil }
		if err := before.ForEach(collect); err != nil {
			return err
		}
		if err := after.ForEach(collect); err != nil {
			return err
		}
		sorted := make([]string, 0, len(names))
		for n := range names {
			sorted = append(sorted, n)
		}
		slices.Sort(sorted)
		for _, n := range sorted {
			if err := ctx.Err(); err != nil {
				return err
			}
			rep := report
			switch n {
			case string(bucketChunks):
				continue // in the files' records
			case string(bucketFiles):
				// A chunked record is reported as the version 1 record it
				// stands for: another backend never sees chunks.
				rep = func(kv RawKV) error {
					var err error
					if kv.Value, err = inlineRecord(after, string(kv.Key), kv.Value); err != nil {
						return err
					}
					if kv.Old, err = inlineRecord(before, string(kv.Key), kv.Old); err != nil {
						return err
					}
					return report(kv)
				}
			}
			if err := diffBucket(n, before.Bucket([]byte(n)), after.Bucket([]byte(n)), rep); err != nil {
				return err
			}
		}
		return nil
	})
}

func diffBucket(name string, a, b *bolt.Bucket, report func(RawKV) error) error {
	if a != nil && b != nil && a.Root() != 0 && a.Root() == b.Root() {
		// Copy-on-write: an untouched bucket keeps its root page (an
		// inline bucket, root 0, lives in its parent's page: compare it).
		return nil
	}
	var ca, cb *bolt.Cursor
	var ka, va, kb, vb []byte
	if a != nil {
		ca = a.Cursor()
		ka, va = ca.First()
	}
	if b != nil {
		cb = b.Cursor()
		kb, vb = cb.First()
	}
	for ka != nil || kb != nil {
		c := mergeOrder(ka, kb)
		switch {
		case c < 0: // deleted
			if err := report(RawKV{Bucket: name, Key: ka, Old: va}); err != nil {
				return err
			}
			ka, va = ca.Next()
		case c > 0: // added
			if vb != nil {
				if err := report(RawKV{Bucket: name, Key: kb, Value: vb}); err != nil {
					return err
				}
			}
			kb, vb = cb.Next()
		default:
			// Values on a page both versions share are the same bytes.
			same := len(va) == len(vb) && (len(va) == 0 || &va[0] == &vb[0] || bytes.Equal(va, vb))
			if !same && vb != nil {
				if err := report(RawKV{Bucket: name, Key: kb, Value: vb, Old: va}); err != nil {
					return err
				}
			}
			ka, va = ca.Next()
			kb, vb = cb.Next()
		}
	}
	return nil
}

// FileRecordHeaderLen returns how many leading bytes of a files-bucket
// value are the record's header (state, times, digest, provenance); the
// rest is the file's content. It returns -1 for a malformed record.
func FileRecordHeaderLen(v []byte) int {
	if len(v) < fileRecFixedLen || v[0] != fileRecVersion {
		return -1
	}
	n := fileRecFixedLen + (int(v[54])<<8 | int(v[55]))
	if n > len(v) {
		return -1
	}
	return n
}

// DecodeFileRecord decodes a files-bucket value (as FileRecordHeaderLen
// splits it: header, then content) into a File. With withContent false,
// v may be the header alone.
func DecodeFileRecord(handle string, v []byte, withContent bool) (*catalog.File, error) {
	return decodeFileRecord(handle, v, withContent)
}

// Names of the buckets another backend needs to know.
const (
	RawBucketFiles   = "files"
	RawBucketJournal = "journal"
	RawBucketMeta    = "meta"
	// RawBucketEntries is the view index (entry key -> live count).
	RawBucketEntries = "entries"
	// RawBucketChanges holds the change records, keyed by generation
	// first: a record of a generation not yet committed is reached by
	// nothing (undo and log go through the journal).
	RawBucketChanges = "changes"
)

// mergeOrder compares the next keys of two cursors walked side by side
// (a before, b after), a nil key being past the end: < 0 when ka comes
// first (deleted), > 0 when kb does (added), 0 for the same key.
func mergeOrder(ka, kb []byte) int {
	switch {
	case ka == nil:
		return 1
	case kb == nil:
		return -1
	}
	return bytes.Compare(ka, kb)
}
