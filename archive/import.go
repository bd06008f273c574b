package archive

import (
	"context"
	"fmt"
	"io"

	"github.com/metactl/metactl/catalog"
)

// ImportResult says what [Import] did.
type ImportResult struct {
	// Header is the imported archive's header.
	Header Header
	// Added, StateChanged and Unchanged count the archive's files by what
	// catalog.WriteTx.PutFile did with them.
	Added, StateChanged, Unchanged int
	// Operation is the committed operation; Operation.Changed() is false
	// when the catalog already held exactly the archive's files (nothing
	// was committed and the generation did not move).
	Operation *catalog.Operation
}

// Import loads the archive in r into db. It reads and verifies the whole
// archive first ([ReadAll]); a bad archive returns an error wrapping
// [ErrBadArchive] and leaves the catalog untouched. Then, in ONE write
// transaction (operation kind "import"), it puts every file with its state
// and content and the source "archive:<original source>", and checks, before
// the commit, that the catalog's view digest and entry count equal the
// archive header's and that the catalog identity is the archive's. Any
// failure aborts the transaction, so the catalog changes wholly or not at
// all:
//
//   - a handle that already holds other content, or an identity that
//     differs from the catalog's: an error wrapping catalog.ErrConflict;
//   - a view that differs after the import (typically: the catalog held
//     other live files): an error wrapping [ErrViewMismatch];
//   - a file the catalog refuses (catalog.ValidateEntry): aptos.ErrInvalid.
//
// Files that are already in the catalog with the same content are brought
// to the archive's state; import times and sources of the new files are the
// catalog's own (this transaction's time), not the archive's.
func Import(ctx context.Context, db catalog.DB, r io.Reader) (*ImportResult, error) {
	h, files, err := ReadAll(r)
	if err != nil {
		return nil, err
	}
	res := &ImportResult{Header: *h}
	op, err := db.Update(ctx, "import", func(tx catalog.WriteTx) error {
		res.Added, res.StateChanged, res.Unchanged = 0, 0, 0
		tx.SetInputs(fmt.Sprintf("archive generation %d, view digest %s, %d files", h.Generation, h.ViewDigest, h.Files))
		for i, f := range files {
			if i%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			pr, err := tx.PutFile(catalog.NewFile{
				Handle:  f.Handle,
				Content: f.Content,
				State:   f.State,
				Source:  "archive:" + f.Source,
			})
			if err != nil {
				return err
			}
			switch pr {
			case catalog.Added, catalog.Replaced:
				res.Added++
			case catalog.StateChanged:
				res.StateChanged++
			default:
				res.Unchanged++
			}
		}
		if d := tx.ViewDigest(); d != h.ViewDigest {
			return fmt.Errorf("view digest after import is %s, the archive's is %s (did the catalog hold other live files?): %w",
				d.Short(), h.ViewDigest.Short(), ErrViewMismatch)
		}
		if n := tx.EntryCount(); n != h.Entries {
			return fmt.Errorf("view has %d entries after import, the archive's has %d: %w", n, h.Entries, ErrViewMismatch)
		}
		if h.Identity != "" {
			if id, ok := tx.Identity(); !ok || id.String() != h.Identity {
				return fmt.Errorf("catalog identity after import is not the archive's %s: %w", h.Identity, catalog.ErrConflict)
			}
		}
		tx.SetNote(fmt.Sprintf("imported archive: %d added, %d state changed, %d unchanged", res.Added, res.StateChanged, res.Unchanged))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import archive: %w", err)
	}
	res.Operation = op
	return res, nil
}
