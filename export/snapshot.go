package export

import (
	"context"
	"fmt"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
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
		return tx.ForEachFile(true, func(f *catalog.File) error {
			if len(s.Files)%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			s.Files = append(s.Files, f)
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
