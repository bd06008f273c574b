package archive

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/metactl/metactl/aptos"
)

// Reader decodes and verifies an archive as a stream: the header first
// ([NewReader]), then one file record per [Reader.Next] call. Like
// archive/tar's Reader, its errors are sticky: after the first error every
// call returns it again. It is not safe for concurrent use.
type Reader struct {
	dec    *zstd.Decoder
	br     *bufio.Reader
	sum    hash.Hash // SHA-256 of the plaintext read so far, trailer excluded
	header Header
	files  int    // records returned so far
	last   string // handle of the previous record
	plain  int64  // plaintext bytes consumed
	line   []byte // reused line buffer
	times  timeCache
	ops    []Op
	err    error
}

// NewReader starts decoding the archive in r and reads and checks its
// header. The zstd decoder's memory is capped (512 MiB window), so hostile
// input cannot make it allocate without bound. Close the Reader when done.
//
// Every refusal is an error wrapping [ErrBadArchive].
func NewReader(r io.Reader) (*Reader, error) {
	// Say "not an archive" rather than let zstd report a magic mismatch.
	br := bufio.NewReader(r)
	// (A shorter prefix of the magic is a truncated archive: zstd says so.)
	if magic, _ := br.Peek(len(zstdMagic)); len(magic) > 0 && !bytes.HasPrefix(zstdMagic, magic) {
		return nil, bad("not a metactl archive: starts with % x, not the zstd magic % x", magic, zstdMagic)
	}
	// Concurrency 2: one goroutine decodes ahead while the caller parses;
	// more buys nothing for a sequential line-by-line consumer.
	dec, err := zstd.NewReader(br, zstd.WithDecoderMaxMemory(decoderMaxMemory), zstd.WithDecoderConcurrency(2))
	if err != nil {
		return nil, &BadArchiveError{Reason: "not a zstd stream", Err: err}
	}
	rd := &Reader{dec: dec, br: bufio.NewReaderSize(dec, 64<<10), sum: sha256.New()}
	if err := rd.readHeader(); err != nil {
		dec.Close()
		return nil, err
	}
	return rd, nil
}

// Journal returns the catalog journal the archive carries, oldest
// operation first: the history of the catalog up to the archived
// generation. It is complete and verified only once Next has returned
// io.EOF; a version 1 archive has none.
func (r *Reader) Journal() []Op { return r.ops }

// Header returns the archive's header. It is valid after NewReader
// succeeded; the caller must not modify it.
func (r *Reader) Header() *Header { return &r.header }

// Close releases the zstd decoder's goroutines. It always returns nil.
func (r *Reader) Close() error {
	r.dec.Close()
	return nil
}

// Next returns the next file record, its content verified against its
// SHA-256. After the last record it reads and verifies the trailer (file
// count, plaintext digest, nothing after it) and only then returns io.EOF:
// io.EOF is the one result that says the whole archive is good. Any other
// error wraps [ErrBadArchive] (or is a read error from the underlying
// reader, wrapped the same way), and then records returned before it must
// be discarded.
func (r *Reader) Next() (*FileRecord, error) {
	if r.err != nil {
		return nil, r.err
	}
	f, err := r.next()
	if err != nil {
		r.err = err
		return nil, err
	}
	return f, nil
}

// Read decodes and verifies the archive in r, calling fn for each file
// record in handle order. It returns nil only if the whole archive,
// trailer included, verified. fn sees records before that verdict, so it
// must only collect them (commit nothing until Read returns nil). An error
// from fn stops the read and is returned as is.
func Read(r io.Reader, fn func(h *Header, f *FileRecord) error) error {
	rd, err := NewReader(r)
	if err != nil {
		return err
	}
	defer rd.Close()
	for {
		f, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(rd.Header(), f); err != nil {
			return err
		}
	}
}

// ReadAll decodes and verifies the archive in r and returns its header and
// every file record, or an error wrapping [ErrBadArchive] and nothing.
func ReadAll(r io.Reader) (*Header, []*FileRecord, error) {
	rd, err := NewReader(r)
	if err != nil {
		return nil, nil, err
	}
	defer rd.Close()
	var files []*FileRecord
	for {
		f, err := rd.Next()
		if err == io.EOF {
			h := *rd.Header()
			return &h, files, nil
		}
		if err != nil {
			return nil, nil, err
		}
		files = append(files, f)
	}
}

