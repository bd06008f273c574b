//go:build unix

package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/internal/failpoint"
	"golang.org/x/sys/unix"
)

// The write side of a LocalFs storage folder: [LocalWriter] opens the
// folder and its metadata folders without following a symbolic link below
// it, refuses anything but a regular file at a name it writes or removes,
// writes through temporary files in [StagingDir] and renames them into
// place. The publish algorithm (what to write, in which order) is the
// caller's ([export.Dir]).

// StagingDir is metactl's own folder in a LocalFs storage, beside
// [aptos.MetadataDir] and [aptos.MetadataBackupDir]: it holds temporary
// files while they are written, beside metadata/ so renames stay on one
// filesystem, and outside it because Aptos lists and parses every entry of
// metadata/.
const StagingDir = ".metactl-staging"

// SyncsEachFile reports whether a LocalWriter fsyncs every file as it
// writes it: true where syncfs(2) is missing. Where it is false (Linux),
// one syncfs makes a whole phase durable, so a write is a copy into the
// page cache and never waits for the disk.
const SyncsEachFile = syncEach

// Errors a [LocalWriter] returns (wrapped) when it refuses a path; the
// error text names the path. A name taken by something other than a
// regular file wraps [ErrNotRegular].
var (
	// ErrSymlink is returned (wrapped) when a folder, a target file or a
	// temporary file name is a symbolic link: export never follows one.
	ErrSymlink = errors.New("is a symbolic link")
	// ErrNotDir is returned (wrapped) when metadata/, metadata_backup/ or
	// the staging folder exists but is not a directory.
	ErrNotDir = errors.New("is not a directory")
	// ErrBusy is returned (wrapped) when another export holds the export
	// directory's lock.
	ErrBusy = errors.New("another export is writing to this directory")
)

// LocalFolder is one folder of a [LocalWriter]: metadata/,
// metadata_backup/ or the staging folder.
type LocalFolder struct {
	name string   // "metadata", ...
	f    *os.File // nil if the folder does not exist (yet)
	fdn  int      // f's descriptor
	// entries are the folder's entries when the export began, by name,
	// with their type bits (unix.S_IFMT).
	entries map[string]uint32
	dirty   bool // changed since the last fsync
}

func (d *LocalFolder) fd() int { return d.fdn }

// Name is the folder's name in the storage ("metadata", ...).
func (d *LocalFolder) Name() string { return d.name }

// Entries are the folder's entries when it was opened, by name, with
// their type bits (0 for a regular file, fs.ModeDir, fs.ModeSymlink, ...);
// empty if it does not exist.
func (d *LocalFolder) Entries() map[string]fs.FileMode {
	m := make(map[string]fs.FileMode, len(d.entries))
	for name, mode := range d.entries {
		m[name] = fileMode(mode).Type()
	}
	return m
}

// Has reports whether name was an entry of the folder when it was opened.
func (d *LocalFolder) Has(name string) bool {
	_, ok := d.entries[name]
	return ok
}

// LocalWriter is a LocalFs storage folder open and locked to be written
// (or, for a dry run, to be compared with what would be written): the
// safe-open layer of the write side. Every folder and file below the
// storage folder is opened relative to its parent's descriptor with
// O_NOFOLLOW, so a symbolic link planted there is refused, never followed.
type LocalWriter struct {
	op                  string // the caller's operation, for errors
	path                string
	root                *os.File
	rootFdn             int
	meta, backup, stage LocalFolder
	pid                 string
	write               bool // false: a dry run, which changes nothing

	// mu guards opening the staging folder, which the first writer does,
	// created, and the folders' dirty while files are renamed.
	mu      sync.Mutex
	created bool // a folder was created in root: fsync root
}

func (t *LocalWriter) rootFd() int { return t.rootFdn }

// errorf is fmt.Errorf with the caller's operation in front.
func (t *LocalWriter) errorf(format string, a ...any) error {
	return fmt.Errorf(t.op+": "+format, a...)
}

// Meta, Backup and Stage are the storage's metadata/, metadata_backup/
// and staging folders; open them with OpenFolder.
func (t *LocalWriter) Meta() *LocalFolder   { return &t.meta }
func (t *LocalWriter) Backup() *LocalFolder { return &t.backup }
func (t *LocalWriter) Stage() *LocalFolder  { return &t.stage }

