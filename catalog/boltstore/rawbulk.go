package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/metactl/metactl/catalog"
)

// Bulk raw access: the large writes of a backend that keeps this
// package's buckets in another store (package etcdstore), in bounded
// memory. DiffBulk runs the write as UpdateBulk does, on a scratch copy
// with checkpoints, and reports its changes from the two files, reading
// them in bounded runs: every page of a file a process reads through
// bbolt's mapping stays in its resident set until the mapping goes, so
// between two runs both files are mapped afresh (see commitAndBegin).

// runBytes is how much of the files one run of DiffBulk or ScanRaw reads
// through the mappings before it maps them afresh: what a bulk
// transaction writes between two mappings of its scratch file.
func (db *boltDB) runBytes() int { return newBulkState(&db.opts, "").remap }

// RawBulkDB is implemented by the DB that [catalog.Open] returns for a
// file: the bounded-memory forms of RawDB's Diff and ForEachRaw.
type RawBulkDB interface {
	RawDB
	// DiffBulk runs fn as UpdateBulk does (on a scratch copy of the file,
	// with checkpoints) and, if it changed something, calls report for
	// every key it changed, as Diff does, before replacing the file with
	// the scratch copy. If fn or report fails, the file is left as it was.
	// A file record whose content is stored in chunks is reported with
	// its header alone (RawKV.Content reads the content), an old one with
	// its header alone too (RawKV.OldHeaderOnly), so that no value as
	// large as a file is held. Values are valid only during the call.
	DiffBulk(ctx context.Context, kind catalog.Kind, fn func(catalog.BulkWriteTx) error, report func(RawKV) error) (*catalog.Operation, error)
	// ScanRaw calls fn for every key of bucket in byte order, in runs of
	// bounded size with the file mapped afresh between them. k and v are
	// valid only during the call.
	ScanRaw(ctx context.Context, bucket string, fn func(k, v []byte) error) error
}

var _ RawBulkDB = (*boltDB)(nil)

// ScanRaw implements RawBulkDB.
func (db *boltDB) ScanRaw(ctx context.Context, bucket string, fn func(k, v []byte) error) error {
	var last []byte
	for {
		done := true
		err := db.view(func(btx *bolt.Tx) error {
			b := btx.Bucket([]byte(bucket))
			if b == nil {
				return nil
			}
			c := b.Cursor()
			k, v := c.First()
			if last != nil {
				if k, v = c.Seek(last); k != nil && bytes.Equal(k, last) {
					k, v = c.Next()
				}
			}
			read := 0
			for ; k != nil; k, v = c.Next() {
				if v == nil {
					continue // a nested bucket: the schema has none
				}
				if err := fn(k, v); err != nil {
					return err
				}
				if read += len(k) + len(v); read >= db.runBytes() {
					last, done = append(last[:0], k...), false
					return ctx.Err()
				}
			}
			return nil
		})
		if err != nil || done {
			return err
		}
		if err := db.reopen(); err != nil {
			return err
		}
	}
}

// DiffBulk implements RawBulkDB.
func (db *boltDB) DiffBulk(ctx context.Context, kind catalog.Kind, fn func(catalog.BulkWriteTx) error, report func(RawKV) error) (*catalog.Operation, error) {
	target, scratch, op, err := db.writeScratch(ctx, kind, fn, false, func(sdb *boltDB) error {
		return diffFiles(ctx, db, sdb, report)
	})
	if err != nil || scratch == "" {
		return op, err
	}
	// No fsync: the file is a copy of a catalog kept elsewhere.
	if err := os.Rename(scratch, target); err != nil {
		_ = os.Remove(scratch)
		return nil, fmt.Errorf("%s: replace the catalog with its scratch copy: %w", kind, err)
	}
	if err := db.reopen(); err != nil {
		return nil, err
	}
	return op, nil
}

// diffFiles reports the keys that differ between a (before) and b (after),
// as Diff does, in runs of at most runBytes read from the two files,
// both mapped afresh between runs. A run also ends before a file record
// in chunks, whose content is then read in runs of its own.
func diffFiles(ctx context.Context, a, b *boltDB, report func(RawKV) error) error {
	var names []string
	err := a.view(func(ta *bolt.Tx) error {
		return b.view(func(tb *bolt.Tx) error {
			seen := map[string]bool{}
			collect := func(name []byte, _ *bolt.Bucket) error {
				if !seen[string(name)] {
					seen[string(name)] = true
					names = append(names, string(name))
				}
				return nil
			}
			if err := ta.ForEach(collect); err != nil {
				return err
			}
			return tb.ForEach(collect)
		})
	})
	if err != nil {
		return err
	}
	slices.Sort(names)
	remap := func() error {
		if err := a.reopen(); err != nil {
			return err
		}
		return b.remapScratch()
	}
	for _, n := range names {
		if n == string(bucketChunks) {
			continue // in the files' records
		}
		var last []byte
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			var deferred *RawKV // a record in chunks, reported between runs
			done := true
			err := a.view(func(ta *bolt.Tx) error {
				return b.view(func(tb *bolt.Tx) error {
					var err error
					done, deferred, err = diffRun(n, ta, tb, &last, b.runBytes(), report)
					return err
				})
			})
			if err != nil {
				return err
			}
			if deferred != nil {
				if err := remap(); err != nil {
					return err
				}
				handle, size := string(deferred.Key), deferred.ContentSize
				deferred.Content = func(fn func([]byte) error) error { return b.readChunksBounded(handle, size, fn) }
				if err := report(*deferred); err != nil {
					return err
				}
			}
			if done {
				break
			}
			if err := remap(); err != nil {
				return err
			}
		}
	}
	return remap() // what the runs left mapped
}