func bad(format string, args ...any) error {
	return &BadArchiveError{Reason: fmt.Sprintf(format, args...)}
}

// streamErr turns an error from the decompressor into a refusal.
func (r *Reader) streamErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &BadArchiveError{Reason: fmt.Sprintf("truncated: compressed stream ends after %d files", r.files), Err: err}
	}
	return &BadArchiveError{Reason: fmt.Sprintf("corrupt compressed stream after %d files", r.files), Err: err}
}

// readLine reads one plaintext line, without its "\n", into r.line. It
// returns io.EOF only at a clean end of the plaintext (no partial line).
// The line is not hashed: the caller decides (the trailer is not).
func (r *Reader) readLine(what string) ([]byte, error) {
	r.line = r.line[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(r.line)+len(chunk) > MaxLineSize+1 {
			return nil, bad("%s after %d files is longer than %d bytes", what, r.files, MaxLineSize)
		}
		r.line = append(r.line, chunk...)
		switch {
		case err == nil:
			r.plain += int64(len(r.line))
			return r.line[:len(r.line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(r.line) == 0:
			return nil, io.EOF
		case err == io.EOF:
			return nil, bad("truncated: %s after %d files ends without a newline", what, r.files)
		default:
			return nil, r.streamErr(err)
		}
	}
}

func (r *Reader) hashLine(line []byte) {
	r.sum.Write(line)
	r.sum.Write(newline)
}

func (r *Reader) readHeader() error {
	line, err := r.readLine("header line")
	if err == io.EOF {
		return bad("empty: no header")
	}
	if err != nil {
		return err
	}
	// Format and version first, leniently: a newer version may add
	// fields, and "unsupported version" is the useful message then.
	var probe struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(line, &probe); err != nil {
		return &BadArchiveError{Reason: "not a metactl archive: the first line is not a JSON header", Err: err}
	}
	if probe.Format != FormatName {
		return bad("not a metactl archive: format %q, want %q", probe.Format, FormatName)
	}
	if probe.Version < minVersion || probe.Version > FormatVersion {
		return bad("unsupported archive version %d (this metactl reads versions %d to %d)", probe.Version, minVersion, FormatVersion)
	}
	if err := decodeStrict(line, &r.header); err != nil {
		return &BadArchiveError{Reason: "malformed header", Err: err}
	}
	h := &r.header
	if h.Files < 0 || h.Entries < 0 || h.Journal < 0 {
		return bad("malformed header: negative count (files %d, entries %d, journal %d)", h.Files, h.Entries, h.Journal)
	}
	if h.Version < 2 && h.Journal != 0 {
		return bad("malformed header: a version %d archive has no journal", h.Version)
	}
	if h.Identity != "" {
		if _, ok := parseSHA256(h.Identity); !ok {
			return bad("malformed header: identity %q is not 64 lowercase hex digits", h.Identity)
		}
	}
	r.hashLine(line)
	return nil
}

func (r *Reader) next() (*FileRecord, error) {
	line, err := r.readLine("record line")
	for err == nil && bytes.HasPrefix(line, opPrefix) {
		if err := r.journalLine(line); err != nil {
			return nil, err
		}
		line, err = r.readLine("record line")
	}
	if err == io.EOF {
		return nil, bad("truncated: no trailer after %d files", r.files)
	}
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(line, trailerPrefix) {
		if err := r.trailer(line); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	if len(r.ops) > 0 {
		return nil, bad("file record after the journal (after %d files)", r.files)
	}
	r.hashLine(line)
	n := r.files + 1
	w, ok := parseRecordFast(line, &r.times)
	if !ok {
		if err := decodeStrict(line, &w); err != nil {
			return nil, &BadArchiveError{Reason: fmt.Sprintf("file %d: malformed record", n), Err: err}
		}
	}
	if n > r.header.Files {
		return nil, bad("file %d (%q): more files than the header's %d", n, w.Handle, r.header.Files)
	}
	if err := aptos.ValidateHandle(w.Handle); err != nil {
		return nil, &BadArchiveError{Reason: fmt.Sprintf("file %d", n), Err: err}
	}
	if n > 1 && w.Handle <= r.last {
		return nil, bad("file %d (%q): out of handle order or duplicated (after %q)", n, w.Handle, r.last)
	}
	state, ok := parseState(w.State)
	if !ok {
		return nil, bad("file %q: state %q, want \"live\" or \"moved\"", w.Handle, w.State)
	}
	if w.Size < 0 || w.Size > MaxFileSize {
		return nil, bad("file %q: size %d is outside the limit of 0 to %d bytes", w.Handle, w.Size, MaxFileSize)
	}
	want, ok := parseSHA256(w.SHA256)
	if !ok {
		return nil, bad("file %q: sha256 %q is not 64 lowercase hex digits", w.Handle, w.SHA256)
	}
	if r.plain+int64(w.Size)+1 > MaxPlainSize {
		return nil, bad("file %q: plaintext exceeds the limit of %d bytes", w.Handle, int64(MaxPlainSize))
	}
	b, err := r.readContent(w.Size + 1)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, bad("truncated: file %q has %d of its %d bytes", w.Handle, min(len(b), w.Size), w.Size)
	}
	if err != nil {
		return nil, r.streamErr(err)
	}
	r.plain += int64(len(b))
	if b[w.Size] != '\n' {
		return nil, bad("file %q: content is not followed by a newline (wrong size?)", w.Handle)
	}
	content := b[:w.Size:w.Size]
	r.sum.Write(b)
	if sha256.Sum256(content) != want {
		return nil, bad("file %q: content does not match its sha256", w.Handle)
	}
	r.files = n
	r.last = w.Handle
	return &FileRecord{
		Handle:         w.Handle,
		State:          state,
		Source:         w.Source,
		ImportedAt:     w.ImportedAt.UTC(),
		StateChangedAt: w.StateChangedAt.UTC(),
		Size:           w.Size,
		SHA256:         w.SHA256,
		Content:        content,
	}, nil
}

// journalLine checks and keeps one journal line: version 2 only, after
// every file record, generations ascending up to the header's.
func (r *Reader) journalLine(line []byte) error {
	r.hashLine(line)
	n := len(r.ops) + 1
	if r.header.Version < 2 {
		return bad("journal line %d in a version %d archive", n, r.header.Version)
	}
	if r.files != r.header.Files {
		return bad("journal line %d after %d files, before the header's %d", n, r.files, r.header.Files)
	}
	if n > r.header.Journal {
		return bad("journal line %d: more journal lines than the header's %d", n, r.header.Journal)
	}
	var w wireOp
	if err := decodeStrict(line, &w); err != nil || w.Op == nil {
		return &BadArchiveError{Reason: fmt.Sprintf("journal line %d: malformed", n), Err: err}
	}
	op := *w.Op
	if n > 1 && op.Generation <= r.ops[n-2].Generation {
		return bad("journal line %d: generation %d after %d (out of order)", n, op.Generation, r.ops[n-2].Generation)
	}
	if op.Generation > r.header.Generation {
		return bad("journal line %d: generation %d is after the archived generation %d", n, op.Generation, r.header.Generation)
	}
	r.ops = append(r.ops, op)
	return nil
}

// trailer verifies the trailer line and that nothing follows it.
func (r *Reader) trailer(line []byte) error {
	var t wireTrailer
	if err := decodeStrict(line, &t); err != nil {
		return &BadArchiveError{Reason: "malformed trailer", Err: err}
	}
	if !t.End {
		return bad("malformed trailer: end is false")
	}
	if t.Files != r.files {
		return bad("trailer counts %d files, the archive holds %d", t.Files, r.files)
	}
	if r.files != r.header.Files {
		return bad("truncated: header announces %d files, the archive holds %d", r.header.Files, r.files)
	}
	if len(r.ops) != r.header.Journal {
		return bad("truncated: header announces %d journal lines, the archive holds %d", r.header.Journal, len(r.ops))
	}
	if got := hex.EncodeToString(r.sum.Sum(nil)); t.SHA256 != got {
		return bad("plaintext sha256 %s does not match the trailer's %q", got, t.SHA256)
	}
	// Reading to the end also makes the decompressor check the frame's
	// checksum, which follows the last block.
	if _, err := r.br.ReadByte(); err == nil {
		return bad("data after the trailer")
	} else if err != io.EOF {
		return r.streamErr(err)
	}
	return nil
}

// smallContent is the size up to which a file's content is read into a
// buffer of its announced size at once; beyond it the buffer grows as
// bytes arrive, so a truncated hostile archive cannot make a reader
// allocate MaxFileSize up front.
const smallContent = 64 << 10

// readContent reads exactly n bytes (a file's content and its separator).
// On a short read it returns the bytes it got and io.EOF or
// io.ErrUnexpectedEOF.
func (r *Reader) readContent(n int) ([]byte, error) {
	if n <= smallContent {
		b := make([]byte, n)
		got, err := io.ReadFull(r.br, b)
		return b[:got], err
	}
	var buf bytes.Buffer
	got, err := io.CopyN(&buf, r.br, int64(n))
	if err == nil && got < int64(n) {
		err = io.ErrUnexpectedEOF
	}
	return buf.Bytes(), err
}

// parseRecordFast parses a record line in exactly the form Write produces
// (fields in order, strings without escapes, RFC 3339 times, a plain
// decimal size). Anything else returns false and goes through
// encoding/json, which accepts every valid form and names what is wrong;
// for every line this accepts, the result equals encoding/json's
// (TestParseRecordFastMatchesJSON, FuzzParseRecordFast). It is the hot
// path of every archive read: encoding/json's decoder was most of it.
func parseRecordFast(line []byte, times *timeCache) (wireRecord, bool) {
	var w wireRecord
	p := line
	raw := func(key string) ([]byte, bool) {
		if !bytes.HasPrefix(p, []byte(key)) {
			return nil, false
		}
		p = p[len(key):]
		i := 0
		for i < len(p) && p[i] != '"' {
			if c := p[i]; c < 0x20 || c > 0x7e || c == '\\' {
				return nil, false
			}
			i++
		}
		if i == len(p) {
			return nil, false
		}
		v := p[:i]
		p = p[i+1:]
		return v, true
	}
	str := func(key string) (string, bool) {
		v, ok := raw(key)
		return string(v), ok
	}
	when := func(key string) (time.Time, bool) {
		v, ok := raw(key)
		if !ok {
			return time.Time{}, false
		}
		return times.parse(v)
	}
	var ok bool
	if w.Handle, ok = str(`{"handle":"`); !ok {
		return w, false
	}
	if w.State, ok = str(`,"state":"`); !ok {
		return w, false
	}
	if w.Source, ok = str(`,"source":"`); !ok {
		return w, false
	}
	if w.ImportedAt, ok = when(`,"imported_at":"`); !ok {
		return w, false
	}
	if w.StateChangedAt, ok = when(`,"state_changed_at":"`); !ok {
		return w, false
	}
	const sizeKey = `,"size":`
	if !bytes.HasPrefix(p, []byte(sizeKey)) {
		return w, false
	}
	p = p[len(sizeKey):]
	i := 0
	for i < len(p) && i < 10 && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	if i == 0 || (i > 1 && p[0] == '0') {
		return w, false
	}
	size, err := strconv.Atoi(string(p[:i]))
	if err != nil {
		return w, false
	}
	w.Size = size
	p = p[i:]
	if w.SHA256, ok = str(`,"sha256":"`); !ok {
		return w, false
	}
	return w, string(p) == "}"
}

// timeCache remembers the last time parseRecordFast parsed: the files of
// one import share their import time, so most records repeat it (parsing
// and re-formatting it was a sixth of reading a 200,000-file archive).
type timeCache struct {
	s string
	t time.Time
}

// parse parses v as a canonical RFC 3339 time (what Write writes): only
// the canonical form, so that encoding/json's stricter parser agrees by
// construction. A nil cache parses every time.
func (c *timeCache) parse(v []byte) (time.Time, bool) {
	if c != nil && c.s != "" && string(v) == c.s {
		return c.t, true
	}
	s := string(v)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Format(time.RFC3339Nano) != s {
		return time.Time{}, false
	}
	if c != nil {
		c.s, c.t = s, t
	}
	return t, true
}
