package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"slices"

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
// It is compressed as one zstd stream at the default level with
// two encoder goroutines, and the stream is closed (flushed) before Write
// returns. It returns the archive's header.
//
// On error, w may already hold part of a stream, which any reader refuses
// (it lacks a trailer); write to a temporary file and rename it into place
// on success.
func Write(ctx context.Context, w io.Writer, db *catalog.DB) (*Header, error) {
	// The level is explicit: compressed bytes are not a contract (only the
	// plaintext is), but the speed/size trade-off is a choice, not an
	// accident of the library's default. Two goroutines keep a large
	// export fast without taking every core from the host.
	enc, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(2))
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
func writePlain(ctx context.Context, w io.Writer, db *catalog.DB) (*Header, error) {
	var h *Header
	err := db.View(func(tx *catalog.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		// One cheap listing (no content) gives the count the header
		// announces; the walk below, in the same transaction, must match.
		list, err := tx.Files(0)
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
		h = &Header{
			Format:     FormatName,
			Version:    FormatVersion,
			Generation: tx.Generation(),
			ViewDigest: tx.ViewDigest(),
			Files:      len(list),
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
			line, err := marshalLine(&wireRecord{
				Handle:         f.Handle,
				State:          f.State.String(),
				Source:         f.Source,
				ImportedAt:     f.ImportedAt,
				StateChangedAt: f.StateChangedAt,
				Size:           len(f.Content),
				SHA256:         hex.EncodeToString(f.SHA256[:]),
			})
			if err != nil {
				return err
			}
			if err := pw.write(line); err != nil {
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
		if n != len(list) {
			return fmt.Errorf("listed %d files but walked %d in one transaction: %w", len(list), n, catalog.ErrCorrupt)
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