// diffRun walks bucket name of ta and tb from the key after *last, as
// diffBucket does, until it has read runBytes or meets a changed file
// record in chunks (returned, copied, for the caller to report once the
// transactions are closed). done reports that the bucket is finished.
func diffRun(name string, ta, tb *bolt.Tx, last *[]byte, runBytes int, report func(RawKV) error) (done bool, deferred *RawKV, err error) {
	// No shortcut on equal root pages, as Diff takes: ta and tb are two
	// files, and the scratch file's bulk write ran in several
	// transactions, so a bucket it changed can have a new root on the
	// page number its old root had (a page freed by one checkpoint and
	// reused by the next). Every bucket is compared key by key.
	ba, bb := ta.Bucket([]byte(name)), tb.Bucket([]byte(name))
	files := name == string(bucketFiles)
	seek := func(b *bolt.Bucket) (*bolt.Cursor, []byte, []byte) {
		if b == nil {
			return nil, nil, nil
		}
		c := b.Cursor()
		if *last == nil {
			k, v := c.First()
			return c, k, v
		}
		k, v := c.Seek(*last)
		if k != nil && bytes.Equal(k, *last) {
			k, v = c.Next()
		}
		return c, k, v
	}
	ca, ka, va := seek(ba)
	cb, kb, vb := seek(bb)
	read := 0
	for ka != nil || kb != nil {
		c := mergeOrder(ka, kb)
		var kv *RawKV
		key := ka
		switch {
		case c < 0: // deleted
			kv = &RawKV{Bucket: name, Key: ka, Old: va}
		case c > 0: // added
			key = kb
			if vb != nil {
				kv = &RawKV{Bucket: name, Key: kb, Value: vb}
			}
		default:
			same := len(va) == len(vb) && (len(va) == 0 || &va[0] == &vb[0] || bytes.Equal(va, vb))
			if !same && vb != nil {
				kv = &RawKV{Bucket: name, Key: kb, Value: vb, Old: va}
			}
		}
		read += len(key) + len(va) + len(vb)
		if kv != nil {
			if files {
				if isChunked(kv.Old) {
					kv.Old, kv.OldContentSize = chunkedHeader(kv.Old)
					kv.OldHeaderOnly = true
				}
				if isChunked(kv.Value) {
					d := &RawKV{Bucket: name, Key: bytes.Clone(kv.Key), Old: bytes.Clone(kv.Old), // Old: a copy, or a header
						OldContentSize: kv.OldContentSize, OldHeaderOnly: kv.OldHeaderOnly}
					d.Value, d.ContentSize = chunkedHeader(kv.Value)
					*last = append((*last)[:0], key...)
					return false, d, nil
				}
			}
			if err := report(*kv); err != nil {
				return false, nil, err
			}
		}
		if c <= 0 {
			ka, va = ca.Next()
		}
		if c >= 0 {
			kb, vb = cb.Next()
		}
		if read >= runBytes {
			*last = append((*last)[:0], key...)
			return false, nil, nil
		}
	}
	return true, nil, nil
}

// chunkedHeader returns the version 1 header of a version 2 (chunked)
// record v, and the size of its content.
func chunkedHeader(v []byte) (header []byte, size int) {
	h := append([]byte(nil), v[:len(v)-8]...)
	h[0] = fileRecVersion
	return h, int(binary.BigEndian.Uint64(v[len(v)-8:]))
}

// readChunksBounded calls fn with the chunks of handle's content (size
// bytes) in order, in runs of at most runBytes, the file mapped afresh
// between them (db is a scratch file).
func (db *boltDB) readChunksBounded(handle string, size int, fn func([]byte) error) error {
	prefix := append([]byte(handle), 0)
	i, got := 0, 0
	for {
		done := true
		err := db.view(func(btx *bolt.Tx) error {
			bk := btx.Bucket(bucketChunks)
			if bk == nil {
				return fmt.Errorf("file %q: content chunks missing: %w", handle, catalog.ErrCorrupt)
			}
			c := bk.Cursor()
			read := 0
			for k, v := c.Seek(chunkKey(nil, handle, i)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				if len(k) != len(prefix)+4 || binary.BigEndian.Uint32(k[len(prefix):]) != uint32(i) || got+len(v) > size {
					return fmt.Errorf("file %q: content chunk %d malformed: %w", handle, i, catalog.ErrCorrupt)
				}
				if err := fn(v); err != nil {
					return err
				}
				got += len(v)
				i++
				if read += len(v); read >= db.runBytes() {
					done = false
					return nil
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if done {
			break
		}
		if err := db.remapScratch(); err != nil {
			return err
		}
	}
	if got != size {
		return fmt.Errorf("file %q: content chunks hold %d of %d bytes: %w", handle, got, size, catalog.ErrCorrupt)
	}
	return nil
}