// Writes reports whether t changes the storage (false: a dry run).
func (t *LocalWriter) Writes() bool { return t.write }

// Dir is the storage folder's path as OpenLocalWriter was given it.
func (t *LocalWriter) Dir() string { return t.path }

// Path returns the path of parts under the storage folder, for messages.
func (t *LocalWriter) Path(parts ...string) string {
	return filepath.Join(append([]string{t.path}, parts...)...)
}

func (t *LocalWriter) refuseSymlink(path string) error {
	return t.errorf("%s %w (refusing to follow it)", path, ErrSymlink)
}

func (t *LocalWriter) refuseNotRegular(path string, mode uint32) error {
	return t.errorf("%s is %w (%s; refusing to replace it)", path, ErrNotRegular, describe(mode))
}

// describe names a stat mode's file type ("a directory", ...).
func describe(mode uint32) string { return DescribeMode(fileMode(mode)) }

// OpenLocalWriter opens the storage folder dir and takes its lock:
// exclusive to write, creating dir if needed; shared for a dry run, which
// creates nothing (a missing dir gives a writer with no root: every folder
// lists as empty). op names the caller's operation in errors ("export").
// dir itself may be a symbolic link (the operator's choice); nothing below
// it is followed.
func OpenLocalWriter(op, dir string, write bool) (*LocalWriter, error) {
	t := &LocalWriter{
		op:     op,
		path:   dir,
		meta:   LocalFolder{name: aptos.MetadataDir},
		backup: LocalFolder{name: aptos.MetadataBackupDir},
		stage:  LocalFolder{name: StagingDir},
		pid:    strconv.Itoa(os.Getpid()),
		write:  write,
	}
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, t.errorf("%w", err)
		}
	}
	// dir itself may be a symbolic link (the operator's choice); nothing
	// below it is followed.
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if !write && errors.Is(err, unix.ENOENT) {
		return t, nil
	}
	if err != nil {
		return nil, t.errorf("open %s: %w", dir, err)
	}
	root := os.NewFile(uintptr(fd), dir)
	how := unix.LOCK_EX
	if !write {
		how = unix.LOCK_SH
	}
	if err := unix.Flock(fd, how|unix.LOCK_NB); err != nil {
		root.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, t.errorf("%s: %w", dir, ErrBusy)
		}
		return nil, t.errorf("lock %s: %w", dir, err)
	}
	t.root, t.rootFdn = root, fd
	return t, nil
}

// Close closes the folders and releases the lock.
func (t *LocalWriter) Close() {
	for _, d := range []*LocalFolder{&t.meta, &t.backup, &t.stage} {
		if d.f != nil {
			d.f.Close()
			d.f = nil
		}
	}
	if t.root != nil {
		t.root.Close() // releases the flock
	}
}

// OpenFolder opens d (creating it if create is set, t writes, and it is
// missing), refusing a symbolic link or a non-directory, and lists it.
// Opening an open folder does nothing.
func (t *LocalWriter) OpenFolder(d *LocalFolder, create bool) error {
	if d.f != nil {
		return nil
	}
	if t.root == nil { // a dry run of a folder that does not exist
		d.entries = map[string]uint32{}
		return nil
	}
	create = create && t.write
	path := t.Path(d.name)
	var st unix.Stat_t
	err := unix.Fstatat(t.rootFd(), d.name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		if !create {
			return nil
		}
		if err := unix.Mkdirat(t.rootFd(), d.name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return t.errorf("create %s: %w", path, err)
		}
		t.created = true
		err = unix.Fstatat(t.rootFd(), d.name, &st, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return t.errorf("%s: %w", path, err)
	}
	switch uint32(st.Mode) & unix.S_IFMT {
	case unix.S_IFDIR:
	case unix.S_IFLNK:
		return t.refuseSymlink(path)
	default:
		return t.errorf("%s %w (%s)", path, ErrNotDir, describe(uint32(st.Mode)))
	}
	// O_NOFOLLOW closes the window between the check above and the open.
	fd, err := unix.Openat(t.rootFd(), d.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ELOOP):
		return t.refuseSymlink(path)
	case errors.Is(err, unix.ENOTDIR):
		return t.errorf("%s %w", path, ErrNotDir)
	case err != nil:
		return t.errorf("open %s: %w", path, err)
	}
	d.f, d.fdn = os.NewFile(uintptr(fd), path), fd
	ents, err := d.f.ReadDir(-1)
	if err != nil {
		return t.errorf("list %s: %w", path, err)
	}
	d.entries = make(map[string]uint32, len(ents))
	for _, e := range ents {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // removed meanwhile
			}
			return t.errorf("%s: %w", filepath.Join(path, e.Name()), err)
		}
		d.entries[e.Name()] = uint32(st.Mode) & unix.S_IFMT
	}
	return nil
}

