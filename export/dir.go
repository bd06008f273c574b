package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/failpoint"
	"github.com/metactl/metactl/storage"
	"golang.org/x/sys/unix"
)

// StagingDir is metactl's own folder under the export directory, beside
// Aptos's aptos.MetadataDir and aptos.MetadataBackupDir.
const (
	// StagingDir holds temporary files while they are written. It sits
	// beside metadata/ so renames stay on one filesystem, and outside it
	// because Aptos lists and parses every entry of metadata/.
	StagingDir = ".metactl-staging"
)

// Errors returned by Dir.Publish when it refuses a path in the export directory.
// The error text names the path.
var (
	// ErrSymlink is returned (wrapped) when a folder, a target file or a
	// temporary file name is a symbolic link: export never follows one.
	ErrSymlink = errors.New("is a symbolic link")
	// ErrNotRegular is returned (wrapped) when a catalog file's name in
	// metadata/ or metadata_backup/ is taken by something other than a
	// regular file (a directory, a named pipe, ...).
	ErrNotRegular = errors.New("is not a regular file")
	// ErrNotDir is returned (wrapped) when metadata/, metadata_backup/ or
	// the staging folder exists but is not a directory.
	ErrNotDir = errors.New("is not a directory")
	// ErrBusy is returned (wrapped) when another export holds the export
	// directory's lock.
	ErrBusy = errors.New("another export is writing to this directory")
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
	// so a few writers are several times faster than one. Zero means
	// DefaultWorkers; 1 writes one file at a time. The phases themselves
	// never overlap.
	Workers int
	// Existing requires Path to be a LocalFs storage already (a folder
	// holding metadata/, storage.CheckLocalDir), as the drop-in compaction
	// does: it publishes back to the storage it read. Without it, a missing
	// or empty Path is created as a new storage.
	Existing bool
}

// DefaultWorkers is the number of concurrent file writers a Dir uses when
// Workers is zero.
const DefaultWorkers = 8

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
	t, err := openTarget(d.Path, !opts.DryRun)
	if err != nil {
		return nil, err
	}
	defer t.close()
	res := newResult(d, s, opts)
	if err := t.run(ctx, s, d, opts, res); err != nil {
		if !opts.DryRun {
			// Leave no empty staging folder behind (a non-empty one, or
			// anything else at that name, stays for the next export).
			_ = unix.Unlinkat(t.rootFd(), StagingDir, unix.AT_REMOVEDIR)
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
// storage.ErrNotStorage.
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

// folder is an open directory under the export directory.
type folder struct {
	name string   // "metadata", ...
	f    *os.File // nil if the folder does not exist (yet)
	fdn  int      // f's descriptor
	// entries are the folder's entries when the export began, by name,
	// with their type bits (unix.S_IFMT).
	entries map[string]uint32
	// sums are the SHA-256 of the bytes of the regular files the
	// preflight read (checkForeign), by name: stageFile compares with
	// them instead of reading the file again.
	sums  map[string][32]byte
	dirty bool // changed since the last fsync
}

func (d *folder) fd() int { return d.fdn }

// target is an export directory, open and locked.
type target struct {
	path                string
	root                *os.File
	rootFdn             int
	meta, backup, stage folder
	pid                 string
	write               bool // false: a dry run, which changes nothing

	// mu guards opening the staging folder, which the first writer does,
	// and created.
	mu      sync.Mutex
	created bool // a folder was created in root: fsync root
}

func (t *target) rootFd() int { return t.rootFdn }

// rel returns the path of name under the export directory, for errors.
func (t *target) rel(parts ...string) string {
	return filepath.Join(append([]string{t.path}, parts...)...)
}

func refuseSymlink(path string) error {
	return fmt.Errorf("export: %s %w (refusing to follow it)", path, ErrSymlink)
}

func refuseNotRegular(path string, mode uint32) error {
	return fmt.Errorf("export: %s %w (%s; refusing to replace it)", path, ErrNotRegular, describe(mode))
}

func describe(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symbolic link"
	case unix.S_IFIFO:
		return "a named pipe"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "a device"
	case unix.S_IFREG:
		return "a regular file"
	}
	return "mode " + strconv.FormatUint(uint64(mode), 8)
}

// openTarget opens dir and takes its lock: exclusive to write, creating
// dir if needed; shared for a dry run, which creates nothing (a missing dir
// gives a target with no root: every folder lists as empty).
func openTarget(dir string, write bool) (*target, error) {
	t := &target{
		path:   dir,
		meta:   folder{name: aptos.MetadataDir},
		backup: folder{name: aptos.MetadataBackupDir},
		stage:  folder{name: StagingDir},
		pid:    strconv.Itoa(os.Getpid()),
		write:  write,
	}
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
	}
	// dir itself may be a symbolic link (the operator's choice); nothing
	// below it is followed.
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if !write && errors.Is(err, unix.ENOENT) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("export: open %s: %w", dir, err)
	}
	root := os.NewFile(uintptr(fd), dir)
	how := unix.LOCK_EX
	if !write {
		how = unix.LOCK_SH
	}
	if err := unix.Flock(fd, how|unix.LOCK_NB); err != nil {
		root.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("export: %s: %w", dir, ErrBusy)
		}
		return nil, fmt.Errorf("export: lock %s: %w", dir, err)
	}
	t.root, t.rootFdn = root, fd
	return t, nil
}

