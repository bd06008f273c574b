package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/metactl/metactl/catalog"
)

// Big files: a file whose content is larger than maxInline is stored in
// chunks (keys.go, record version 2), so that no bbolt value is larger
// than chunkSize. bbolt keeps a Put's value until the commit and then
// allocates the value's pages in one piece: a 150 MB file in one value
// was twice its size in memory at the commit, however the rest was
// bounded. In chunks, a bulk transaction (Create, UpdateBulk) commits
// them as it goes, a checkpoint's worth at a time.
//
// Only this file and the record codec know: File and ForEachFile return
// the content whole, the raw access of another backend (raw.go) sees
// version 1 records and no chunks bucket, and before-images (changes.go)
// hold version 1 records.
const (
	maxInline = 4 << 20
	chunkSize = 64 << 10
)

// isChunked reports whether a files-bucket value is a version 2 record.
func isChunked(v []byte) bool { return len(v) > 0 && v[0] == fileRecChunked }

// chunkKey returns the key of chunk i of handle's content.
func chunkKey(dst []byte, handle string, i int) []byte {
	dst = append(append(dst, handle...), 0)
	return binary.BigEndian.AppendUint32(dst, uint32(i))
}

// decodeFile is decodeFileRecord that reads a chunked file's content.
func (tx *boltTx) decodeFile(handle string, v []byte, withContent bool) (*catalog.File, error) {
	return decodeFileIn(tx.btx, handle, v, withContent)
}

func decodeFileIn(btx *bolt.Tx, handle string, v []byte, withContent bool) (*catalog.File, error) {
	if !isChunked(v) {
		return decodeFileRecord(handle, v, withContent)
	}
	f, err := decodeFileRecord(handle, v, false)
	if err != nil || !withContent {
		return f, err
	}
	f.Content, err = readChunks(btx, handle, f.Size)
	return f, err
}

// readChunks returns a copy of handle's chunked content of size bytes.
func readChunks(btx *bolt.Tx, handle string, size int) ([]byte, error) {
	bk := btx.Bucket(bucketChunks)
	if bk == nil {
		return nil, fmt.Errorf("file %q: content chunks missing: %w", handle, catalog.ErrCorrupt)
	}
	out := make([]byte, 0, size)
	prefix := append([]byte(handle), 0)
	c := bk.Cursor()
	i := 0
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+4 || binary.BigEndian.Uint32(k[len(prefix):]) != uint32(i) || len(out)+len(v) > size {
			return nil, fmt.Errorf("file %q: content chunk %d malformed: %w", handle, i, catalog.ErrCorrupt)
		}
		out = append(out, v...)
		i++
	}
	if len(out) != size {
		return nil, fmt.Errorf("file %q: content chunks hold %d of %d bytes: %w", handle, len(out), size, catalog.ErrCorrupt)
	}
	return out, nil
}

// putChunks stores content as handle's chunks (the record is the
// caller's). In a bulk transaction it checkpoints as it goes, so the
// chunks' pages are written a checkpoint's worth at a time: the caller
// must not hold any slice bbolt owns across the call, nor a bucket.
func (tx *boltTx) putChunks(handle string, content []byte) error {
	if err := raiseSchema(tx.btx, schemaChunks); err != nil {
		return fmt.Errorf("put %q: %w", handle, err)
	}
	var key []byte
	for i := 0; i*chunkSize < len(content); i++ {
		bk, err := tx.btx.CreateBucketIfNotExists(bucketChunks)
		if err != nil {
			return err
		}
		bk.FillPercent = 0.9
		chunk := content[i*chunkSize : min(len(content), (i+1)*chunkSize)]
		key = chunkKey(key[:0], handle, i)
		// bbolt keeps the value until the commit, and PutFile keeps no
		// reference to the caller's content: a copy, dropped at the
		// next checkpoint.
		if err := bk.Put(key, tx.values.clone(chunk)); err != nil {
			return fmt.Errorf("put %q: content chunk %d: %w", handle, i, err)
		}
		tx.written += len(key) + len(chunk)
		if tx.bulk != nil && tx.written >= tx.bulk.limit {
			if err := tx.commitAndBegin(); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteChunks removes handle's chunks.
func (tx *boltTx) deleteChunks(handle string) error {
	bk := tx.btx.Bucket(bucketChunks)
	if bk == nil {
		return nil
	}
	prefix := append([]byte(handle), 0)
	c := bk.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := bk.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// inlineRecord returns a chunked record as the version 1 record it stands
// for (content inline), for before-images and other backends; other
// records as they are.
func inlineRecord(btx *bolt.Tx, handle string, v []byte) ([]byte, error) {
	if !isChunked(v) {
		return v, nil
	}
	f, err := decodeFileIn(btx, handle, v, true)
	if err != nil {
		return nil, err
	}
	return appendFileRecord(make([]byte, 0, fileRecordLen(f)), f), nil
}

// raiseSchema records that the catalog now uses version v's layout, if its
// schema version is older.
func raiseSchema(btx *bolt.Tx, v uint32) error {
	meta := btx.Bucket(bucketMeta)
	if cur := meta.Get(keySchemaVersion); len(cur) == 4 && binary.BigEndian.Uint32(cur) >= v {
		return nil
	}
	if err := meta.Put(keySchemaVersion, binary.BigEndian.AppendUint32(nil, v)); err != nil {
		return fmt.Errorf("schema version %d: %w", v, err)
	}
	return nil
}
