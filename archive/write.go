package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Source is what Write archives: one catalog state, which the caller holds
// steady while Write runs ([export.WriteArchive] reads it in one read-only
// transaction).
type Source struct {
	// Header describes the state; Write sets Format, Version and Journal.
	// Files must be the number of files ForEachFile yields.
	Header Header
	// Journal is the catalog's journal, oldest first.
	Journal []Op
	// ForEachFile calls fn for every file, live and moved, in handle
	// order, content included; an error from fn is returned as is. fn
	// may keep nothing of the File after it returns.
	ForEachFile func(fn func(*File) error) error
}

// File is one metadata file as Write takes it.
type File struct {
	Handle         string
	State          FileState
	Source         string
	ImportedAt     time.Time
	StateChangedAt time.Time
	SHA256         [32]byte // of Content, as the catalog recorded it
	Content        []byte
}

// Write writes an archive of src to w: every file, live and moved, then
// the journal. The plaintext (see the package documentation for its
// layout) depends only on src, so archives of the same catalog state have
// identical plaintext.
//
// The plaintext is compressed in independent zstd frames of [FrameSize]
// plaintext bytes (the trailer line in a frame of its own), at
// klauspost's fastest level (see encoderLevel), by two encoder goroutines
// while the files are walked: one stream encoder compresses one block
// at a time, which made a large export wait for one core. It returns the
// archive's header once every frame is written.
//
// On error, w may already hold part of the archive, which any reader
// refuses (it lacks a trailer); write to a temporary file and rename it
// into place on success.
func Write(ctx context.Context, w io.Writer, src *Source) (*Header, error) {
	fw, err := newFrameWriter(w)
	if err != nil {
		return nil, fmt.Errorf("write archive: %w", err)
	}
	h, err := writePlain(ctx, fw, src)
	// Stop the goroutines even after a failure.
	if cerr := fw.close(); err == nil && cerr != nil {
		err = fmt.Errorf("write archive: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	return h, nil
}

// FrameSize is the plaintext size of each zstd frame Write writes (the
// last frames are shorter). Frames are independent, so they compress in
// parallel; at 1 MiB they compress metadata slightly better than one
// stream does (on the 1M-line benchmark: 15.8 MB against 16.3 MB).
const FrameSize = 1 << 20

// encoders is the number of goroutines that compress frames: two keep a
// large export fast without taking every core from the host.
const encoders = 2

// frame is one frame's plaintext on its way through a frameWriter.
type frame struct {
	plain []byte
	out   []byte        // the compressed frame, once ready is closed
	ready chan struct{} // closed by the encoder
}

// frameWriter cuts the plaintext into frames of FrameSize, compresses
// them on encoder goroutines and writes them to w in order, hashing the
// plaintext (in order, on the writing goroutine) for the trailer. At most
// inflight frames exist at a time, which bounds its memory.
type frameWriter struct {
	w    io.Writer
	enc  *zstd.Encoder // EncodeAll only: safe for concurrent use
	sum  hash.Hash     // of the plaintext handed to write
	cur  []byte        // the frame being filled
	free chan []byte   // plaintext buffers to reuse
	jobs chan *frame   // to the encoders
	next chan *frame   // to the writing goroutine, in plaintext order
	done chan struct{} // closed when the writing goroutine returns
	wg   sync.WaitGroup
	err  atomic.Pointer[error] // the first write error
	shut bool
}

// inflight bounds the frames being filled, compressed or written.
const inflight = encoders + 2

func newFrameWriter(w io.Writer) (*frameWriter, error) {
	// The level is explicit: compressed bytes are not a contract (only the
	// plaintext is), but the speed/size trade-off is a choice, not an
	// accident of the library's default (see encoderLevel).
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(encoderLevel), zstd.WithEncoderConcurrency(encoders))
	if err != nil {
		return nil, err
	}
	fw := &frameWriter{w: w, enc: enc, sum: sha256.New(),
		free: make(chan []byte, inflight), jobs: make(chan *frame, inflight), next: make(chan *frame, inflight),
		done: make(chan struct{})}
	for range inflight - 1 { // one more is fw.cur
		fw.free <- nil
	}
	for range encoders {
		fw.wg.Add(1)
		go func() {
			defer fw.wg.Done()
			for f := range fw.jobs {
				f.out = fw.enc.EncodeAll(f.plain, f.out)
				close(f.ready)
			}
		}()
	}
	go fw.writeFrames()
	return fw, nil
}

// writeFrames writes the frames in order and hashes their plaintext; after
// a write error it only drains (the error is reported by write and close).
func (fw *frameWriter) writeFrames() {
	defer close(fw.done)
	for f := range fw.next {
		<-f.ready
		if fw.err.Load() == nil {
			fw.sum.Write(f.plain)
			if _, err := fw.w.Write(f.out); err != nil {
				fw.err.Store(&err)
			}
		}
		fw.free <- f.plain[:0]
	}
}

// write appends b to the plaintext.
func (fw *frameWriter) write(b []byte) error {
	for len(b) > 0 {
		if fw.cur == nil {
			fw.cur = make([]byte, 0, FrameSize)
		}
		n := min(len(b), FrameSize-len(fw.cur))
		fw.cur = append(fw.cur, b[:n]...)
		b = b[n:]
		if len(fw.cur) == FrameSize {
			if err := fw.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush hands the current frame on, waiting for a free buffer.
func (fw *frameWriter) flush() error {
	if p := fw.err.Load(); p != nil {
		return *p
	}
	if len(fw.cur) == 0 {
		return nil
	}
	f := &frame{plain: fw.cur, ready: make(chan struct{})}
	fw.next <- f
	fw.jobs <- f
	fw.cur = <-fw.free
	return nil
}

// sealed flushes the plaintext, waits until every frame is written and
// returns the plaintext's SHA-256: what the trailer records.
func (fw *frameWriter) sealed() ([]byte, error) {
	if err := fw.flush(); err != nil {
		return nil, err
	}
	fw.shutdown()
	if p := fw.err.Load(); p != nil {
		return nil, *p
	}
	return fw.sum.Sum(nil), nil
}

// last writes b, the trailer, as the final frame, unhashed.
func (fw *frameWriter) last(b []byte) error {
	_, err := fw.w.Write(fw.enc.EncodeAll(b, nil))
	return err
}

// shutdown stops the goroutines once the queued frames are written.
func (fw *frameWriter) shutdown() {
	if fw.shut {
		return
	}
	fw.shut = true
	close(fw.jobs)
	close(fw.next)
	<-fw.done
	fw.wg.Wait()
}

// close stops the goroutines and returns the first write error.
func (fw *frameWriter) close() error {
	fw.shutdown()
	fw.enc.Close()
	if p := fw.err.Load(); p != nil {
		return *p
	}
	return nil
}

// writePlain writes the plaintext of src's archive to fw.
func writePlain(ctx context.Context, fw *frameWriter, src *Source) (*Header, error) {
	err := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := src.Header
		h.Format, h.Version, h.Journal = FormatName, FormatVersion, len(src.Journal)
		line, err := marshalLine(&h)
		if err != nil {
			return err
		}
		if err := fw.write(line); err != nil {
			return err
		}
		n := 0
		var buf []byte // the record line, reused
		var times timeFormats
		err = src.ForEachFile(func(f *File) error {
			if n%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			n++
			buf, err = times.appendRecord(buf[:0], f)
			if err != nil {
				return err
			}
			if err := fw.write(buf); err != nil {
				return err
			}
			if err := fw.write(f.Content); err != nil {
				return err
			}
			return fw.write(newline)
		})
		if err != nil {
			return err
		}
		if n != h.Files {
			return fmt.Errorf("the header announces %d files but %d were written", h.Files, n)
		}
		for i := range src.Journal {
			line, err := marshalLine(&wireOp{Op: &src.Journal[i]})
			if err != nil {
				return err
			}
			if err := fw.write(line); err != nil {
				return err
			}
		}
		sum, err := fw.sealed()
		if err != nil {
			return err
		}
		line, err = marshalLine(&wireTrailer{End: true, Files: n, SHA256: hex.EncodeToString(sum)})
		if err != nil {
			return err
		}
		return fw.last(line)
	}()
	if err != nil {
		return nil, fmt.Errorf("write archive: %w", err)
	}
	h := src.Header
	h.Format, h.Version, h.Journal = FormatName, FormatVersion, len(src.Journal)
	return &h, nil
}

var newline = []byte{'\n'}

// encoderLevel is the zstd level of Write. On metadata (JSON lines that
// repeat their keys and manifest paths) klauspost's fastest level
// compresses better than its default one and as well as or better than
// the zstd CLI's -3 (issue 11: 0.90x of 'zstd -3' on a 26 MB mainnet-scale
// plaintext, where SpeedDefault gave 0.98x), at several times the speed.
const encoderLevel = zstd.SpeedFastest

// appendRecord appends f's record line, newline included: byte for byte
// what json.Marshal gives for its wireRecord (the plaintext is a contract,
// see TestAppendRecordMatchesJSON), without reflection or an allocation
// per field, which made JSON half of Write's time.
func appendRecord(b []byte, f *File) ([]byte, error) {
	var c timeFormats
	return c.appendRecord(b, f)
}

// timeFormats remembers the last two times formatted as a record writes
// them: the files of one import share their imported_at and
// state_changed_at (the transaction's clock reading), and formatting
// them was a third of the record lines' cost.
type timeFormats struct {
	t [2]time.Time
	b [2][]byte
	n int // slots filled, then the next slot to replace
}

// append appends t formatted as time.RFC3339Nano. Two times that are ==
// (the same instant, location and monotonic reading) format the same.
func (c *timeFormats) append(b []byte, t time.Time) []byte {
	for i := range c.b {
		if c.b[i] != nil && c.t[i] == t {
			return append(b, c.b[i]...)
		}
	}
	start := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	i := c.n % len(c.b)
	c.t[i], c.b[i] = t, append(c.b[i][:0], b[start:]...)
	c.n++
	return b
}

// appendRecord is appendRecord, its times formatted through c.
func (c *timeFormats) appendRecord(b []byte, f *File) ([]byte, error) {
	if !rfc3339Year(f.ImportedAt) || !rfc3339Year(f.StateChangedAt) {
		// json.Marshal refuses such a time; keep its error.
		line, err := marshalLine(&wireRecord{Handle: f.Handle, State: string(f.State), Source: f.Source,
			ImportedAt: f.ImportedAt, StateChangedAt: f.StateChangedAt, Size: len(f.Content),
			SHA256: hex.EncodeToString(f.SHA256[:])})
		return append(b, line...), err
	}
	b = append(b, `{"handle":`...)
	b = appendJSONString(b, f.Handle)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, string(f.State))
	b = append(b, `,"source":`...)
	b = appendJSONString(b, f.Source)
	b = append(b, `,"imported_at":"`...)
	b = c.append(b, f.ImportedAt)
	b = append(b, `","state_changed_at":"`...)
	b = c.append(b, f.StateChangedAt)
	b = append(b, `","size":`...)
	b = strconv.AppendInt(b, int64(len(f.Content)), 10)
	b = append(b, `,"sha256":"`...)
	b = hex.AppendEncode(b, f.SHA256[:])
	return append(b, "\"}\n"...), nil
}

// rfc3339Year reports whether t's year is one time.Time.MarshalJSON
// accepts.
func rfc3339Year(t time.Time) bool { y := t.Year(); return y >= 0 && y <= 9999 }

// appendJSONString appends s as encoding/json writes it. Printable ASCII
// other than the characters it escapes (quote, backslash, and <, >, & for
// HTML safety) is copied; anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !jsonPlain[s[i]] {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// jsonPlain marks the bytes appendJSONString copies as they are: printable
// ASCII but the quote, the backslash and <, >, & (one table lookup per
// byte of every handle and source an archive writes).
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()