// Sync fsyncs folder d if an entry of it was created, renamed or removed
// since its last sync.
func (t *LocalWriter) Sync(d *LocalFolder) error {
	if d.f == nil || !d.dirty || !t.write {
		return nil
	}
	if err := d.f.Sync(); err != nil {
		return t.errorf("sync %s: %w", d.f.Name(), err)
	}
	d.dirty = false
	return nil
}

// SyncRoot fsyncs the storage folder if a folder was created or renamed
// in it since its last sync.
func (t *LocalWriter) SyncRoot() error {
	if !t.created || !t.write {
		return nil
	}
	if err := t.root.Sync(); err != nil {
		return t.errorf("sync %s: %w", t.path, err)
	}
	t.created = false
	return nil
}

// ReadOther returns the bytes of d/name, a regular file the caller does
// not know, or (nil raw) why it is kept without reading (kept): it is not
// a regular file any more, it is larger than DefaultMaxFileSize, or it was
// removed meanwhile.
func (t *LocalWriter) ReadOther(d *LocalFolder, name string) (raw []byte, kept string, err error) {
	path := t.Path(d.name, name)
	fd, st, err := openAt(d.fd(), name)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil, "removed while export ran", nil
	case errors.Is(err, errLink):
		return nil, "a symbolic link", nil
	case errors.As(err, new(*fstatError)):
		return nil, "", t.errorf("%s: %w", path, errors.Unwrap(err))
	case err != nil:
		return nil, "", t.errorf("open %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, describe(uint32(st.Mode)), nil
	}
	if st.Size > DefaultMaxFileSize {
		return nil, "larger than " + strconv.Itoa(DefaultMaxFileSize) + " bytes", nil
	}
	raw, err = io.ReadAll(io.LimitReader(f, DefaultMaxFileSize+1))
	if err != nil {
		return nil, "", t.errorf("read %s: %w", path, err)
	}
	return raw, "", nil
}

// StageFile compares d/name with want (unless compare is false: the
// caller knows they differ) and, if it differs, writes want to a
// temporary file in the staging folder (see writeTemp) and returns its
// name, for Rename; leftovers counts leftovers of earlier processes it
// removed. In a dry run it writes nothing (write reports that it would
// write). It is safe for concurrent use with distinct names.
func (t *LocalWriter) StageFile(d *LocalFolder, name string, want []byte, compare bool) (write bool, tmp string, leftovers int, err error) {
	if _, ok := d.entries[name]; ok && compare {
		same, err := t.same(d, name, want)
		if err != nil || same {
			return false, "", 0, err
		}
	}
	if !t.write {
		return true, "", 0, nil // a dry run: it would write
	}
	if err := t.OpenStaging(); err != nil {
		return false, "", 0, err
	}
	tmp, leftovers, err = t.writeTemp(name, want)
	if err != nil {
		return false, "", leftovers, err
	}
	return true, tmp, leftovers, nil
}

// Rename renames the durable temporary file tmp (from StageFile) to
// d/name, or removes it and says why not. It is safe for concurrent use
// with distinct names.
func (t *LocalWriter) Rename(d *LocalFolder, name, tmp string) error {
	// The preflight saw no symbolic link here; check again right before
	// the rename (rename would replace a link, not follow it, but a link
	// where the catalog's file belongs is someone else's doing).
	path := t.Path(d.name, name)
	var st unix.Stat_t
	err := unix.Fstatat(d.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
	case err != nil:
		t.DropTemp(tmp)
		return t.errorf("%s: %w", path, err)
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		t.DropTemp(tmp)
		return t.refuseSymlink(path)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		t.DropTemp(tmp)
		return t.refuseNotRegular(path, uint32(st.Mode))
	}
	if err := unix.Renameat(t.stage.fd(), tmp, d.fd(), name); err != nil {
		t.DropTemp(tmp)
		return t.errorf("rename %s to %s: %w", t.Path(StagingDir, tmp), path, err)
	}
	t.mu.Lock()
	d.dirty = true
	t.mu.Unlock()
	failpoint.Hit("export.after-rename")
	return nil
}

