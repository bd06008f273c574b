package boltstore

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/metactl/metactl/catalog"
)

// Key and value layouts. Numbers are fixed-width big-endian so that byte
// order equals numeric order, which is what makes a cursor walk over the
// entries bucket produce Aptos's sorted view.
//
// Entry key (bucket entries): [aptos.EntryKey], the canonical entry
// encoding; the value is the number of live copies (u64).
//
// File record (bucket files), version 1:
//
//	0      1  record version (1)
//	1      1  state (1 live, 2 moved)
//	2      8  imported at, unix nanoseconds, i64
//	10     8  state changed at, unix nanoseconds, i64
//	18    32  SHA-256 of the content
//	50     4  number of lines, u32
//	54     2  length S of the source string, u16
//	56     S  source (where the file came from)
//	56+S   -  content: the file's bytes, exactly as imported or written
//
// Version 2 is a file of more than maxInline bytes (chunks.go): the same
// header with byte 0 = 2, then
//
//	56+S   8  content size, u64
//
// and the content in the chunks bucket, chunkSize bytes a key.
const (
	fileRecVersion  = 1
	fileRecChunked  = 2
	fileRecFixedLen = 56
	maxSourceLen    = 1<<16 - 1
)

func timestampsKey(at uint64, handle string) []byte {
	k := make([]byte, 0, 8+len(handle))
	k = binary.BigEndian.AppendUint64(k, at)
	return append(k, handle...)
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// appendChunkedRecord appends f's version 2 record to b: its header, and
// the size of its content, which goes to chunks.
func appendChunkedRecord(b []byte, f *catalog.File) []byte {
	content := f.Content
	g := *f
	g.Content = nil
	b = appendFileRecord(b, &g)
	b[len(b)-fileRecordLen(&g)] = fileRecChunked
	return binary.BigEndian.AppendUint64(b, uint64(len(content)))
}

// fileRecord is the stored form of a File.
func encodeFileRecord(f *catalog.File) ([]byte, error) {
	return appendFileRecord(make([]byte, 0, fileRecordLen(f)), f), nil
}

// fileRecordLen is the length of f's record.
func fileRecordLen(f *catalog.File) int {
	return fileRecFixedLen + min(len(f.Source), maxSourceLen) + len(f.Content)
}

// appendFileRecord appends f's record to b.
func appendFileRecord(b []byte, f *catalog.File) []byte {
	src := f.Source
	if len(src) > maxSourceLen {
		// Provenance is free text for people: keep its start.
		src = src[:maxSourceLen]
	}
	b = append(b, fileRecVersion, byte(f.State))
	b = binary.BigEndian.AppendUint64(b, uint64(f.ImportedAt.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(f.StateChangedAt.UnixNano()))
	b = append(b, f.SHA256[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(f.Lines))
	b = binary.BigEndian.AppendUint16(b, uint16(len(src)))
	b = append(b, src...)
	return append(b, f.Content...)
}

// decodeFileRecord decodes v (owned by bbolt) into a File whose strings and
// content are copies, valid after the transaction. With withContent false,
// Content is left nil (cheap listings).
//
// A version 2 record (chunked) decodes without its content only: see
// boltTx.decodeFile.
func decodeFileRecord(handle string, v []byte, withContent bool) (*catalog.File, error) {
	if err := checkFileRecord(handle, v, withContent); err != nil {
		return nil, err
	}
	srcLen := int(binary.BigEndian.Uint16(v[54:]))
	f := &catalog.File{
		Handle:         handle,
		State:          catalog.State(v[1]),
		ImportedAt:     unixNano(binary.BigEndian.Uint64(v[2:])),
		StateChangedAt: unixNano(binary.BigEndian.Uint64(v[10:])),
		Lines:          int(binary.BigEndian.Uint32(v[50:])),
		Source:         string(v[fileRecFixedLen : fileRecFixedLen+srcLen]),
		Size:           len(v) - fileRecFixedLen - srcLen,
	}
	copy(f.SHA256[:], v[18:50])
	if v[0] == fileRecChunked {
		f.Size = int(binary.BigEndian.Uint64(v[fileRecFixedLen+srcLen:]))
	}
	if withContent {
		f.Content = append([]byte(nil), v[fileRecFixedLen+srcLen:]...)
	}
	return f, nil
}

func contentSHA(b []byte) [32]byte { return sha256.Sum256(b) }

func unixNano(v uint64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(v)).UTC()
}

// checkFileRecord returns decodeFileRecord's error for the record v of
// handle, or nil if it decodes.
func checkFileRecord(handle string, v []byte, withContent bool) error {
	if len(v) < fileRecFixedLen || v[0] != fileRecVersion && v[0] != fileRecChunked {
		return fmt.Errorf("file %q: malformed record: %w", handle, catalog.ErrCorrupt)
	}
	srcLen := int(binary.BigEndian.Uint16(v[54:]))
	if len(v) < fileRecFixedLen+srcLen || v[0] == fileRecChunked && (len(v) != fileRecFixedLen+srcLen+8 || withContent) {
		return fmt.Errorf("file %q: malformed record: %w", handle, catalog.ErrCorrupt)
	}
	if st := catalog.State(v[1]); st != catalog.Live && st != catalog.Moved {
		return fmt.Errorf("file %q: unknown state %d: %w", handle, v[1], catalog.ErrCorrupt)
	}
	return nil
}
