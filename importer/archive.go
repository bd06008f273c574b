package importer

import (
	"context"
	"fmt"
	"io"

	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
)

// Archive is a metactl archive read and verified: a Batch of its files, to
// commit like any other source, and what the archive says about the
// catalog it was made from.
type Archive struct {
	*Batch
	// Header is the archive's header: the generation, view digest, entry
	// count and identity of the catalog at export.
	Header archive.Header
	// Journal is the catalog's journal at export, oldest first (empty for
	// a version 1 archive).
	Journal []catalog.Operation
}

// ReadArchive reads and verifies the archive in r ([archive.Reader]: every
// record's SHA-256, then the trailer's digest of the whole plaintext) and
// prepares its files as a Batch, each recorded with the source
// "archive:<the source the archived catalog recorded>". Nothing is handed
// on before the whole archive verified: a bad archive gives an error
// wrapping [archive.ErrBadArchive].
//
// Committing the batch imports the archive with the sync rules of any
// other source (the archive lists both folders), and checks inside the
// transaction, before the commit, that the catalog's view digest and entry
// count then equal the archive header's and that its identity is the
// archive's; otherwise the transaction is rolled back with an error
// wrapping [archive.ErrViewMismatch] (typically: the catalog held other live
// files) or [catalog.ErrConflict] (another identity). The catalog's generation
// after the import is its own, not the archive's.
func ReadArchive(ctx context.Context, r io.Reader, opts Options) (*Archive, error) {
	rd, err := archive.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer rd.Close()
	var files []SourceFile
	for {
		if len(files)%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("import: %w", err)
			}
		}
		f, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		state := catalog.Live
		if f.State == archive.Moved {
			state = catalog.Moved
		}
		files = append(files, SourceFile{Handle: f.Handle, State: state, Content: f.Content, Source: "archive:" + f.Source})
	}
	h := *rd.Header()
	b, err := Prepare(ctx, files, opts)
	if err != nil {
		return nil, err
	}
	b.check = func(tx catalog.Tx) error { return checkArchiveView(tx, &h) }
	journal := make([]catalog.Operation, len(rd.Journal()))
	for i, op := range rd.Journal() {
		journal[i] = catalogOp(&op)
	}
	return &Archive{Batch: b, Header: h, Journal: journal}, nil
}

// catalogOp returns an archive's journal record as the catalog's.
func catalogOp(op *archive.Op) catalog.Operation {
	ch := func(c archive.Changes) catalog.Changes {
		return catalog.Changes{Count: c.Count, Handles: c.Handles, Truncated: c.Truncated}
	}
	return catalog.Operation{Generation: op.Generation, Kind: catalog.Kind(op.Kind), Time: op.Time, Command: op.Command, Inputs: op.Inputs,
		Note: op.Note, Added: ch(op.Added), Replaced: ch(op.Replaced), Moved: ch(op.Moved), Revived: ch(op.Revived),
		Deleted: ch(op.Deleted), Entries: op.Entries, DigestBefore: op.DigestBefore, DigestAfter: op.DigestAfter,
		Undoes: op.Undoes, Purged: op.Purged, Quarantined: op.Quarantined}
}

// checkArchiveView compares the catalog inside the import's transaction
// with the archive's header.
func checkArchiveView(tx catalog.Tx, h *archive.Header) error {
	if d := tx.ViewDigest(); d != h.ViewDigest {
		return fmt.Errorf("view digest after import is %s, the archive's is %s (did the catalog hold other live files?): %w",
			d.Short(), h.ViewDigest.Short(), archive.ErrViewMismatch)
	}
	if n := tx.EntryCount(); n != h.Entries {
		return fmt.Errorf("view has %d entries after import, the archive's has %d: %w", n, h.Entries, archive.ErrViewMismatch)
	}
	if h.Identity != "" {
		if id, ok := tx.Identity(); !ok || id.String() != h.Identity {
			return fmt.Errorf("catalog identity after import is not the archive's %s: %w", h.Identity, catalog.ErrConflict)
		}
	}
	return nil
}
