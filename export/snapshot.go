package export

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/cleanup"
)

// Snapshot is one committed generation of a catalog's files, copied out of
// the read-only transaction that read it. It is what the export functions
// write; it does not refer to the catalog any more.
type Snapshot struct {
	// Generation is the catalog generation the files were read at.
	Generation uint64
	// ViewDigest is the view digest at that generation.
	ViewDigest aptos.Digest
	// Files holds every file, live and moved, in handle order, with
	// content.
	Files []*catalog.File
	// Deleted lists, in handle order, the files cleanup deleted from the
	// catalog (catalog.Tx.DeletedFiles, restricted to generations whose
	// journal kind is cleanup's: a file an undo removed came from the
	// storage and is not export's to delete). Options.Prune removes these,
	// and only these, from the storage, and only where the storage's copy
	// has the deleted content (SHA256): a file of the same name with other
	// content is someone else's.
	Deleted []*catalog.DeletedFile
}

// cleanupKind is the journal kind of cleanup operations (package cleanup's
// OperationKind).
const cleanupKind = cleanup.OperationKind

func sortFiles(files []*catalog.File) {
	slices.SortFunc(files, func(a, b *catalog.File) int { return strings.Compare(a.Handle, b.Handle) })
}

// TakeSnapshot reads every file of db, with content, in one read-only
// transaction. It holds the whole catalog content in memory (a few bytes
// per metadata line: tens of MB for the largest storages), which is the
// price of releasing the transaction before the slow writes begin.
func TakeSnapshot(ctx context.Context, db catalog.DB) (*Snapshot, error) {
	s := &Snapshot{}
	err := db.View(ctx, func(tx catalog.Tx) error {
		s.Generation = tx.Generation()
		s.ViewDigest = tx.ViewDigest()
		s.Files = s.Files[:0]
		if err := tx.ForEachFile(true, func(f *catalog.File) error {
			if len(s.Files)%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			s.Files = append(s.Files, f)
			return nil
		}); err != nil {
			return err
		}
		cleanups := map[uint64]bool{}
		if err := tx.Operations(func(op *catalog.Operation) bool {
			if op.Kind == cleanupKind {
				cleanups[op.Generation] = true
			}
			return true
		}); err != nil {
			return err
		}
		s.Deleted = s.Deleted[:0]
		return tx.DeletedFiles(func(d *catalog.DeletedFile) error {
			if cleanups[d.Generation] {
				s.Deleted = append(s.Deleted, d)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("export: read catalog: %w", err)
	}
	return s, nil
}

// check refuses a snapshot with a file export cannot place: a handle that
// is not "metadata/<ShellSafeName>", or a state that is neither live nor
// moved. It runs before anything is written.
func (s *Snapshot) check() error {
	for _, f := range s.Files {
		if err := aptos.ValidateHandle(f.Handle); err != nil {
			return fmt.Errorf("export: catalog file %q: %w", f.Handle, err)
		}
		if f.State != catalog.Live && f.State != catalog.Moved {
			return fmt.Errorf("export: catalog file %q has invalid state %d: %w", f.Handle, f.State, catalog.ErrCorrupt)
		}
	}
	return nil
}