func (t *target) close() {
	for _, d := range []*folder{&t.meta, &t.backup, &t.stage} {
		if d.f != nil {
			d.f.Close()
			d.f = nil
		}
	}
	if t.root != nil {
		t.root.Close() // releases the flock
	}
}

// openFolder opens d (creating it if create is set and it is missing),
// refusing a symbolic link or a non-directory, and lists it.
func (t *target) openFolder(d *folder, create bool) error {
	if d.f != nil {
		return nil
	}
	if t.root == nil { // a dry run of a folder that does not exist
		d.entries = map[string]uint32{}
		return nil
	}
	create = create && t.write
	path := t.rel(d.name)
	var st unix.Stat_t
	err := unix.Fstatat(t.rootFd(), d.name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		if !create {
			return nil
		}
		if err := unix.Mkdirat(t.rootFd(), d.name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("export: create %s: %w", path, err)
		}
		t.created = true
		err = unix.Fstatat(t.rootFd(), d.name, &st, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return fmt.Errorf("export: %s: %w", path, err)
	}
	switch uint32(st.Mode) & unix.S_IFMT {
	case unix.S_IFDIR:
	case unix.S_IFLNK:
		return refuseSymlink(path)
	default:
		return fmt.Errorf("export: %s %w (%s)", path, ErrNotDir, describe(uint32(st.Mode)))
	}
	// O_NOFOLLOW closes the window between the check above and the open.
	fd, err := unix.Openat(t.rootFd(), d.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ELOOP):
		return refuseSymlink(path)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("export: %s %w", path, ErrNotDir)
	case err != nil:
		return fmt.Errorf("export: open %s: %w", path, err)
	}
	d.f, d.fdn = os.NewFile(uintptr(fd), path), fd
	ents, err := d.f.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("export: list %s: %w", path, err)
	}
	d.entries = make(map[string]uint32, len(ents))
	for _, e := range ents {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // removed meanwhile
			}
			return fmt.Errorf("export: %s: %w", filepath.Join(path, e.Name()), err)
		}
		d.entries[e.Name()] = uint32(st.Mode) & unix.S_IFMT
	}
	return nil
}

func (t *target) sync(d *folder) error {
	if d.f == nil || !d.dirty || !t.write {
		return nil
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("export: sync %s: %w", d.f.Name(), err)
	}
	d.dirty = false
	return nil
}

func (t *target) syncRoot() error {
	if !t.created || !t.write {
		return nil
	}
	if err := t.root.Sync(); err != nil {
		return fmt.Errorf("export: sync %s: %w", t.path, err)
	}
	t.created = false
	return nil
}

