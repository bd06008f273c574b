package boltstore

import "bytes"

// Per-file costs of a write transaction. Importing a storage of one-line
// files puts a hundred thousand small records in one operation, so each
// allocation and tree search per file shows: values come from a slab, and
// the files bucket is read through one cursor.

// slabChunk is the size of one slab chunk; values larger than a quarter
// of it get their own allocation.
const slabChunk = 64 << 10

// slab hands out byte slices of one lifetime: one allocation serves many
// small records. A transaction has two: values bbolt keeps until its
// commit (Put keeps the slice, not a copy; a bulk transaction commits at
// every checkpoint, and their chunks are collected after it), and
// before-images kept until the transaction ends; mixed, every chunk would
// live to the end. The slices are capped at their length, so appending to
// one never writes into the next.
type slab struct{ free []byte }

func (s *slab) take(n int) []byte {
	if n > slabChunk/4 {
		return make([]byte, n)
	}
	if len(s.free) < n {
		s.free = make([]byte, slabChunk)
	}
	b := s.free[:n:n]
	s.free = s.free[n:]
	return b
}

// clone returns a copy of b from the slab (nil for nil).
func (s *slab) clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	c := s.take(len(b))
	copy(c, b)
	return c
}

// fileRecord returns the stored record of the file key (nil: none), as
// Bucket.Get would, through one cursor kept for the bbolt transaction: a
// Get allocates a cursor and its search stack on every call. Seek
// repositions the cursor, so puts between two calls are seen.
func (tx *boltTx) fileRecord(key []byte) []byte {
	if tx.filesCur == nil || tx.filesCur.Bucket().Tx() != tx.btx {
		tx.filesCur = tx.btx.Bucket(bucketFiles).Cursor()
	}
	k, v := tx.filesCur.Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}
