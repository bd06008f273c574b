package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/metactl/metactl/catalog"
)

// Write writes an archive of the catalog to w: every file, live and moved,
// as one generation sees it. It reads the catalog in ONE read-only
// transaction (db.View), so the archive is one committed generation whole
// and other readers are never blocked; it records nothing in the catalog.
// The plaintext (see the package documentation for its layout) depends only
// on that generation's state, so archives of the same generation have
// identical plaintext.
//
// The plaintext is, line by line (see the package documentation):
//
//	{"format":"metactl-archive","version":1,"generation":G,"identity":"<hex or empty>","view_digest":"<hex>","files":N,"entries":E}\n
//	then per file, in handle order:
//	{"handle":"metadata/<name>","state":"live|moved","source":"...","imported_at":"<RFC3339Nano>","state_changed_at":"<RFC3339Nano>","size":S,"sha256":"<hex>"}\n
//	<exactly S content bytes>\n
//	{"end":true,"files":N,"sha256":"<hex SHA-256 of every plaintext byte above>"}\n
//
// It is compressed as one zstd stream at klauspost's fastest level (see encoderLevel) with
// two encoder goroutines, and the stream is closed (flushed) before Write
// returns. It returns the archive's header.
//
// On error, w may already hold part of a stream, which any reader refuses
// (it lacks a trailer); write to a temporary file and rename it into place
// on success.
func Write(ctx context.Context, w io.Writer, db catalog.DB) (*Header, error) {
	// The level is explicit: compressed bytes are not a contract (only the
	// plaintext is), but the speed/size trade-off is a choice, not an
	// accident of the library's default (see encoderLevel). Two goroutines
	// keep a large export fast without taking every core from the host.
	enc, err := zstd.NewWriter(w, zstd.WithEncoderLevel(encoderLevel), zstd.WithEncoderConcurrency(2))
	if err != nil {
		return nil, fmt.Errorf("write archive: %w", err)
	}
	h, err := writePlain(ctx, enc, db)
	// Close even after a failure: it releases the encoder's goroutines.
	if cerr := enc.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write archive: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	return h, nil
}

// plainWriter writes the plaintext to w and hashes it until the trailer.
type plainWriter struct {
	w   io.Writer
	sum hash.Hash
}

func (p *plainWriter) write(b []byte) error {
	p.sum.Write(b)
	_, err := p.w.Write(b)
	return err
}

// writePlain writes the uncompressed archive of db to w.
func writePlain(ctx context.Context, w io.Writer, db catalog.DB) (*Header, error) {
	var h *Header
	err := db.View(ctx, func(tx catalog.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The catalog keeps the file counts; the walk below, in the same
		// transaction, must match them.
		live, moved, err := tx.CountFiles()
		if err != nil {
			return err
		}
		var ops []catalog.Operation // newest first
		if err := tx.Operations(func(op *catalog.Operation) bool {
			ops = append(ops, *op)
			return true
		}); err != nil {
			return err
		}
		slices.Reverse(ops)
		nfiles := live + moved
		h = &Header{
			Format:     FormatName,
			Version:    FormatVersion,
			Generation: tx.Generation(),
			ViewDigest: tx.ViewDigest(),
			Files:      nfiles,
			Entries:    tx.EntryCount(),
			Journal:    len(ops),
		}
		if id, ok := tx.Identity(); ok {
			h.Identity = id.String()
		}
		pw := &plainWriter{w: w, sum: sha256.New()}
		line, err := marshalLine(h)
		if err != nil {
			return err
		}
		if err := pw.write(line); err != nil {
			return err
		}
		n := 0
		var buf []byte // the record line, reused
		err = tx.ForEachFile(true, func(f *catalog.File) error {
			if n%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			n++
			if f.State != catalog.Live && f.State != catalog.Moved {
				return fmt.Errorf("file %q has invalid state %d: %w", f.Handle, f.State, catalog.ErrCorrupt)
			}
			// Check here rather than let every reader refuse the archive
			// later: a damaged catalog should fail the export that reads it.
			if sha256.Sum256(f.Content) != f.SHA256 {
				return fmt.Errorf("file %q: content does not match its stored SHA-256: %w", f.Handle, catalog.ErrCorrupt)
			}
			buf, err = appendRecord(buf[:0], f)
			if err != nil {
				return err
			}
			if err := pw.write(buf); err != nil {
				return err
			}
			if err := pw.write(f.Content); err != nil {
				return err
			}
			return pw.write(newline)
		})
		if err != nil {
			return err
		}
		if n != nfiles {
			return fmt.Errorf("counted %d files but walked %d in one transaction: %w", nfiles, n, catalog.ErrCorrupt)
		}
		for i := range ops {
			line, err := marshalLine(&wireOp{Op: &ops[i]})
			if err != nil {
				return err
			}
			if err := pw.write(line); err != nil {
				return err
			}
		}
		line, err = marshalLine(&wireTrailer{End: true, Files: n, SHA256: hex.EncodeToString(pw.sum.Sum(nil))})
		if err != nil {
			return err
		}
		_, err = w.Write(line)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write archive: %w", err)
	}
	return h, nil
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
func appendRecord(b []byte, f *catalog.File) ([]byte, error) {
	if !rfc3339Year(f.ImportedAt) || !rfc3339Year(f.StateChangedAt) {
		// json.Marshal refuses such a time; keep its error.
		line, err := marshalLine(&wireRecord{Handle: f.Handle, State: f.State.String(), Source: f.Source,
			ImportedAt: f.ImportedAt, StateChangedAt: f.StateChangedAt, Size: len(f.Content),
			SHA256: hex.EncodeToString(f.SHA256[:])})
		return append(b, line...), err
	}
	b = append(b, `{"handle":`...)
	b = appendJSONString(b, f.Handle)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, f.State.String())
	b = append(b, `,"source":`...)
	b = appendJSONString(b, f.Source)
	b = append(b, `,"imported_at":"`...)
	b = f.ImportedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","state_changed_at":"`...)
	b = f.StateChangedAt.AppendFormat(b, time.RFC3339Nano)
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
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