func (t *target) run(ctx context.Context, s *Snapshot, dir *Dir, opts Options, res *Result) error {
	var live, moved []*catalog.File
	known := make(map[string]catalog.State, len(s.Files))
	for _, f := range s.Files {
		known[f.Name()] = f.State
		if f.State == catalog.Live {
			live = append(live, f)
		} else {
			moved = append(moved, f)
		}
	}

	// A new storage (neither folder exists) is written whole in the
	// staging folder and renamed into place.
	if fresh, err := t.fresh(); err != nil || fresh {
		if err != nil {
			return err
		}
		return t.publishFresh(ctx, live, moved, dir, opts, res)
	}

	// Preflight: open the folders and refuse anything unsafe at a name
	// the catalog owns before writing a byte.
	if err := t.openFolder(&t.meta, true); err != nil {
		return err
	}
	if err := t.openFolder(&t.backup, len(moved) > 0); err != nil {
		return err
	}
	if err := t.openFolder(&t.stage, false); err != nil {
		return err
	}
	for _, d := range []*folder{&t.meta, &t.backup} {
		for name, mode := range d.entries {
			if _, ok := known[name]; !ok {
				continue
			}
			switch mode {
			case unix.S_IFREG:
			case unix.S_IFLNK:
				return refuseSymlink(t.rel(d.name, name))
			default:
				return refuseNotRegular(t.rel(d.name, name), mode)
			}
		}
	}
	if err := t.checkForeign(s, opts, res); err != nil {
		return err
	}
	if err := t.syncRoot(); err != nil {
		return err
	}

	// Phases 1 and 2: write what is missing or differs.
	done := 0
	for _, phase := range []struct {
		d     *folder
		files []*catalog.File
	}{{&t.meta, live}, {&t.backup, moved}} {
		if err := t.writePhase(ctx, phase.d, phase.files, dir, opts, res, &done, len(s.Files)); err != nil {
			return err
		}
		if err := t.sync(phase.d); err != nil {
			return err
		}
		if err := t.syncRoot(); err != nil {
			return err
		}
	}
	if t.write {
		failpoint.Hit("export.between-writes-and-moves")
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// Phase 3: the moves. Every file removed here has its right copy in
	// the other folder, durable since the syncs above.
	for _, rm := range []struct {
		d     *folder
		files []*catalog.File
	}{{&t.meta, moved}, {&t.backup, live}} {
		for _, f := range rm.files {
			if _, ok := rm.d.entries[f.Name()]; !ok {
				continue
			}
			if err := t.remove(rm.d, f.Name(), true); err != nil {
				return err
			}
			res.Moved = append(res.Moved, rm.d.name+"/"+f.Name())
		}
		if err := t.sync(rm.d); err != nil {
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
		d    *folder
		name string
	}
	var unknown []entry
	for _, d := range []*folder{&t.meta, &t.backup} {
		for name := range d.entries {
			if _, ok := known[name]; !ok {
				unknown = append(unknown, entry{d, name})
			}
		}
	}
	slices.SortFunc(unknown, func(a, b entry) int {
		return strings.Compare(a.d.name+"/"+a.name, b.d.name+"/"+b.name)
	})
	for _, u := range unknown {
		path := u.d.name + "/" + u.name
		if mode := u.d.entries[u.name]; mode != unix.S_IFREG {
			res.Kept = append(res.Kept, Kept{Path: path, Reason: KeptOther, Detail: describe(mode)})
			continue
		}
		raw, k, err := t.read(u.d, u.name)
		if err != nil {
			return err
		}
		if raw != nil {
			if sum, ok := deleted[u.name]; ok && isDeleted(raw, sum) {
				if !opts.Prune {
					res.Kept = append(res.Kept, Kept{Path: path, Reason: KeptDeleted})
					continue
				}
				if err := t.remove(u.d, u.name, true); err != nil {
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
	if err := t.sync(&t.meta); err != nil {
		return err
	}
	if err := t.sync(&t.backup); err != nil {
		return err
	}

	// Phase 5: leftovers of interrupted exports, then the staging folder.
	return t.cleanStaging(res)
}

// read returns the bytes of d/name, a regular file the catalog does not
// know, or (nil raw) the reason it is kept without reading: it is not a
// regular file any more, it is too large, or it was removed meanwhile.
func (t *target) read(d *folder, name string) (raw []byte, k Kept, err error) {
	path := t.rel(d.name, name)
	k = Kept{Reason: KeptOther}
	fd, err := unix.Openat(d.fd(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		k.Detail = "removed while export ran"
		return nil, k, nil
	case errors.Is(err, unix.ELOOP):
		k.Detail = "a symbolic link"
		return nil, k, nil
	case err != nil:
		return nil, k, fmt.Errorf("export: open %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, k, fmt.Errorf("export: %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		k.Detail = describe(uint32(st.Mode))
		return nil, k, nil
	}
	if st.Size > storage.DefaultMaxFileSize {
		k.Detail = "larger than " + strconv.Itoa(storage.DefaultMaxFileSize) + " bytes"
		return nil, k, nil
	}
	raw, err = io.ReadAll(io.LimitReader(f, storage.DefaultMaxFileSize+1))
	if err != nil {
		return nil, k, fmt.Errorf("export: read %s: %w", path, err)
	}
	return raw, k, nil
}

// writePhase makes folder d hold files, with up to dir.Workers writers
// (runLimited: the one bounded pool of the package), in two passes: every
// file that differs is written to a temporary file, then all of them are
// made durable at once (syncTree; where it is missing each temporary file
// was fsynced as it was written), then each is renamed into place. It
// returns the first error; files already renamed stay (each is whole),
// temporary files not renamed are removed. In a dry run it only compares.
func (t *target) writePhase(ctx context.Context, d *folder, files []*catalog.File, dir *Dir, opts Options, res *Result, done *int, total int) error {
	workers := dir.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	var mu sync.Mutex // guards res, *done, d.dirty and Progress calls
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
		w, tmp, leftovers, err := t.stageFile(d, f.Name(), want)
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
		if serr := syncTree(t.stage.fd()); serr != nil {
			err = fmt.Errorf("export: sync %s: %w", t.rel(StagingDir), serr)
		}
	}
	if err == nil {
		err = runLimited(ctx, len(files), workers, func(_ context.Context, i int) error {
			if tmps[i] == "" {
				return nil
			}
			err := t.publish(d, files[i].Name(), tmps[i])
			mu.Lock()
			defer mu.Unlock()
			tmps[i] = "" // renamed, or removed by publish
			if err != nil {
				wrote[i] = false
				return err
			}
			d.dirty = true
			return nil
		})
	}
	for i, f := range files {
		if tmps[i] != "" {
			t.dropTemp(tmps[i])
			wrote[i] = false
		}
		if wrote[i] {
			res.Written = append(res.Written, d.name+"/"+f.Name())
		}
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}

// stageFile compares d/name with want and, if it differs, writes want to
// a temporary file (see writeTemp) and returns its name. In a dry run it
// only compares (write reports that it would write). It is safe for
// concurrent use with distinct names.
func (t *target) stageFile(d *folder, name string, want []byte) (write bool, tmp string, leftovers int, err error) {
	if sum, ok := d.sums[name]; ok {
		if sha256.Sum256(want) == sum {
			return false, "", 0, nil
		}
	} else if _, ok := d.entries[name]; ok {
		same, err := t.same(d, name, want)
		if err != nil || same {
			return false, "", 0, err
		}
	}
	if !t.write {
		return true, "", 0, nil // a dry run: it would write
	}
	if err := t.openStaging(); err != nil {
		return false, "", 0, err
	}
	tmp, leftovers, err = t.writeTemp(name, want)
	if err != nil {
		return false, "", leftovers, err
	}
	return true, tmp, leftovers, nil
}

// publish renames the durable temporary file tmp to d/name, or removes it
// and says why not. It is safe for concurrent use with distinct names.
func (t *target) publish(d *folder, name, tmp string) error {
	// The preflight saw no symbolic link here; check again right before
	// the rename (rename would replace a link, not follow it, but a link
	// where the catalog's file belongs is someone else's doing).
	path := t.rel(d.name, name)
	var st unix.Stat_t
	err := unix.Fstatat(d.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
	case err != nil:
		t.dropTemp(tmp)
		return fmt.Errorf("export: %s: %w", path, err)
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		t.dropTemp(tmp)
		return refuseSymlink(path)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		t.dropTemp(tmp)
		return refuseNotRegular(path, uint32(st.Mode))
	}
	if err := unix.Renameat(t.stage.fd(), tmp, d.fd(), name); err != nil {
		t.dropTemp(tmp)
		return fmt.Errorf("export: rename %s to %s: %w", t.rel(StagingDir, tmp), path, err)
	}
	failpoint.Hit("export.after-rename")
	return nil
}

// openStaging opens the staging folder, creating it, once.
func (t *target) openStaging() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stage.f != nil {
		return nil
	}
	if err := t.openFolder(&t.stage, true); err != nil {
		return err
	}
	return t.syncRoot()
}

// checkForeign reads, before anything is written, every regular file of
// metadata/ and metadata_backup/ at a name the catalog holds (and any
// identity.meta), and refuses with a *ForeignError the files the catalog
// never wrote (Snapshot.foreign), unless opts.Force, which lists them in
// res.Overridden. It keeps each file's SHA-256 for stageFile.
func (t *target) checkForeign(s *Snapshot, opts Options, res *Result) error {
	byName := make(map[string]*catalog.File, len(s.Files))
	for _, f := range s.Files {
		byName[f.Name()] = f
	}
	var found []Foreign
	for _, d := range []*folder{&t.meta, &t.backup} {
		names := make([]string, 0, len(d.entries))
		for name, mode := range d.entries {
			if _, ok := byName[name]; (ok || name == identityName) && mode == unix.S_IFREG {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		d.sums = make(map[string][32]byte, len(names))
		for _, name := range names {
			raw, _, err := t.read(d, name)
			if err != nil {
				return err
			}
			if raw == nil {
				continue // gone, or not a regular file any more
			}
			d.sums[name] = sha256.Sum256(raw)
			if why := s.foreign(byName[name], name, raw); why != "" {
				found = append(found, Foreign{Path: d.name + "/" + name, Reason: why})
			}
		}
	}
	if len(found) == 0 {
		return nil
	}
	if !opts.Force {
		return &ForeignError{Target: t.path, Files: found}
	}
	res.Overridden = found
	return nil
}

// same reports whether d/name is a regular file holding exactly want.
func (t *target) same(d *folder, name string, want []byte) (bool, error) {
	path := t.rel(d.name, name)
	fd, err := unix.Openat(d.fd(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return false, nil
	case errors.Is(err, unix.ELOOP):
		return false, refuseSymlink(path)
	case err != nil:
		return false, fmt.Errorf("export: open %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, fmt.Errorf("export: %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false, refuseNotRegular(path, uint32(st.Mode))
	}
	if st.Size != int64(len(want)) {
		return false, nil
	}
	have := make([]byte, len(want)+1) // +1: see the file grow meanwhile
	n, err := io.ReadFull(f, have)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("export: read %s: %w", path, err)
	}
	return n == len(want) && bytes.Equal(have[:n], want), nil
}

// writeTemp writes data to a new temporary file in the staging folder
// (fsyncing it where syncTree cannot sync them all at once) and returns
// its name. The name is derived from the target
// name and the pid, so concurrent exports (refused anyway by the lock)
// would not collide and a test can predict it; a leftover of an earlier
// process with the same pid is removed and counted.
func (t *target) writeTemp(name string, data []byte) (tmp string, leftovers int, err error) {
	tmp = name + "." + t.pid + ".tmp"
	path := t.rel(StagingDir, tmp)
	var fd int
	for attempt := 0; ; attempt++ {
		fd, err = unix.Openat(t.stage.fd(), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EEXIST) || attempt > 0 {
			return "", leftovers, fmt.Errorf("export: create %s: %w", path, err)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(t.stage.fd(), tmp, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return "", leftovers, fmt.Errorf("export: create %s: %w", path, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return "", leftovers, refuseSymlink(path)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return "", leftovers, refuseNotRegular(path, uint32(st.Mode))
		}
		if err := unix.Unlinkat(t.stage.fd(), tmp, 0); err != nil {
			return "", leftovers, fmt.Errorf("export: remove leftover %s: %w", path, err)
		}
		leftovers++
	}
	f := os.NewFile(uintptr(fd), path)
	_, err = f.Write(data)
	if err == nil && syncEach {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.dropTemp(tmp)
		return "", leftovers, fmt.Errorf("export: write %s: %w", path, err)
	}
	failpoint.Hit("export.after-temp-write")
	return tmp, leftovers, nil
}

// dropTemp removes a temporary file after a failure; the error that caused
// the failure is the one worth returning.
func (t *target) dropTemp(tmp string) { _ = unix.Unlinkat(t.stage.fd(), tmp, 0) }

// remove removes d/name. With regularOnly it refuses anything but a
// regular file (a catalog name); otherwise (pruning) it removes a file, a
// symbolic link (not its target) or an empty directory.
func (t *target) remove(d *folder, name string, regularOnly bool) error {
	path := t.rel(d.name, name)
	var st unix.Stat_t
	err := unix.Fstatat(d.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("export: %s: %w", path, err)
	}
	mode := uint32(st.Mode) & unix.S_IFMT
	flags := 0
	switch {
	case regularOnly && mode == unix.S_IFLNK:
		return refuseSymlink(path)
	case regularOnly && mode != unix.S_IFREG:
		return refuseNotRegular(path, uint32(st.Mode))
	case mode == unix.S_IFDIR:
		flags = unix.AT_REMOVEDIR
	}
	if !t.write {
		return nil // a dry run: it would remove
	}
	if err := unix.Unlinkat(d.fd(), name, flags); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("export: remove %s: %w", path, err)
	}
	d.dirty = true
	return nil
}

// cleanStaging removes every entry of the staging folder (temporary files
// of interrupted exports: this export renamed all of its own) and the
// folder itself.
func (t *target) cleanStaging(res *Result) error {
	if err := t.openFolder(&t.stage, false); err != nil || t.stage.f == nil {
		return err
	}
	// Entries may have appeared since the folder was listed (our own
	// renamed temp files are gone again): list it afresh.
	if _, err := t.stage.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("export: list %s: %w", t.stage.f.Name(), err)
	}
	ents, err := t.stage.f.ReadDir(-1)
	if err != nil {
		return fmt.Errorf("export: list %s: %w", t.stage.f.Name(), err)
	}
	for _, e := range ents {
		if e.IsDir() && t.write {
			// A folder an interrupted fresh export was filling.
			n, err := t.removeTree(e.Name())
			res.LeftoversRemoved += n
			if err != nil {
				return err
			}
			continue
		}
		if err := t.remove(&t.stage, e.Name(), false); err != nil {
			return err
		}
		res.LeftoversRemoved++
	}
	if !t.write {
		return nil
	}
	t.stage.f.Close()
	t.stage.f = nil
	if err := unix.Unlinkat(t.rootFd(), StagingDir, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("export: remove %s: %w", t.rel(StagingDir), err)
	}
	return nil
}

// fresh reports whether the export directory is a new storage: neither
// metadata/ nor metadata_backup/ exists. Only a real run asks.
func (t *target) fresh() (bool, error) {
	if !t.write {
		return false, nil
	}
	for _, name := range []string{aptos.MetadataDir, aptos.MetadataBackupDir} {
		var st unix.Stat_t
		err := unix.Fstatat(t.rootFd(), name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, unix.ENOENT) {
			return false, fmt.Errorf("export: %s: %w", t.rel(name), err)
		}
	}
	return true, nil
}

// publishFresh writes a new storage: every file straight into
// .metactl-staging/metadata/ and .metactl-staging/metadata_backup/
// (folders this export creates, so no file needs a temporary name of its
// own), up to dir.Workers at once; then makes them all durable at once
// (syncTree; where it is missing, each file was fsynced as it was
// written), and renames metadata_backup/ and then metadata/ into the
// export directory, syncing it after each. A crash before the last rename
// leaves no metadata/ folder (the old, empty storage) and the next export
// removes the staged leftovers; metadata/ appears whole or not at all.
func (t *target) publishFresh(ctx context.Context, live, moved []*catalog.File, dir *Dir, opts Options, res *Result) error {
	if err := t.openStaging(); err != nil {
		return err
	}
	type stagedDir struct {
		name  string
		files []*catalog.File
		fd    int
	}
	dirs := []*stagedDir{{name: aptos.MetadataBackupDir, files: moved}, {name: aptos.MetadataDir, files: live}}
	if len(moved) == 0 {
		dirs = dirs[1:] // as the normal path, no empty metadata_backup/
	}
	defer func() {
		for _, d := range dirs {
			if d.fd > 0 {
				unix.Close(d.fd)
			}
		}
	}()
	type job struct {
		d *stagedDir
		f *catalog.File
	}
	var jobs []job
	for _, d := range dirs {
		// Leftovers of an interrupted fresh export.
		n, err := t.removeTree(d.name)
		res.LeftoversRemoved += n
		if err != nil {
			return err
		}
		path := t.rel(StagingDir, d.name)
		if err := unix.Mkdirat(t.stage.fd(), d.name, 0o755); err != nil {
			return fmt.Errorf("export: create %s: %w", path, err)
		}
		fd, err := unix.Openat(t.stage.fd(), d.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("export: open %s: %w", path, err)
		}
		d.fd = fd
		for _, f := range d.files {
			jobs = append(jobs, job{d, f})
		}
	}
	workers := dir.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
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
		if err := writeNew(j.d.fd, t.rel(StagingDir, j.d.name, j.f.Name()), j.f.Name(), data); err != nil {
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
	if err := syncTree(t.stage.fd()); err != nil {
		return fmt.Errorf("export: sync %s: %w", t.rel(StagingDir), err)
	}
	for _, d := range dirs {
		if err := unix.Fsync(d.fd); err != nil {
			return fmt.Errorf("export: sync %s: %w", t.rel(StagingDir, d.name), err)
		}
	}
	failpoint.Hit("export.between-writes-and-moves")
	for _, d := range dirs {
		if err := unix.Renameat(t.stage.fd(), d.name, t.rootFd(), d.name); err != nil {
			return fmt.Errorf("export: rename %s to %s: %w", t.rel(StagingDir, d.name), t.rel(d.name), err)
		}
		t.created = true
		if err := t.syncRoot(); err != nil {
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
	return t.cleanStaging(res)
}

// writeNew creates the file name in the folder fd (a folder this export
// created), writes data and closes it; where syncTree cannot sync the
// whole staging folder at once, it fsyncs the file first. path is for
// errors.
func writeNew(fd int, path, name string, data []byte) error {
	f, err := unix.Openat(fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("export: create %s: %w", path, err)
	}
	for len(data) > 0 && err == nil {
		var n int
		n, err = unix.Write(f, data)
		if err == nil && n == 0 {
			err = io.ErrShortWrite
		}
		data = data[max(n, 0):]
	}
	if err == nil && syncEach {
		err = unix.Fsync(f)
	}
	if cerr := unix.Close(f); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("export: write %s: %w", path, err)
	}
	return nil
}

// removeTree removes the staging folder's entry name: a folder an
// interrupted fresh export left (with the files in it) or anything else
// at that name, never following a symbolic link. It returns how many
// entries it removed.
func (t *target) removeTree(name string) (int, error) {
	path := t.rel(StagingDir, name)
	var st unix.Stat_t
	err := unix.Fstatat(t.stage.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("export: %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Unlinkat(t.stage.fd(), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return 0, fmt.Errorf("export: remove %s: %w", path, err)
		}
		return 1, nil
	}
	fd, err := unix.Openat(t.stage.fd(), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("export: open %s: %w", path, err)
	}
	d := os.NewFile(uintptr(fd), path)
	defer d.Close()
	ents, err := d.ReadDir(-1)
	if err != nil {
		return 0, fmt.Errorf("export: list %s: %w", path, err)
	}
	n := 0
	for _, e := range ents {
		flags := 0
		if e.IsDir() {
			flags = unix.AT_REMOVEDIR // only files are staged: an empty one, or an error
		}
		if err := unix.Unlinkat(fd, e.Name(), flags); err != nil && !errors.Is(err, unix.ENOENT) {
			return n, fmt.Errorf("export: remove %s: %w", filepath.Join(path, e.Name()), err)
		}
		n++
	}
	if err := unix.Unlinkat(t.stage.fd(), name, unix.AT_REMOVEDIR); err != nil {
		return n, fmt.Errorf("export: remove %s: %w", path, err)
	}
	return n, nil
}
