package export

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/failpoint"
	"github.com/metactl/metactl/storage"
)

// Adapter is an Aptos command-adapter storage as a [Target].
type Adapter struct {
	// CA runs the config's commands.
	CA *storage.CommandAdapter
	// Config is the config file's path, for messages.
	Config string
	// Concurrency bounds how many adapter commands run at once within a
	// phase (all saves finish before the first move starts). Zero (or
	// negative) means one at a time, as Aptos publishes.
	Concurrency int
}

// String returns the config's path.
func (a *Adapter) String() string { return a.Config }

// Publish makes the remote hold s, in the order that keeps a concurrent
// Aptos reader safe:
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
//  4. report remote files the catalog does not know, reading each to tell
//     a new metadata file from anything else. Nothing is removed: the
//     adapter has no delete command, so files deleted by cleanup are
//     reported even with Options.Prune.
//
// If step 3 has work and the config has no backup_metadata_file command, it
// fails with an error wrapping [storage.ErrNoBackupCommand] before running
// anything (a dry run too: the real run would fail). Give ctx a deadline
// when the commands talk to a network: a command that hangs hangs the
// export.
func (a *Adapter) Publish(ctx context.Context, s *Snapshot, opts Options) (*Result, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	l, err := a.CA.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: list remote: %w", err)
	}
	remoteLive := make(map[string]bool, len(l.Live))
	for _, n := range l.Live {
		remoteLive[n] = true
	}
	res := newResult(a, s, opts)
	known := make(map[string]bool, len(s.Files))
	remoteMoved := make(map[string]bool, len(l.Moved))
	for _, n := range l.Moved {
		remoteMoved[n] = true
	}
	files, kept := s.keepQuarantined(func(p string) bool {
		dir, name, _ := strings.Cut(p, "/")
		if dir == aptos.MetadataBackupDir {
			return remoteMoved[name]
		}
		return remoteLive[name]
	})
	res.Kept = append(res.Kept, kept...)
	for name := range s.Quarantined {
		known[name] = true // not saved, moved or classified: kept above
	}
	var save, move []*catalog.File
	for _, f := range files {
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
	if err := a.checkForeign(ctx, s, l, move, opts, res); err != nil {
		return nil, err
	}
	if len(move) > 0 && !a.CA.CanBackup() {
		return nil, fmt.Errorf("export: %d moved files are still live remotely (first %q), but moving them needs a backup_metadata_file command: %w",
			len(move), move[0].Handle, storage.ErrNoBackupCommand)
	}

	var mu sync.Mutex // guards done and Progress calls
	done, total := 0, len(save)+len(move)
	step := func() {
		mu.Lock()
		defer mu.Unlock()
		done++
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
	}
	limit := max(a.Concurrency, 1)
	err = runLimited(ctx, len(save), limit, func(ctx context.Context, i int) error {
		if !opts.DryRun {
			if _, err := a.CA.SaveMetadataFile(ctx, save[i].Name(), save[i].Content); err != nil {
				return fmt.Errorf("export: save %q: %w", save[i].Handle, err)
			}
		}
		step()
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, f := range save {
		res.Written = append(res.Written, f.Handle)
	}
	if !opts.DryRun {
		failpoint.Hit("export.between-writes-and-moves")
	}
	err = runLimited(ctx, len(move), limit, func(ctx context.Context, i int) error {
		if !opts.DryRun {
			if err := a.CA.BackupMetadataFile(ctx, move[i].Handle); err != nil {
				return fmt.Errorf("export: move %q: %w", move[i].Handle, err)
			}
		}
		step()
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, f := range move {
		res.Moved = append(res.Moved, f.Handle)
	}

	deleted := s.deleted()
	for _, folder := range []struct {
		names  []string
		handle func(string) string
	}{{l.Live, aptos.LiveHandle}, {l.Moved, aptos.MovedHandle}} {
		for _, n := range folder.names {
			if known[n] {
				continue
			}
			h := folder.handle(n)
			k := Kept{Reason: KeptOther}
			if err := aptos.ValidName(n); err != nil {
				k.Detail = err.Error()
			} else if raw, err := a.CA.ReadFile(ctx, h, 0); err != nil {
				if ctx.Err() != nil {
					return nil, fmt.Errorf("export: read %q: %w", h, ctx.Err())
				}
				k.Detail = err.Error()
			} else if sum, ok := deleted[n]; ok && isDeleted(raw, sum) {
				k = Kept{Reason: KeptDeleted, Detail: "the command adapter has no delete command; remove it from the bucket by hand"}
			} else {
				k = classify(n, raw)
			}
			k.Path = h
			res.Kept = append(res.Kept, k)
		}
	}
	slices.SortFunc(res.Kept, func(x, y Kept) int { return strings.Compare(x.Path, y.Path) })
	return res, nil
}

// checkForeign reads, before any command that changes the remote, the
// files whose content export would act on without comparing it: every file
// it would move (backup_metadata_file on the remote's live copy) and the
// remote's identity.meta (live or moved). A file the catalog never wrote
// (Snapshot.foreign) is refused with a *ForeignError, unless opts.Force,
// which lists it in res.Overridden. Files export leaves alone are not
// read: through an adapter every read is a download.
func (a *Adapter) checkForeign(ctx context.Context, s *Snapshot, l storage.Listing, move []*catalog.File, opts Options, res *Result) error {
	if opts.Synced {
		return nil
	}
	byName := make(map[string]*catalog.File, len(s.Files))
	for _, f := range s.Files {
		byName[f.Name()] = f
	}
	type check struct {
		handle string
		f      *catalog.File
	}
	var checks []check
	for _, f := range move {
		checks = append(checks, check{f.Handle, f})
	}
	for _, folder := range []struct {
		names  []string
		handle func(string) string
	}{{l.Live, aptos.LiveHandle}, {l.Moved, aptos.MovedHandle}} {
		for _, n := range folder.names {
			if n == identityName && !slices.ContainsFunc(move, func(f *catalog.File) bool { return f.Name() == n && folder.handle(n) == f.Handle }) {
				checks = append(checks, check{folder.handle(n), byName[n]})
			}
		}
	}
	var found []Foreign
	for _, c := range checks {
		raw, err := a.CA.ReadFile(ctx, c.handle, 0)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("export: read %q: %w", c.handle, ctx.Err())
			}
			return fmt.Errorf("export: read %q to check it before changing the remote: %w", c.handle, err)
		}
		if why := s.foreign(c.f, aptos.BaseName(c.handle), raw); why != "" {
			found = append(found, Foreign{Path: c.handle, Reason: why})
		}
	}
	if len(found) == 0 {
		return nil
	}
	slices.SortFunc(found, func(x, y Foreign) int { return strings.Compare(x.Path, y.Path) })
	if !opts.Force {
		return &ForeignError{Target: a.Config, Files: found}
	}
	res.Overridden = found
	return nil
}
