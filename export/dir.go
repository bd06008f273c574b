package export

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/failpoint"
	"github.com/metactl/metactl/storage"
)

// StagingDir is metactl's own folder in a LocalFs storage, where a Dir
// writes temporary files ([storage.StagingDir]).
const StagingDir = storage.StagingDir

// Errors returned (wrapped) by Dir.Publish when it refuses a path in the
// storage folder; the error text names the path. They are storage's: the
// safe-open layer of the LocalFs write side lives there
// ([storage.LocalWriter]).
var (
	// ErrSymlink: a folder, a target file or a temporary file name is a
	// symbolic link; export never follows one.
	ErrSymlink = storage.ErrSymlink
	// ErrNotRegular: a catalog file's name in metadata/ or
	// metadata_backup/ is taken by something other than a regular file.
	ErrNotRegular = storage.ErrNotRegular
	// ErrNotDir: metadata/, metadata_backup/ or the staging folder exists
	// but is not a directory.
	ErrNotDir = storage.ErrNotDir
	// ErrBusy: another export holds the storage folder's lock.
	ErrBusy = storage.ErrBusy
)

// Dir is a LocalFs backup storage folder as a [Target]: Path/metadata
// receives the live files and Path/metadata_backup the moved ones. Path is
// created if missing; a Path that exists, is not empty and has no
// metadata/ folder is refused, and so is a Path naming the metadata/ or
// metadata_backup/ folder itself.
type Dir struct {
	// Path is the folder, the --local-fs-dir of Aptos's tools.
	Path string
	// Gzip writes every file as gzip of its content (storage.Gzipper), as
	// bucket copies made by the sample command-adapter configs are. The
	// gzip stream is deterministic, so a second export of the same
	// generation finds every file identical. A file is rewritten whenever
	// its bytes differ from what would be written, so switching Gzip
	// rewrites every file once.
	Gzip bool
	// Workers bounds how many files are written (and then renamed) at once
	// within a phase. Where syncfs(2) is missing every write ends with an
	// fsync, and concurrent fsyncs share the filesystem's journal commits,
	// so a few writers are several times faster than one: zero means
	// DefaultWorkers there. Where one syncfs makes the phase durable
	// (storage.SyncsEachFile is false: Linux), zero means DefaultWorkers
	// but at most GOMAXPROCS: a write only copies into the page cache, so
	// no writer waits for the disk, and a writer beyond the CPUs can only
	// wait for the folder's lock (every file of a phase goes into one
	// folder; a fresh export of 200k files with 8 writers on 2 CPUs spent
	// 16% of its time in rwsem_spin_on_owner). 1 writes one file at a
	// time. The phases themselves never overlap.
	Workers int
	// Existing requires Path to be a LocalFs storage already (a folder
	// holding metadata/, storage.CheckLocalDir), as the drop-in compaction
	// does: it publishes back to the storage it read. Without it, a missing
	// or empty Path is created as a new storage.
	Existing bool
}

// DefaultWorkers is the number of concurrent file writers a Dir uses when
// Workers is zero and every file is fsynced as it is written
// (storage.SyncsEachFile).
const DefaultWorkers = 8

// workers returns how many files d writes at once (see Workers).
func (d *Dir) workers() int {
	switch {
	case d.Workers > 0:
		return d.Workers
	case storage.SyncsEachFile:
		return DefaultWorkers
	default:
		return min(DefaultWorkers, runtime.GOMAXPROCS(0))
	}
}

// String returns the folder's path.
func (d *Dir) String() string { return d.Path }