// Move renames from/name to to/name in one rename(2), as Aptos's LocalFs
// moves a metadata file to metadata_backup/: from/name must be a regular
// file, and nothing but a regular file may be at to/name. Neither folder
// is followed through a symbolic link (both are open descriptors).
func (t *LocalWriter) Move(from, to *LocalFolder, name string) error {
	src, dst := t.Path(from.name, name), t.Path(to.name, name)
	var st unix.Stat_t
	if err := unix.Fstatat(from.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return t.errorf("%s: %w", src, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFLNK:
		return t.refuseSymlink(src)
	default:
		return t.refuseNotRegular(src, uint32(st.Mode))
	}
	err := unix.Fstatat(to.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
	case err != nil:
		return t.errorf("%s: %w", dst, err)
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return t.refuseSymlink(dst)
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return t.refuseNotRegular(dst, uint32(st.Mode))
	}
	if !t.write {
		return nil
	}
	if err := unix.Renameat(from.fd(), name, to.fd(), name); err != nil {
		return t.errorf("rename %s to %s: %w", src, dst, err)
	}
	t.mu.Lock()
	from.dirty, to.dirty = true, true
	t.mu.Unlock()
	return nil
}

// OpenStaging opens the staging folder, creating it, once; it is safe for
// concurrent use.
func (t *LocalWriter) OpenStaging() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stage.f != nil {
		return nil
	}
	if err := t.OpenFolder(&t.stage, true); err != nil {
		return err
	}
	return t.SyncRoot()
}

// same reports whether d/name is a regular file holding exactly want.
func (t *LocalWriter) same(d *LocalFolder, name string, want []byte) (bool, error) {
	path := t.Path(d.name, name)
	fd, st, err := openAt(d.fd(), name)
	switch {
	case errors.Is(err, unix.ENOENT):
		return false, nil
	case errors.Is(err, errLink):
		return false, t.refuseSymlink(path)
	case errors.As(err, new(*fstatError)):
		return false, t.errorf("%s: %w", path, errors.Unwrap(err))
	case err != nil:
		return false, t.errorf("open %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false, t.refuseNotRegular(path, uint32(st.Mode))
	}
	if st.Size != int64(len(want)) {
		return false, nil
	}
	have := make([]byte, len(want)+1) // +1: see the file grow meanwhile
	n, err := io.ReadFull(f, have)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, t.errorf("read %s: %w", path, err)
	}
	return n == len(want) && bytes.Equal(have[:n], want), nil
}

