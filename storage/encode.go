package storage

import (
	"bytes"
	"compress/gzip"
)

// Gzipper writes gzip the one way metactl does, wherever it writes it (an
// exported folder, a generated sample storage): one member at Go's default
// level, no name, no comment, MTIME 0 and OS 3 (Unix), as `gzip -n` writes.
// The bytes therefore depend only on the content, so exporting the same
// generation twice finds every file identical, and a generated gzip
// storage round-trips through import and export byte for byte.
//
// A Gzipper reuses one gzip.Writer and one buffer; it is not safe for
// concurrent use (give each goroutine its own). The zero value is ready.
type Gzipper struct {
	w   *gzip.Writer
	buf bytes.Buffer
}

// Compress returns b gzip-compressed. The result is valid until the next
// call; copy it to keep it.
func (g *Gzipper) Compress(b []byte) []byte {
	g.buf.Reset()
	if g.w == nil {
		g.w, _ = gzip.NewWriterLevel(&g.buf, gzip.DefaultCompression) // a valid level cannot fail
	} else {
		g.w.Reset(&g.buf)
	}
	g.w.OS = 3 // Unix, as GNU gzip writes; NewWriter and Reset set 255.
	// Writes to a bytes.Buffer cannot fail.
	_, _ = g.w.Write(b)
	_ = g.w.Close()
	return g.buf.Bytes()
}
