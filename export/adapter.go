package export

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/failpoint"
	"github.com/metactl/metactl/storage"
)

// AdapterOptions configures ToCommandAdapter.
type AdapterOptions struct {
	// Progress, if not nil, is called after each save_metadata_line or
	// backup_metadata_file command, with the number done and the number
	// of commands to run.
	Progress func(done, total int)
	// Concurrency bounds how many adapter commands run at once within a
	// phase (all saves finish before the first move starts). Zero (or
	// negative) means one at a time, as Aptos publishes.
	Concurrency int
}

// AdapterResult says what ToCommandAdapter did.
type AdapterResult struct {
	// Generation is the catalog generation that was exported.
	Generation uint64
	// Saved counts live files written with save_metadata_line.
	Saved int
	// Moved counts files moved to metadata_backup/ with
	// backup_metadata_file.
	Moved int
	// Unchanged counts catalog files that needed nothing: live files the
	// remote lists in metadata/, and moved files it does not list there.
	Unchanged int
	// Unknown lists the remote files the catalog does not know, as
	// "metadata/<name>" or "metadata_backup/<name>" (the latter only if the
	// config has list_metadata_backup_files), sorted. Nothing is removed.
	Unknown []string
}

// ToCommandAdapter exports the catalog through the Aptos command adapter
// ca; see the package documentation. It reads db in one read-only
// transaction ([TakeSnapshot]) and writes nothing to the catalog.
func ToCommandAdapter(ctx context.Context, db catalog.DB, ca *storage.CommandAdapter, opts AdapterOptions) (*AdapterResult, error) {
	s, err := TakeSnapshot(ctx, db)
	if err != nil {
		return nil, err
	}
	return s.ToCommandAdapter(ctx, ca, opts)
}

// ToCommandAdapter exports s through the command adapter ca, in the order
// that keeps a concurrent Aptos reader safe:
//
//  1. list the remote (list_metadata_files, and list_metadata_backup_files
//     if configured);
//  2. save_metadata_line for every live file the remote does not list in
//     metadata/ (a listed name counts as present: content is not compared,
//     since Aptos assumes a handle's content never changes);
//  3. backup_metadata_file for every file the catalog moved that the remote
//     still lists in metadata/: that command moves the remote's live copy.
//     A moved file the remote does not list live needs nothing (there is
//     no command that writes into metadata_backup/ directly);
//  4. report remote files the catalog does not know.
//
// If step 3 has work and the config has no backup_metadata_file command, it
// fails with an error wrapping storage.ErrNoBackupCommand before running
// anything. Give ctx a deadline when the commands talk to a network: a
// command that hangs hangs the export.
func (s *Snapshot) ToCommandAdapter(ctx context.Context, ca *storage.CommandAdapter, opts AdapterOptions) (*AdapterResult, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	l, err := ca.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: list remote: %w", err)
	}
	remoteLive := make(map[string]bool, len(l.Live))
	for _, n := range l.Live {
		remoteLive[n] = true
	}
	res := &AdapterResult{Generation: s.Generation}
	known := make(map[string]bool, len(s.Files))
	var save, move []*catalog.File
	for _, f := range s.Files {
		name := f.Name()
		known[name] = true
		switch {
		case f.State == catalog.Live && !remoteLive[name]:
			save = append(save, f)
		case f.State == catalog.Moved && remoteLive[name]:
			move = append(move, f)
		default:
			res.Unchanged++
		}
	}
	if len(move) > 0 && !ca.CanBackup() {
		return nil, fmt.Errorf("export: %d moved files are still live remotely (first %q), but moving them needs a backup_metadata_file command: %w",
			len(move), move[0].Handle, storage.ErrNoBackupCommand)
	}

	var mu sync.Mutex
	done, total := 0, len(save)+len(move)
	step := func(count *int) {
		mu.Lock()
		defer mu.Unlock()
		*count++
		done++
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
	}
	limit := max(opts.Concurrency, 1)
	err = runLimited(ctx, len(save), limit, func(ctx context.Context, i int) error {
		if _, err := ca.SaveMetadataFile(ctx, save[i].Name(), save[i].Content); err != nil {
			return fmt.Errorf("export: save %q: %w", save[i].Handle, err)
		}
		step(&res.Saved)
		return nil
	})
	if err != nil {
		return nil, err
	}
	failpoint.Hit("export.between-writes-and-moves")
	err = runLimited(ctx, len(move), limit, func(ctx context.Context, i int) error {
		if err := ca.BackupMetadataFile(ctx, move[i].Handle); err != nil {
			return fmt.Errorf("export: move %q: %w", move[i].Handle, err)
		}
		step(&res.Moved)
		return nil
	})
	if err != nil {
		return nil, err
	}

	for _, n := range l.Live {
		if !known[n] {
			res.Unknown = append(res.Unknown, aptos.LiveHandle(n))
		}
	}
	for _, n := range l.Moved {
		if !known[n] {
			res.Unknown = append(res.Unknown, aptos.MovedHandle(n))
		}
	}
	slices.Sort(res.Unknown)
	return res, nil
}

// runLimited calls fn for 0..n-1, at most limit at once, and returns the
// first error; after an error no new call starts and ctx is cancelled.
func runLimited(ctx context.Context, n, limit int, fn func(context.Context, int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}
