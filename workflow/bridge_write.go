package workflow

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/storage"
)

// Replaceable reports whether a metadata file of this name may get new
// content through save_metadata_line: a compacted file (Aptos's compactor
// rewrites one whose chunk changed) or a compaction timestamps file. An
// original backup file's content never changes.
func Replaceable(name string) bool {
	return strings.Contains(name, "_compacted_") || strings.HasPrefix(name, "compaction_timestamps_")
}

// SaveMetadata commits one metadata file, as save_metadata_line writes it,
// in one write transaction of kind KindAdapterSave. content must already
// be validated (lines is content parsed). What it does with a handle the
// catalog holds:
//
//   - the same content: nothing if live (a retry; Result.Written false),
//     made live again if moved, as a save in Aptos's storages makes it;
//   - other content, for an original backup file: refused, nothing
//     changes (an error wrapping catalog.ErrConflict);
//   - other content, for a compacted or timestamps file ([Replaceable]):
//     replaced, journaled and undoable, but only if the view keeps every
//     entry; otherwise refused naming the entries it would lose.
func SaveMetadata(ctx context.Context, db catalog.DB, handle string, content []byte, lines []aptos.Metadata, source string) (*CallResult, error) {
	sum := sha256.Sum256(content)
	res := &CallResult{}
	put := func(tx catalog.WriteTx, preserve bool) error {
		tx.SetInputs("adapter save_metadata_line "+handle, source)
		f, err := tx.File(handle)
		nf := catalog.NewFile{Handle: handle, Content: content, Lines: lines, SHA256: sum, State: catalog.Live, Source: source}
		switch {
		case errors.Is(err, catalog.ErrNotFound):
			tx.SetNote("save " + handle)
		case err != nil:
			return err
		case f.SHA256 == sum:
			if f.State == catalog.Live {
				return nil
			}
			tx.SetNote("save " + handle + " (live again)")
		case !Replaceable(aptos.BaseName(handle)):
			return fmt.Errorf("%s already holds other content (sha256 %x, this save %x) and an original backup file's content never changes: refused, nothing changed: %w",
				handle, f.SHA256[:8], sum[:8], catalog.ErrConflict)
		default:
			nf.Replace = true
			res.Replaced = true
			if preserve {
				tx.PreserveView()
			}
			tx.SetNote("save " + handle + " (replaced)")
		}
		_, err = tx.PutFile(nf)
		return err
	}
	op, err := db.Update(ctx, KindAdapterSave, func(tx catalog.WriteTx) error { return put(tx, true) })
	var lost *catalog.LostEntriesError
	if errors.As(err, &lost) {
		if len(lost.Lost) > 0 {
			n := len(lost.Lost) + lost.More
			return nil, fmt.Errorf("%s: replacing its content would lose %d entries of the view (%s): refused, nothing changed: %w",
				handle, n, strings.Join(lost.Lost, "; "), catalog.ErrConflict)
		}
		// Only entries added: the view keeps every entry.
		res.Replaced = false
		op, err = db.Update(ctx, KindAdapterSave, func(tx catalog.WriteTx) error { return put(tx, false) })
	}
	if err != nil {
		return nil, err
	}
	res.Generation, res.Written = op.Generation, op.Changed()
	res.Replaced = res.Replaced && res.Written
	return res, nil
}

