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
	// catalog, and those an undo of a compaction removed (the compaction
	// wrote them): catalog.Tx.DeletedFiles of cleanup.PrunableGenerations.
	// A file an undo of an import removed came from the storage and is not
	// export's to delete. Options.Prune removes these,
	// and only these, from the storage, and only where the storage's copy
	// has the deleted content (SHA256): a file of the same name with other
	// content is someone else's.
	Deleted []*catalog.DeletedFile
	// Identity is the catalog's identity (the chain it belongs to), if a
	// file ever carried one: Publish refuses a storage of another chain.
	Identity *aptos.HashValue
	// held maps a handle to the SHA-256 of every content the catalog
	// recorded as deleted under it (any generation): content the catalog
	// once held, so not another storage's (see foreign).
	held map[string][][32]byte
	// rewritten holds the handles a write of the catalog replaced with
	// other content (compaction rewriting a compacted chunk or a
	// timestamps file): a storage copy of such a handle may hold an
	// earlier version the catalog wrote, whose digest the catalog no
	// longer has. rewrittenAll: the journal lists too many to name.
	rewritten    map[string]bool
	rewrittenAll bool
	// Quarantined maps the names of the storage files the catalog holds
	// as quarantined (import --quarantine) to their error. Publish never
	// writes, moves or removes a file at such a name: it lists it in
	// Result.Kept (KeptQuarantined) until the quarantine is released.
	Quarantined map[string]string
}

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
		if id, ok := tx.Identity(); ok {
			s.Identity = &id
		}
		prunable, err := cleanup.PrunableGenerations(tx)
		if err != nil {
			return err
		}
		s.Quarantined = map[string]string{}
		if err := tx.QuarantinedFiles(func(q *catalog.QuarantinedFile) error {
			s.Quarantined[aptos.BaseName(q.Handle)] = q.Error
			return nil
		}); err != nil {
			return err
		}
		s.rewritten, s.rewrittenAll = map[string]bool{}, false
		if err := tx.Operations(func(op *catalog.Operation) bool {
			for _, h := range op.Replaced.Handles {
				s.rewritten[h] = true
			}
			s.rewrittenAll = s.rewrittenAll || op.Replaced.Truncated
			return true
		}); err != nil {
			return err
		}
		s.Deleted = s.Deleted[:0]
		s.held = map[string][][32]byte{}
		return tx.DeletedFiles(func(d *catalog.DeletedFile) error {
			s.held[d.Handle] = append(s.held[d.Handle], d.SHA256)
			if prunable[d.Generation] {
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