// Publish makes the folder hold s; see the package documentation for the
// order, the atomicity and the refusals.
func (d *Dir) Publish(ctx context.Context, s *Snapshot, opts Options) (*Result, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := d.checkPath(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	t, err := storage.OpenLocalWriter("export", d.Path, !opts.DryRun)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	res := newResult(d, s, opts)
	if err := run(ctx, t, s, d, opts, res); err != nil {
		// Leave nothing staged behind: the disk may be full (ENOSPC)
		// and the next export must not find it so (issue 21). This
		// export holds the folder's lock, so every staged entry is its
		// own or a dead export's.
		if _, cerr := t.CleanStaging(); cerr != nil {
			t.RemoveEmptyStaging()
		}
		return nil, err
	}
	return res, nil
}

// Check refuses a Path export must not write into (see checkPath), before
// anything is read or written: a caller can check before its slow steps.
// Publish checks again.
func (d *Dir) Check() error { return d.checkPath() }

// checkPath refuses, before anything is written, a Path that names the
// metadata/ or metadata_backup/ folder itself (writing there would make
// metadata/metadata/), and a folder that exists, is not empty and holds
// none of metadata/, metadata_backup/ and the staging folder: it is not a
// storage, and export will not turn it into one. A missing or empty folder
// is a new storage, unless Existing is set. (What is at those names, a
// symbolic link or a file, is refused later, naming it.) Errors wrap
// [storage.ErrNotStorage].
func (d *Dir) checkPath() error {
	if base := filepath.Base(filepath.Clean(d.Path)); base == aptos.MetadataDir || base == aptos.MetadataBackupDir || d.Existing {
		return storage.CheckLocalDir(d.Path)
	}
	ents, err := os.ReadDir(d.Path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(ents) == 0) {
		return nil // a new storage
	}
	if err != nil {
		return storage.CheckLocalDir(d.Path) // not a directory: it says so
	}
	for _, e := range ents {
		switch e.Name() {
		case aptos.MetadataDir, aptos.MetadataBackupDir, StagingDir:
			return nil
		}
	}
	return fmt.Errorf("local storage %s: %w: it is not empty and has no %s/ folder (expected an empty folder for a new storage, or a LocalFs backup storage folder holding metadata/ and metadata_backup/)",
		d.Path, storage.ErrNotStorage, aptos.MetadataDir)
}

// run is the publish algorithm of a Dir over the storage folder t; see the
// package documentation.
func run(ctx context.Context, t *storage.LocalWriter, s *Snapshot, dir *Dir, opts Options, res *Result) error {
	var live, moved []*catalog.File
	known := make(map[string]catalog.State, len(s.Files))
	files, _ := s.keepQuarantined(func(string) bool { return false })
	for name := range s.Quarantined {
		known[name] = 0 // not written, moved or classified: kept below
	}
	for _, f := range files {
		known[f.Name()] = f.State
		if f.State == catalog.Live {
			live = append(live, f)
		} else {
			moved = append(moved, f)
		}
	}

	// A new storage (neither folder exists) is written whole in the
	// staging folder and renamed into place.
	if fresh, err := t.Fresh(); err != nil || fresh {
		if err != nil {
			return err
		}
		return publishFresh(ctx, t, live, moved, dir, opts, res)
	}

	// Preflight: open the folders and refuse anything unsafe at a name
	// the catalog owns before writing a byte.
	meta, backup := t.Meta(), t.Backup()
	if err := t.OpenFolder(meta, true); err != nil {
		return err
	}
	if err := t.OpenFolder(backup, len(moved) > 0); err != nil {
		return err
	}
	if err := t.OpenFolder(t.Stage(), false); err != nil {
		return err
	}
	isKnown := func(name string) bool { _, ok := known[name]; return ok }
	for _, d := range []*storage.LocalFolder{meta, backup} {
		if err := t.CheckNames(d, isKnown); err != nil {
			return err
		}
	}
	sums, err := checkForeign(t, s, opts, res)
	if err != nil {
		return err
	}
	if err := t.SyncRoot(); err != nil {
		return err
	}

	// Phases 1 and 2: write what is missing or differs.
	done := 0
	for _, phase := range []struct {
		d     *storage.LocalFolder
		files []*catalog.File
	}{{meta, live}, {backup, moved}} {
		if err := writePhase(ctx, t, phase.d, sums[phase.d], phase.files, dir, opts, res, &done, len(s.Files)); err != nil {
			return err
		}
		if err := t.Sync(phase.d); err != nil {
			return err
		}
		if err := t.SyncRoot(); err != nil {
			return err
		}
	}
	if t.Writes() {
		failpoint.Hit("export.between-writes-and-moves")
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// Phase 3: the moves. Every file removed here has its right copy in
	// the other folder, durable since the syncs above.
	for _, rm := range []struct {
		d     *storage.LocalFolder
		files []*catalog.File
	}{{meta, moved}, {backup, live}} {
		for _, f := range rm.files {
			if !rm.d.Has(f.Name()) {
				continue
			}
			if err := t.Remove(rm.d, f.Name(), true); err != nil {
				return err
			}
			res.Moved = append(res.Moved, rm.d.Name()+"/"+f.Name())
		}
		if err := t.Sync(rm.d); err != nil {
			return err
		}
	}

	// A move between the folders is a copy into the other folder, written
	// above, and the removal just done: report it once, as a move, as an
	// Adapter does (its backup_metadata_file is one command).
	if len(res.Moved) > 0 {
		moved := make(map[string]bool, len(res.Moved))
		for _, p := range res.Moved {
			moved[p] = true
		}
		res.Written = slices.DeleteFunc(res.Written, func(p string) bool {
			dir, name, _ := strings.Cut(p, "/")
			other := aptos.MetadataDir
			if dir == aptos.MetadataDir {
				other = aptos.MetadataBackupDir
			}
			return moved[other+"/"+name]
		})
	}

	// Phase 4: entries the catalog does not know. Only files the catalog
	// records as deleted by cleanup are ever removed (with Prune); the
	// rest is classified and kept.
	deleted := s.deleted()
	type entry struct {
		d    *storage.LocalFolder
		name string
		mode fs.FileMode
	}
	var unknown []entry
	for _, d := range []*storage.LocalFolder{meta, backup} {
		for name, mode := range d.Entries() {
			if _, ok := known[name]; !ok {
				unknown = append(unknown, entry{d, name, mode})
			}
		}
	}
	slices.SortFunc(unknown, func(a, b entry) int {
		return strings.Compare(a.d.Name()+"/"+a.name, b.d.Name()+"/"+b.name)
	})
	for _, u := range unknown {
		path := u.d.Name() + "/" + u.name
		if !u.mode.IsRegular() {
			res.Kept = append(res.Kept, Kept{Path: path, Reason: KeptOther, Detail: storage.DescribeMode(u.mode)})
			continue
		}
		raw, why, err := t.ReadOther(u.d, u.name)
		if err != nil {
			return err
		}
		k := Kept{Reason: KeptOther, Detail: why}
		if raw != nil {
			if sum, ok := deleted[u.name]; ok && isDeleted(raw, sum) {
				if !opts.Prune {
					res.Kept = append(res.Kept, Kept{Path: path, Reason: KeptDeleted})
					continue
				}
				if err := t.Remove(u.d, u.name, true); err != nil {
					return err
				}
				res.Removed = append(res.Removed, path)
				continue
			}
			k = classify(u.name, raw)
		}
		k.Path = path
		res.Kept = append(res.Kept, k)
	}
	if err := t.Sync(meta); err != nil {
		return err
	}
	if err := t.Sync(backup); err != nil {
		return err
	}

	_, kept := s.keepQuarantined(func(p string) bool {
		dir, name, _ := strings.Cut(p, "/")
		if dir == aptos.MetadataBackupDir {
			return backup.Has(name)
		}
		return meta.Has(name)
	})
	if len(kept) > 0 {
		res.Kept = append(res.Kept, kept...)
		slices.SortFunc(res.Kept, func(a, b Kept) int { return strings.Compare(a.Path, b.Path) })
	}

	// Phase 5: leftovers of interrupted exports, then the staging folder.
	n, err := t.CleanStaging()
	res.LeftoversRemoved += n
	return err
}

// checkForeign reads, before anything is written, every regular file of
// metadata/ and metadata_backup/ at a name the catalog holds (and any
// identity.meta), and refuses with a *ForeignError the files the catalog
// never wrote (Snapshot.foreign), unless opts.Force, which lists them in
// res.Overridden. It returns each file's SHA-256, by folder and name, for
// writePhase.
func checkForeign(t *storage.LocalWriter, s *Snapshot, opts Options, res *Result) (map[*storage.LocalFolder]map[string][32]byte, error) {
	byName := make(map[string]*catalog.File, len(s.Files))
	for _, f := range s.Files {
		byName[f.Name()] = f
	}
	sums := map[*storage.LocalFolder]map[string][32]byte{}
	var found []Foreign
	for _, d := range []*storage.LocalFolder{t.Meta(), t.Backup()} {
		entries := d.Entries()
		names := make([]string, 0, len(entries))
		for name, mode := range entries {
			if _, ok := byName[name]; (ok || name == identityName) && mode.IsRegular() {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		sums[d] = make(map[string][32]byte, len(names))
		for _, name := range names {
			raw, _, err := t.ReadOther(d, name)
			if err != nil {
				return nil, err
			}
			if raw == nil {
				continue // gone, or not a regular file any more
			}
			sums[d][name] = sha256.Sum256(raw)
			if why := s.foreign(byName[name], name, raw); why != "" {
				found = append(found, Foreign{Path: d.Name() + "/" + name, Reason: why})
			}
		}
	}
	if len(found) == 0 {
		return sums, nil
	}
	if !opts.Force {
		return nil, &ForeignError{Target: t.Dir(), Files: found}
	}
	res.Overridden = found
	return sums, nil
}

// writePhase makes folder d hold files, with up to dir.workers() writers
// (runLimited: the one bounded pool of the package), in two passes: every
// file that differs is written to a temporary file, then all of them are
// made durable at once (LocalWriter.SyncTempFiles), then each is renamed
// into place. It
// returns the first error; files already renamed stay (each is whole),
// temporary files not renamed are removed. In a dry run it only compares.
func writePhase(ctx context.Context, t *storage.LocalWriter, d *storage.LocalFolder, sums map[string][32]byte, files []*catalog.File, dir *Dir, opts Options, res *Result, done *int, total int) error {
	workers := dir.workers()
	var mu sync.Mutex // guards res, *done and Progress calls
	wrote := make([]bool, len(files))
	tmps := make([]string, len(files)) // written, not yet renamed
	// Gzip writers are not safe for concurrent use: one per running write.
	gzs := sync.Pool{New: func() any { return new(storage.Gzipper) }}
	err := runLimited(ctx, len(files), workers, func(_ context.Context, i int) error {
		f := files[i]
		want := f.Content
		if dir.Gzip {
			gz := gzs.Get().(*storage.Gzipper)
			defer gzs.Put(gz)
			want = gz.Compress(f.Content)
		}
		// The preflight read the files at the catalog's names
		// (checkForeign): compare with their SHA-256, not again with
		// their bytes.
		sum, read := sums[f.Name()]
		if read && sha256.Sum256(want) == sum {
			mu.Lock()
			defer mu.Unlock()
			res.Unchanged++
			*done++
			if opts.Progress != nil {
				opts.Progress(*done, total)
			}
			return nil
		}
		w, tmp, leftovers, err := t.StageFile(d, f.Name(), want, !read)
		mu.Lock()
		defer mu.Unlock()
		res.LeftoversRemoved += leftovers
		if err != nil {
			return err
		}
		tmps[i] = tmp
		if w {
			wrote[i] = true
		} else {
			res.Unchanged++
		}
		*done++
		if opts.Progress != nil {
			opts.Progress(*done, total)
		}
		return nil
	})
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && slices.ContainsFunc(tmps, func(s string) bool { return s != "" }) {
		err = t.SyncTempFiles()
	}
	if err == nil {
		err = runLimited(ctx, len(files), workers, func(_ context.Context, i int) error {
			if tmps[i] == "" {
				return nil
			}
			err := t.Rename(d, files[i].Name(), tmps[i])
			mu.Lock()
			defer mu.Unlock()
			tmps[i] = "" // renamed, or removed by Rename
			if err != nil {
				wrote[i] = false
				return err
			}
			return nil
		})
	}
	for i, f := range files {
		if tmps[i] != "" {
			t.DropTemp(tmps[i])
			wrote[i] = false
		}
		if wrote[i] {
			res.Written = append(res.Written, d.Name()+"/"+f.Name())
		}
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}

// publishFresh writes a new storage: every file straight into
// .metactl-staging/metadata/ and .metactl-staging/metadata_backup/
// (folders this export creates, so no file needs a temporary name of its
// own), up to dir.workers() at once; then makes them all durable at once
// (SyncStaged), and renames metadata_backup/ and then metadata/ into the
// storage folder, syncing it after each. A crash before the last rename
// leaves no metadata/ folder (the old, empty storage) and the next export
// removes the staged leftovers; metadata/ appears whole or not at all.
func publishFresh(ctx context.Context, t *storage.LocalWriter, live, moved []*catalog.File, dir *Dir, opts Options, res *Result) error {
	type stagedDir struct {
		name  string
		files []*catalog.File
		sf    *storage.StagedFolder
	}
	dirs := []*stagedDir{{name: aptos.MetadataBackupDir, files: moved}, {name: aptos.MetadataDir, files: live}}
	if len(moved) == 0 {
		dirs = dirs[1:] // as the normal path, no empty metadata_backup/
	}
	defer func() {
		for _, d := range dirs {
			if d.sf != nil {
				d.sf.Close()
			}
		}
	}()
	type job struct {
		d *stagedDir
		f *catalog.File
	}
	var jobs []job
	var sfs []*storage.StagedFolder
	for _, d := range dirs {
		// Leftovers of an interrupted fresh export are removed first.
		sf, n, err := t.NewStagedFolder(d.name)
		res.LeftoversRemoved += n
		if err != nil {
			return err
		}
		d.sf = sf
		sfs = append(sfs, sf)
		for _, f := range d.files {
			jobs = append(jobs, job{d, f})
		}
	}
	workers := dir.workers()
	var mu sync.Mutex // guards Progress calls
	done := 0
	gzs := sync.Pool{New: func() any { return new(storage.Gzipper) }}
	err := runLimited(ctx, len(jobs), workers, func(_ context.Context, i int) error {
		j := jobs[i]
		data := j.f.Content
		if dir.Gzip {
			gz := gzs.Get().(*storage.Gzipper)
			defer gzs.Put(gz)
			data = gz.Compress(data)
		}
		if err := j.d.sf.WriteNew(j.f.Name(), data); err != nil {
			return err
		}
		failpoint.Hit("export.after-temp-write")
		mu.Lock()
		defer mu.Unlock()
		done++
		if opts.Progress != nil {
			opts.Progress(done, len(jobs))
		}
		return nil
	})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return err
	}
	if err := t.SyncStaged(sfs...); err != nil {
		return err
	}
	failpoint.Hit("export.between-writes-and-moves")
	for _, d := range dirs {
		if err := t.RenameStaged(d.sf); err != nil {
			return err
		}
		failpoint.Hit("export.after-rename")
	}
	// Listed as the normal path lists them: metadata/, then metadata_backup/.
	for _, f := range live {
		res.Written = append(res.Written, aptos.MetadataDir+"/"+f.Name())
	}
	for _, f := range moved {
		res.Written = append(res.Written, aptos.MetadataBackupDir+"/"+f.Name())
	}
	n, err := t.CleanStaging()
	res.LeftoversRemoved += n
	return err
}
