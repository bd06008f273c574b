package boltstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/metactl/metactl/catalog"
)

// Quarantine record (bucket quarantine, key handle), version 1. The bucket
// came with import --quarantine; catalogs without it read as holding no
// quarantined file, and the first quarantine creates it (schema version
// unchanged, as for the changes and deleted buckets).
//
//	0      1  record version (1)
//	1      1  state: the folder that held it (1 metadata/, 2 metadata_backup/)
//	2      8  recorded at, unix nanoseconds
//	10    32  SHA-256 of the content
//	42     2  length E of the error, u16
//	44     E  error
//	44+E   2  length S of the source, u16
//	46+E   S  source
//	46+E+S -  content
const (
	quarantineRecVersion = 1
	maxQuarantineText    = 1<<16 - 1
)

func encodeQuarantine(q *catalog.QuarantinedFile) []byte {
	clip := func(s string) string {
		if len(s) > maxQuarantineText {
			return s[:maxQuarantineText]
		}
		return s
	}
	e, src := clip(q.Error), clip(q.Source)
	b := make([]byte, 0, 46+len(e)+len(src)+len(q.Content))
	b = append(b, quarantineRecVersion, byte(q.State))
	b = binary.BigEndian.AppendUint64(b, uint64(q.At.UnixNano()))
	b = append(b, q.SHA256[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
	b = append(b, e...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(src)))
	b = append(b, src...)
	return append(b, q.Content...)
}

func decodeQuarantine(handle string, v []byte) (*catalog.QuarantinedFile, error) {
	bad := fmt.Errorf("quarantine record %q: malformed: %w", handle, catalog.ErrCorrupt)
	if len(v) < 46 || v[0] != quarantineRecVersion {
		return nil, bad
	}
	q := &catalog.QuarantinedFile{Handle: handle, State: catalog.State(v[1]), At: unixNano(binary.BigEndian.Uint64(v[2:]))}
	copy(q.SHA256[:], v[10:42])
	n := int(binary.BigEndian.Uint16(v[42:]))
	if len(v) < 46+n {
		return nil, bad
	}
	q.Error = string(v[44 : 44+n])
	rest := v[44+n:]
	m := int(binary.BigEndian.Uint16(rest))
	if len(rest) < 2+m {
		return nil, bad
	}
	q.Source = string(rest[2 : 2+m])
	if c := rest[2+m:]; len(c) > 0 {
		q.Content = bytes.Clone(c)
	}
	return q, nil
}

// QuarantinedFiles calls fn for every quarantine record, in handle order.
func (tx *boltTx) QuarantinedFiles(fn func(*catalog.QuarantinedFile) error) error {
	bk := tx.btx.Bucket(bucketQuarantine)
	if bk == nil {
		return nil
	}
	c := bk.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		q, err := decodeQuarantine(string(k), v)
		if err != nil {
			return err
		}
		if err := fn(q); err != nil {
			return err
		}
	}
	return nil
}

// Quarantine records q (see [catalog.WriteTx]).
func (tx *boltTx) Quarantine(q catalog.QuarantinedFile) error {
	if q.State != catalog.Live && q.State != catalog.Moved {
		return fmt.Errorf("quarantine %q: invalid state %d", q.Handle, q.State)
	}
	if q.Handle == "" {
		return fmt.Errorf("quarantine: empty handle")
	}
	q.SHA256 = sha256.Sum256(q.Content)
	if bk := tx.btx.Bucket(bucketQuarantine); bk != nil {
		if v := bk.Get([]byte(q.Handle)); v != nil {
			old, err := decodeQuarantine(q.Handle, v)
			if err != nil {
				return err
			}
			if old.SHA256 == q.SHA256 && old.Error == q.Error && old.State == q.State {
				return nil // the same file, the same error: nothing new
			}
		}
	}
	q.At = tx.now
	bk, err := tx.btx.CreateBucketIfNotExists(bucketQuarantine)
	if err != nil {
		return err
	}
	if err := bk.Put([]byte(q.Handle), encodeQuarantine(&q)); err != nil {
		return fmt.Errorf("quarantine %q: %w", q.Handle, err)
	}
	tx.op.Quarantined++
	return nil
}

// Release removes the quarantine record of handle, if any.
func (tx *boltTx) Release(handle string) error {
	bk := tx.btx.Bucket(bucketQuarantine)
	if bk == nil || bk.Get([]byte(handle)) == nil {
		return nil
	}
	if err := bk.Delete([]byte(handle)); err != nil {
		return fmt.Errorf("release %q: %w", handle, err)
	}
	tx.op.Quarantined++
	return nil
}
