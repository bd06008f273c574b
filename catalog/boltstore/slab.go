package boltstore

import (
	"bytes"
	"fmt"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

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

// lineBatch is how many lines a file's content is parsed at a time when
// its caller did not parse it (PutFile without NewFile.Lines, SetState,
// dropFile): the memory of a batch of parsed lines, however long the file.
const lineBatch = 4096

// checkLines parses and validates every line of content without keeping
// them and returns how many there are; the error names the first bad
// line (wrapping [aptos.ErrInvalid]).
func checkLines(content []byte) (int, error) {
	n := 0
	for line := range aptos.Lines(content) {
		n++
		m, err := aptos.ParseLine(line)
		if err != nil {
			return n, fmt.Errorf("%w: %w", aptos.ErrInvalid, &aptos.LineError{Line: n, Err: err})
		}
		if err := aptos.ValidateEntry(&m); err != nil {
			return n, fmt.Errorf("line %d: %w", n, err)
		}
	}
	return n, nil
}

// eachBatch calls fn with lines if it is not nil; otherwise with the
// lines of content parsed lineBatch at a time into one reused slice (valid
// only during the call). content must parse (checkLines, or stored).
func eachBatch(lines []aptos.Metadata, content []byte, fn func([]aptos.Metadata) error) error {
	if lines != nil {
		return fn(lines)
	}
	batch := make([]aptos.Metadata, 0, min(lineBatch, bytes.Count(content, []byte{'\n'})+1))
	n := 0
	for line := range aptos.Lines(content) {
		n++
		m, err := aptos.ParseLine(line)
		if err != nil {
			return fmt.Errorf("%w: stored content does not parse: %w", catalog.ErrCorrupt, &aptos.LineError{Line: n, Err: err})
		}
		if batch = append(batch, m); len(batch) == lineBatch {
			if err := fn(batch); err != nil {
				return err
			}
			clear(batch)
			batch = batch[:0]
		}
	}
	if len(batch) == 0 {
		return nil
	}
	return fn(batch)
}
