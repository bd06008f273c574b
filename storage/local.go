package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/storage/localdir"
)

// ErrNotRegular is returned (wrapped) by [Local.ReadFile] when the handle
// names something other than a regular file: a symbolic link (never
// followed), a directory, a named pipe, a device or a socket.
var ErrNotRegular = errors.New("not a regular file")

// NotRegularError is the error [Local.ReadFile] returns for an entry that
// is not a regular file; errors.Is(err, ErrNotRegular) holds for it.
type NotRegularError struct {
	// Path is the entry's path on disk.
	Path string
	// What says what it is instead: "a symbolic link", "a directory", "a
	// named pipe", "a socket", "a device", or "mode <mode>".
	What string
}

// Error returns "not a regular file: <path> is <what>".
func (e *NotRegularError) Error() string {
	return ErrNotRegular.Error() + ": " + e.Path + " is " + e.What
}

// Is reports whether target is ErrNotRegular.
func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

// ErrNotStorage is returned (wrapped) by [NewLocal] and [CheckLocalDir] for
// a path that is not a LocalFs backup storage folder.
var ErrNotStorage = localdir.ErrNotStorage

// CheckLocalDir checks that dir is a LocalFs backup storage folder to read
// from: a directory holding a metadata/ folder. A path that names the
// metadata/ or metadata_backup/ folder itself (an easy slip) is refused
// with its parent suggested. Errors wrap [ErrNotStorage], or the os error
// when dir cannot be inspected. It is [localdir.Check], which the lean
// metactl-adapter links without this package.
func CheckLocalDir(dir string) error { return localdir.Check(dir) }

// Local is an Aptos LocalFs backup storage (docs/aptos-format.md §1.2): the
// directory Dir with the live metadata files in Dir/metadata and the moved
// ones in Dir/metadata_backup. Files may be plain (as LocalFs writes them) or
// gzip (as copied out of a bucket). Local only reads; it is safe for
// concurrent use.
type Local struct {
	// Dir is the root directory, the --local-fs-dir of Aptos's tools.
	Dir string
}

// NewLocal returns the Local storage rooted at dir, which must pass
// [CheckLocalDir]: a directory (a symbolic link to one is fine) holding a
// metadata/ folder, so a wrong path is refused before anything is read or
// written, never taken for an empty storage.
func NewLocal(dir string) (*Local, error) {
	if err := CheckLocalDir(dir); err != nil {
		return nil, err
	}
	return &Local{Dir: dir}, nil
}

// List returns every entry of Dir/metadata and Dir/metadata_backup, sorted,
// exactly as Aptos's LocalFs lists them: dotfiles, non-.meta files,
// subdirectories and symbolic links included. A missing folder lists as
// empty. MovedListed is always true.
func (l *Local) List(ctx context.Context) (Listing, error) {
	if err := ctx.Err(); err != nil {
		return Listing{}, err
	}
	live, err := l.names(aptos.MetadataDir)
	if err != nil {
		return Listing{}, err
	}
	moved, err := l.names(aptos.MetadataBackupDir)
	if err != nil {
		return Listing{}, err
	}
	return Listing{Live: live, Moved: moved, MovedListed: true}, nil
}

func (l *Local) names(folder string) ([]string, error) {
	names, err := listNames(filepath.Join(l.Dir, folder))
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", folder, err)
	}
	if names == nil {
		names = []string{}
	}
	slices.Sort(names)
	return names, nil
}

// ReadFile returns the decompressed content of handle, which must be
// "metadata/<name>" or "metadata_backup/<name>" with name a single path
// element (see [aptos.ParseHandle]); anything else, such as an absolute path or a
// ".." element, is refused with an error wrapping [aptos.ErrInvalidHandle].
//
// The file is opened without following a symbolic link in its last element
// and without blocking on a named pipe; anything but a regular file is
// refused with an error wrapping [ErrNotRegular]. A plain file larger than
// max is refused from its size before reading; a gzip file is refused as soon
// as its decompressed content passes max ([ErrTooLarge]). A missing file
// gives an error wrapping [fs.ErrNotExist].
//
// To read many files, [Local.Reader] opens the two folders once.
func (l *Local) ReadFile(ctx context.Context, handle string, max int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, name, err := aptos.ParseHandle(handle)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	data, err := readPath(filepath.Join(l.Dir, dir), name, effectiveMax(max))
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", handle, err)
	}
	return data, nil
}

// Reader opens the storage's two metadata folders for reading many files:
// [LocalReader.ReadFile] then opens each file relative to its folder, so the
// kernel resolves one path element per file instead of the whole path. A
// folder that cannot be opened (a storage without metadata_backup/) is not
// an error here: reading a file from it gives the error opening the file
// would. Close the reader when done.
func (l *Local) Reader() *LocalReader {
	return &LocalReader{folders: [2]folder{
		openFolder(filepath.Join(l.Dir, aptos.MetadataDir)),
		openFolder(filepath.Join(l.Dir, aptos.MetadataBackupDir)),
	}}
}

// OpenReader implements [ReaderSource] with [Local.Reader].
func (l *Local) OpenReader() (FileReader, error) { return l.Reader(), nil }

// LocalReader reads files of a [Local] storage through its two folders,
// opened once by [Local.Reader]. It reads as [Local.ReadFile] does, with the
// same checks and errors, and is safe for concurrent use until Close.
type LocalReader struct {
	folders [2]folder // metadata/, metadata_backup/
}

// ReadFile reads handle as [Local.ReadFile] does.
func (r *LocalReader) ReadFile(ctx context.Context, handle string, max int64) ([]byte, error) {
	data, _, err := r.ReadFileStat(ctx, handle, max)
	return data, err
}

var _ StatReader = (*LocalReader)(nil)

// ReadFileStat implements [StatReader]: it reads handle as ReadFile does,
// and returns the Stat of the file it read, taken from the opened file
// (what [Local.StatFile] gives, without a second lookup of the path).
func (r *LocalReader) ReadFileStat(ctx context.Context, handle string, max int64) ([]byte, Stat, error) {
	if err := ctx.Err(); err != nil {
		return nil, Stat{}, err
	}
	dir, name, err := aptos.ParseHandle(handle)
	if err != nil {
		return nil, Stat{}, fmt.Errorf("read: %w", err)
	}
	f := &r.folders[0]
	if dir == aptos.MetadataBackupDir {
		f = &r.folders[1]
	}
	data, st, err := f.read(name, effectiveMax(max))
	if err != nil {
		return nil, Stat{}, fmt.Errorf("read %q: %w", handle, err)
	}
	return data, st, nil
}

// Close releases the folders. The reader must not be used after.
func (r *LocalReader) Close() error {
	return errors.Join(r.folders[0].close(), r.folders[1].close())
}

// DescribeMode names the type of a file mode for messages ("a directory",
// "a symbolic link", "a named pipe", ...).
func DescribeMode(mode fs.FileMode) string {
	switch {
	case mode.IsRegular():
		return "a regular file"
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeSymlink != 0:
		return "a symbolic link"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeDevice != 0:
		return "a device"
	}
	return fmt.Sprintf("mode %v", mode)
}
