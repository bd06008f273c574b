package export

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"

	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
)

// WriteArchive writes an archive of the catalog to w ([archive.Write]): every
// file, live and moved, and the journal, as ONE read-only transaction sees
// them, so the archive is one committed generation whole and other readers
// are never blocked; it records nothing in the catalog. A file whose state
// or content does not match the catalog's records fails the export with an
// error wrapping [catalog.ErrCorrupt], rather than every reader refusing the
// archive later.
func WriteArchive(ctx context.Context, w io.Writer, db catalog.DB) (*archive.Header, error) {
	var h *archive.Header
	err := db.View(ctx, func(tx catalog.Tx) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
		// The catalog keeps the file counts; the walk, in the same
		// transaction, must match them.
		live, moved, err := tx.CountFiles()
		if err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
		var ops []archive.Op // newest first
		if err := tx.Operations(func(op *catalog.Operation) bool {
			ops = append(ops, archiveOp(op))
			return true
		}); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
		slices.Reverse(ops)
		src := &archive.Source{
			Header: archive.Header{
				Generation: tx.Generation(),
				ViewDigest: tx.ViewDigest(),
				Files:      live + moved,
				Entries:    tx.EntryCount(),
			},
			Journal: ops,
		}
		if id, ok := tx.Identity(); ok {
			src.Header.Identity = id.String()
		}
		src.ForEachFile = func(fn func(*archive.File) error) error {
			n := 0
			var af archive.File
			err := tx.ForEachFile(true, func(f *catalog.File) error {
				n++
				switch f.State {
				case catalog.Live:
					af.State = archive.Live
				case catalog.Moved:
					af.State = archive.Moved
				default:
					return fmt.Errorf("file %q has invalid state %d: %w", f.Handle, f.State, catalog.ErrCorrupt)
				}
				if sha256.Sum256(f.Content) != f.SHA256 {
					return fmt.Errorf("file %q: content does not match its stored SHA-256: %w", f.Handle, catalog.ErrCorrupt)
				}
				af.Handle, af.Source, af.SHA256, af.Content = f.Handle, f.Source, f.SHA256, f.Content
				af.ImportedAt, af.StateChangedAt = f.ImportedAt, f.StateChangedAt
				return fn(&af)
			})
			if err == nil && n != live+moved {
				err = fmt.Errorf("counted %d files but walked %d in one transaction: %w", live+moved, n, catalog.ErrCorrupt)
			}
			return err
		}
		h, err = archive.Write(ctx, w, src)
		return err
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// archiveOp returns the journal record op as an archive carries it.
func archiveOp(op *catalog.Operation) archive.Op {
	ch := func(c catalog.Changes) archive.Changes {
		return archive.Changes{Count: c.Count, Handles: c.Handles, Truncated: c.Truncated}
	}
	return archive.Op{Generation: op.Generation, Kind: string(op.Kind), Time: op.Time, Command: op.Command, Inputs: op.Inputs,
		Note: op.Note, Added: ch(op.Added), Replaced: ch(op.Replaced), Moved: ch(op.Moved), Revived: ch(op.Revived),
		Deleted: ch(op.Deleted), Entries: op.Entries, DigestBefore: op.DigestBefore, DigestAfter: op.DigestAfter,
		Undoes: op.Undoes, Purged: op.Purged, Quarantined: op.Quarantined}
}
