package storage

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
)

// DefaultMaxFileSize is the default limit on the decompressed size of one
// metadata file. An uncompacted metadata file is one JSON line of a few
// hundred bytes and a compacted one holds a few hundred lines, so 256 MiB is
// far above anything real and still small enough to hold in memory.
const DefaultMaxFileSize = 256 << 20

// ErrTooLarge is returned (wrapped) when a metadata file's content, after
// decompression, is larger than the limit the caller gave.
var ErrTooLarge = errors.New("file too large")

// ErrCorrupt is returned (wrapped) when content starts with the gzip magic
// bytes but is not a valid gzip stream: truncated, bad checksum, trailing
// garbage.
var ErrCorrupt = errors.New("corrupt gzip stream")

// gzipMagic starts every gzip member (RFC 1952).
var gzipMagic = []byte{0x1f, 0x8b}

// IsGzip reports whether content starts with the gzip magic bytes 1f 8b.
func IsGzip(content []byte) bool { return bytes.HasPrefix(content, gzipMagic) }

// Decode returns the decompressed form of raw: raw itself (not a copy) when
// it does not start with the gzip magic bytes, and otherwise the
// concatenated content of all its gzip members, as `gzip -cd` would print
// it. As with `gzip -cd`, zero bytes after the last member are ignored and
// any other trailing bytes are an error (gzip exits non-zero for them).
//
// Content larger than max bytes (after decompression) gives an error wrapping
// [ErrTooLarge]; decompression stops there, so Decode never holds more than
// max+1 decompressed bytes. max <= 0 means [DefaultMaxFileSize]. A broken
// gzip stream gives an error wrapping [ErrCorrupt].
func Decode(raw []byte, max int64) ([]byte, error) {
	maxSize := effectiveMax(max)
	if !IsGzip(raw) {
		if int64(len(raw)) > maxSize {
			return nil, tooLarge(maxSize, false)
		}
		return raw, nil
	}
	return decodeStream(bytes.NewReader(raw), maxSize, 0)
}

// effectiveMax applies the max <= 0 default and keeps max+1 from
// overflowing.
func effectiveMax(maxSize int64) int64 {
	switch {
	case maxSize <= 0:
		return DefaultMaxFileSize
	case maxSize == math.MaxInt64:
		return math.MaxInt64 - 1
	}
	return maxSize
}

func tooLarge(maxSize int64, gz bool) error {
	if gz {
		return fmt.Errorf("%w: more than %d bytes decompressed", ErrTooLarge, maxSize)
	}
	return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxSize)
}

// decodeStream reads r to EOF and decodes it like [Decode]. maxSize must already
// have gone through effectiveMax. sizeHint, if positive, is the expected
// plain size, used to allocate once.
//
// Errors from r itself are returned as they are, not wrapped in ErrCorrupt,
// so a failing pipe or disk is not mistaken for a corrupt file.
func decodeStream(r io.Reader, maxSize, sizeHint int64) ([]byte, error) {
	src := &errReader{r: r}
	br := bufio.NewReader(src)
	magic, err := br.Peek(len(gzipMagic))
	if err != nil && err != io.EOF {
		return nil, err
	}
	if !IsGzip(magic) {
		return readAtMost(br, maxSize, sizeHint, false)
	}
	// A gzip bomb must be refused at its limit without holding that
	// much (issue 21: 790 MiB for a 256 MiB limit, from doubling the
	// buffer): the compressed bytes are kept (they are small for a bomb),
	// decompressed once only to count, and then, when they fit, once
	// more into a buffer of the exact size.
	// (Compressed bytes are at most a little more than what they
	// decompress to, trailing zero padding aside: 1 MiB of slack.)
	comp, err := readAtMost(br, maxSize+1<<20, sizeHint, false)
	if errors.Is(err, ErrTooLarge) {
		return nil, tooLarge(maxSize, true)
	}
	if err != nil {
		if src.err != nil {
			return nil, src.err
		}
		return nil, err
	}
	size, err := gunzipCount(comp, maxSize)
	if err != nil {
		return nil, err
	}
	cbr := bufio.NewReader(bytes.NewReader(comp))
	zr, err := gzip.NewReader(cbr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	zr.Multistream(false)
	data, err := readAtMost(&gzipMembers{br: cbr, zr: zr}, maxSize, size, true)
	if err != nil && !errors.Is(err, ErrTooLarge) {
		if src.err != nil {
			return nil, src.err
		}
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return data, err
}

// gunzipCount returns the decompressed size of the gzip members in comp,
// decompressing them into nothing: an error wrapping ErrTooLarge past
// maxSize, or ErrCorrupt.
func gunzipCount(comp []byte, maxSize int64) (int64, error) {
	br := bufio.NewReader(bytes.NewReader(comp))
	zr, err := gzip.NewReader(br)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	zr.Multistream(false)
	n, err := io.Copy(io.Discard, io.LimitReader(&gzipMembers{br: br, zr: zr}, maxSize+1))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if n > maxSize {
		return 0, tooLarge(maxSize, true)
	}
	return n, nil
}

// errTrailingGarbage is what gzip -cd warns about, exiting with status 2.
var errTrailingGarbage = errors.New("trailing garbage after gzip data")

// gzipMembers reads the concatenated content of consecutive gzip members the
// way gzip -cd does: member after member until EOF, and trailing zero bytes
// (padding) ignored, but any other trailing byte is an error, since gzip -cd
// exits non-zero for it. compress/gzip's own multistream mode would refuse
// the zero padding.
type gzipMembers struct {
	br   *bufio.Reader
	zr   *gzip.Reader
	done bool
}

func (g *gzipMembers) Read(p []byte) (int, error) {
	for !g.done {
		n, err := g.zr.Read(p)
		if err != io.EOF {
			return n, err
		}
		if n > 0 {
			return n, nil // the next Read sees the member's EOF again
		}
		if err := g.next(); err != nil {
			return 0, err
		}
	}
	return 0, io.EOF
}

// next moves past the end of a member: to the next member, or to EOF.
func (g *gzipMembers) next() error {
	b, err := g.br.Peek(1)
	switch {
	case err == io.EOF:
		g.done = true
		return nil
	case err != nil:
		return err
	case b[0] == gzipMagic[0]:
		if err := g.zr.Reset(g.br); err != nil {
			return err
		}
		g.zr.Multistream(false)
		return nil
	case b[0] != 0:
		return errTrailingGarbage
	}
	var chunk [4096]byte
	for {
		n, err := g.br.Read(chunk[:])
		for _, c := range chunk[:n] {
			if c != 0 {
				return errTrailingGarbage
			}
		}
		if err == io.EOF {
			g.done = true
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// errReader remembers the first error other than io.EOF that its reader
// returned, so decodeStream can tell an I/O failure from bad gzip data.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// readAtMost reads r to EOF. It fails with an error wrapping ErrTooLarge as
// soon as more than maxSize bytes have arrived, and never allocates a buffer
// larger than maxSize+1 bytes (io.ReadAll's doubling could reach twice
// that).
func readAtMost(r io.Reader, maxSize, sizeHint int64, gz bool) ([]byte, error) {
	limit := maxSize + 1
	initial := int64(512)
	if sizeHint > 0 {
		initial = sizeHint + 1 // +1 so EOF is seen without growing
	}
	buf := make([]byte, 0, min(initial, limit))
	for {
		if len(buf) == cap(buf) {
			grown := min(max(2*int64(cap(buf)), 512), limit)
			nb := make([]byte, len(buf), grown)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > maxSize {
			return nil, tooLarge(maxSize, gz)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