// writeTemp writes data to a new temporary file in the staging folder
// (fsyncing it where syncTree cannot sync them all at once) and returns
// its name. The name is derived from the target
// name and the pid, so concurrent exports (refused anyway by the lock)
// would not collide and a test can predict it; a leftover of an earlier
// process with the same pid is removed and counted.
func (t *LocalWriter) writeTemp(name string, data []byte) (tmp string, leftovers int, err error) {
	tmp = name + "." + t.pid + ".tmp"
	path := t.Path(StagingDir, tmp)
	var fd int
	for attempt := 0; ; attempt++ {
		fd, err = unix.Openat(t.stage.fd(), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EEXIST) || attempt > 0 {
			return "", leftovers, t.errorf("create %s: %w", path, err)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(t.stage.fd(), tmp, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return "", leftovers, t.errorf("create %s: %w", path, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return "", leftovers, t.refuseSymlink(path)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return "", leftovers, t.refuseNotRegular(path, uint32(st.Mode))
		}
		if err := unix.Unlinkat(t.stage.fd(), tmp, 0); err != nil {
			return "", leftovers, t.errorf("remove leftover %s: %w", path, err)
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
		t.DropTemp(tmp)
		return "", leftovers, t.errorf("write %s: %w", path, err)
	}
	failpoint.Hit("export.after-temp-write")
	return tmp, leftovers, nil
}

// DropTemp removes a temporary file of StageFile after a failure; the
// error that caused the failure is the one worth returning.
func (t *LocalWriter) DropTemp(tmp string) { _ = unix.Unlinkat(t.stage.fd(), tmp, 0) }

// Remove removes d/name. With regularOnly it refuses anything but a
// regular file (a catalog name); otherwise (pruning) it removes a file, a
// symbolic link (not its target) or an empty directory.
func (t *LocalWriter) Remove(d *LocalFolder, name string, regularOnly bool) error {
	path := t.Path(d.name, name)
	var st unix.Stat_t
	err := unix.Fstatat(d.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return t.errorf("%s: %w", path, err)
	}
	mode := uint32(st.Mode) & unix.S_IFMT
	flags := 0
	switch {
	case regularOnly && mode == unix.S_IFLNK:
		return t.refuseSymlink(path)
	case regularOnly && mode != unix.S_IFREG:
		return t.refuseNotRegular(path, uint32(st.Mode))
	case mode == unix.S_IFDIR:
		flags = unix.AT_REMOVEDIR
	}
	if !t.write {
		return nil // a dry run: it would remove
	}
	if err := unix.Unlinkat(d.fd(), name, flags); err != nil && !errors.Is(err, unix.ENOENT) {
		return t.errorf("remove %s: %w", path, err)
	}
	d.dirty = true
	return nil
}

// CleanStaging removes every entry of the staging folder (temporary files
// of interrupted writers: the caller renamed all of its own) and, unless
// t is a dry run, the folder itself. It returns how many leftovers it
// removed (or, in a dry run, would remove).
func (t *LocalWriter) CleanStaging() (removed int, err error) {
	if err := t.OpenFolder(&t.stage, false); err != nil || t.stage.f == nil {
		return 0, err
	}
	// Entries may have appeared since the folder was listed (our own
	// renamed temp files are gone again): list it afresh.
	if _, err := t.stage.f.Seek(0, io.SeekStart); err != nil {
		return removed, t.errorf("list %s: %w", t.stage.f.Name(), err)
	}
	ents, err := t.stage.f.ReadDir(-1)
	if err != nil {
		return removed, t.errorf("list %s: %w", t.stage.f.Name(), err)
	}
	for _, e := range ents {
		if e.IsDir() && t.write {
			// A folder an interrupted fresh export was filling.
			n, err := t.removeTree(e.Name())
			removed += n
			if err != nil {
				return removed, err
			}
			continue
		}
		if err := t.Remove(&t.stage, e.Name(), false); err != nil {
			return removed, err
		}
		removed++
	}
	if !t.write {
		return removed, nil
	}
	t.stage.f.Close()
	t.stage.f = nil
	if err := unix.Unlinkat(t.rootFd(), StagingDir, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return removed, t.errorf("remove %s: %w", t.Path(StagingDir), err)
	}
	return removed, nil
}

// RemoveEmptyStaging removes the staging folder if it is empty, after a
// failed write; a non-empty one, or anything else at that name, stays for
// the next writer.
func (t *LocalWriter) RemoveEmptyStaging() {
	if t.write && t.root != nil {
		_ = unix.Unlinkat(t.rootFd(), StagingDir, unix.AT_REMOVEDIR)
	}
}

// Fresh reports whether the storage folder is a new storage: neither
// metadata/ nor metadata_backup/ exists. A dry run says false.
func (t *LocalWriter) Fresh() (bool, error) {
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
			return false, t.errorf("%s: %w", t.Path(name), err)
		}
	}
	return true, nil
}

// StagedFolder is a folder a new storage is written into whole, in the
// staging folder, and then renamed into place (RenameStaged): metadata/
// appears complete or not at all.
type StagedFolder struct {
	t    *LocalWriter
	name string
	fd   int
}

// NewStagedFolder creates the folder name in the staging folder (opening
// the staging folder first), after removing what an interrupted writer
// left at that name; leftovers counts the entries removed.
func (t *LocalWriter) NewStagedFolder(name string) (sf *StagedFolder, leftovers int, err error) {
	if err := t.OpenStaging(); err != nil {
		return nil, 0, err
	}
	leftovers, err = t.removeTree(name)
	if err != nil {
		return nil, leftovers, err
	}
	path := t.Path(StagingDir, name)
	if err := unix.Mkdirat(t.stage.fd(), name, 0o755); err != nil {
		return nil, leftovers, t.errorf("create %s: %w", path, err)
	}
	fd, err := unix.Openat(t.stage.fd(), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, leftovers, t.errorf("open %s: %w", path, err)
	}
	return &StagedFolder{t: t, name: name, fd: fd}, leftovers, nil
}

// Close closes the folder's descriptor.
func (s *StagedFolder) Close() {
	if s.fd > 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// WriteNew creates the file name in the staged folder, writes data and
// closes it; where SyncStaged cannot sync the whole staging folder at
// once, it fsyncs the file first. It is safe for concurrent use with
// distinct names.
func (s *StagedFolder) WriteNew(name string, data []byte) error {
	path := s.t.Path(StagingDir, s.name, name)
	f, err := unix.Openat(s.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return s.t.errorf("create %s: %w", path, err)
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
		return s.t.errorf("write %s: %w", path, err)
	}
	return nil
}

// SyncStaged makes every file written in the staging folder durable at
// once (syncTree; where it is missing, each file was fsynced as it was
// written), then fsyncs the staged folders sfs.
func (t *LocalWriter) SyncStaged(sfs ...*StagedFolder) error {
	if err := syncTree(t.stage.fd()); err != nil {
		return t.errorf("sync %s: %w", t.Path(StagingDir), err)
	}
	for _, s := range sfs {
		if err := unix.Fsync(s.fd); err != nil {
			return t.errorf("sync %s: %w", t.Path(StagingDir, s.name), err)
		}
	}
	return nil
}

// RenameStaged renames the staged folder into the storage folder, under
// its own name, and syncs the storage folder.
func (t *LocalWriter) RenameStaged(s *StagedFolder) error {
	if err := unix.Renameat(t.stage.fd(), s.name, t.rootFd(), s.name); err != nil {
		return t.errorf("rename %s to %s: %w", t.Path(StagingDir, s.name), t.Path(s.name), err)
	}
	t.created = true
	return t.SyncRoot()
}

// CheckNames refuses, in folder d, anything but a regular file at a name
// known says is the caller's (a symbolic link or another type), before
// anything is written.
func (t *LocalWriter) CheckNames(d *LocalFolder, known func(name string) bool) error {
	for name, mode := range d.entries {
		if !known(name) {
			continue
		}
		switch mode {
		case unix.S_IFREG:
		case unix.S_IFLNK:
			return t.refuseSymlink(t.Path(d.name, name))
		default:
			return t.refuseNotRegular(t.Path(d.name, name), mode)
		}
	}
	return nil
}

// SyncTempFiles makes the temporary files StageFile wrote durable at once
// (syncTree; where it is missing each was fsynced as it was written).
func (t *LocalWriter) SyncTempFiles() error {
	if err := syncTree(t.stage.fd()); err != nil {
		return t.errorf("sync %s: %w", t.Path(StagingDir), err)
	}
	return nil
}

// removeTree removes the staging folder's entry name: a folder an
// interrupted fresh export left (with the files in it) or anything else
// at that name, never following a symbolic link. It returns how many
// entries it removed.
func (t *LocalWriter) removeTree(name string) (int, error) {
	path := t.Path(StagingDir, name)
	var st unix.Stat_t
	err := unix.Fstatat(t.stage.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return 0, nil
	}
	if err != nil {
		return 0, t.errorf("%s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Unlinkat(t.stage.fd(), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return 0, t.errorf("remove %s: %w", path, err)
		}
		return 1, nil
	}
	fd, err := unix.Openat(t.stage.fd(), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, t.errorf("open %s: %w", path, err)
	}
	d := os.NewFile(uintptr(fd), path)
	defer d.Close()
	ents, err := d.ReadDir(-1)
	if err != nil {
		return 0, t.errorf("list %s: %w", path, err)
	}
	n := 0
	for _, e := range ents {
		flags := 0
		if e.IsDir() {
			flags = unix.AT_REMOVEDIR // only files are staged: an empty one, or an error
		}
		if err := unix.Unlinkat(fd, e.Name(), flags); err != nil && !errors.Is(err, unix.ENOENT) {
			return n, t.errorf("remove %s: %w", filepath.Join(path, e.Name()), err)
		}
		n++
	}
	if err := unix.Unlinkat(t.stage.fd(), name, unix.AT_REMOVEDIR); err != nil {
		return n, t.errorf("remove %s: %w", path, err)
	}
	return n, nil
}