// MoveMetadata moves one live metadata file to moved, as
// backup_metadata_file does, in one write transaction of kind
// KindAdapterMove. A file already moved is a retry: nothing changes. The
// move must keep every entry of the view (Aptos's compactor moves only
// files whose entries its compacted files hold); otherwise it is refused
// naming the entries it would lose. An unknown name wraps
// catalog.ErrNotFound.
func MoveMetadata(ctx context.Context, db catalog.DB, handle string) (*CallResult, error) {
	op, err := db.Update(ctx, KindAdapterMove, func(tx catalog.WriteTx) error {
		tx.SetInputs("adapter backup_metadata_file " + handle)
		f, err := tx.File(handle)
		if errors.Is(err, catalog.ErrNotFound) {
			return fmt.Errorf("metadata file %q is not in the catalog: %w", handle, catalog.ErrNotFound)
		}
		if err != nil || f.State == catalog.Moved {
			return err
		}
		tx.PreserveView()
		tx.SetNote("move " + handle)
		return tx.SetState(handle, catalog.Moved)
	})
	var lost *catalog.LostEntriesError
	if errors.As(err, &lost) {
		return nil, fmt.Errorf("%s: moving it would lose %d entries of the view (%s): refused, nothing changed: %w",
			handle, len(lost.Lost)+lost.More, strings.Join(lost.Lost, "; "), catalog.ErrConflict)
	}
	if err != nil {
		return nil, err
	}
	return &CallResult{Generation: op.Generation, Written: op.Changed()}, nil
}

// save answers save_metadata_line: print the handle and close stdout
// (Aptos reads it to EOF before it writes), read and validate the lines as
// import does, commit them, then write them through to the storage.
func (b *Bridge) save(ctx context.Context, name string, cio CallIO) (*CallResult, error) {
	if err := aptos.ValidName(name); err != nil {
		return nil, err
	}
	handle := aptos.LiveHandle(name)
	if _, err := io.WriteString(cio.Stdout, handle+"\n"); err != nil {
		return nil, fmt.Errorf("%s: write stdout: %w", handle, err)
	}
	if err := cio.Stdout.Close(); err != nil {
		return nil, fmt.Errorf("%s: close stdout: %w", handle, err)
	}
	content, err := io.ReadAll(io.LimitReader(cio.Stdin, storage.DefaultMaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read stdin: %w", handle, err)
	}
	source := "adapter:" + b.Storage.String()
	batch, err := importer.Prepare(ctx, []importer.SourceFile{{Handle: handle, State: catalog.Live, Content: content, Source: source}},
		importer.Options{Source: source})
	if err != nil {
		return nil, err
	}
	if err := batch.Err(); err != nil {
		return nil, err
	}
	lines, err := aptos.ParseFile(content)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", handle, err)
	}
	db, err := b.Open(ctx, false)
	if err != nil {
		return nil, err
	}
	res, err := SaveMetadata(ctx, db, handle, content, lines, source)
	db.Close()
	if err != nil {
		return nil, err
	}
	// The catalog holds the file: a retry that changed nothing writes it
	// through again, in case the first call died before it did.
	wctx, cancel := b.wrappedContext(ctx)
	defer cancel()
	if err := b.Storage.SaveThrough(wctx, name, content); err != nil {
		err = fmt.Errorf("%s: committed to the catalog at generation %d, but writing it through to %s failed (the next 'metactl export' to that storage writes it): %w",
			handle, res.Generation, b.Storage, err)
		if res.Replaced && b.Storage.IsCommandAdapter() {
			// An export through a command adapter counts a listed name
			// as present, so it would not rewrite the old content:
			// fail the call, and Aptos's next run saves it again.
			return nil, err
		}
		res.Warnings = append(res.Warnings, err.Error())
	}
	return res, nil
}

// move answers backup_metadata_file: one move transaction, then the same
// move in the storage.
func (b *Bridge) move(ctx context.Context, name string) (*CallResult, error) {
	if err := aptos.ValidName(name); err != nil {
		return nil, err
	}
	handle := aptos.LiveHandle(name)
	db, err := b.Open(ctx, false)
	if err != nil {
		return nil, err
	}
	res, err := MoveMetadata(ctx, db, handle)
	db.Close()
	if err != nil {
		return nil, err
	}
	if !res.Written && b.Storage.IsCommandAdapter() {
		// A retry: the move was written through before, or the next
		// export moves it (a moved file still listed live).
		return res, nil
	}
	wctx, cancel := b.wrappedContext(ctx)
	defer cancel()
	if err := b.Storage.MoveThrough(wctx, name); err != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s: moved in the catalog at generation %d, but moving it in %s failed (the next 'metactl export' to that storage moves it): %v",
			handle, res.Generation, b.Storage, err))
	}
	return res, nil
}
