//go:build unix

package storage

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// folder is one metadata folder opened for a LocalReader: its descriptor,
// or why it could not be opened (an errno, reported for each file read
// from it as opening the file by its path would).
type folder struct {
	path string
	fd   int
	err  error
}

// openFolder opens the folder at path for reading files relative to it.
// Symbolic links in path are followed, as a path open of a file in it
// would; only the file's own last element is never followed.
func openFolder(path string) folder {
	fd, err := retry(func() (int, error) {
		return unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return folder{path: path, fd: -1, err: err}
	}
	return folder{path: path, fd: fd}
}

func (f *folder) close() error {
	if f.fd < 0 {
		return nil
	}
	err := unix.Close(f.fd)
	f.fd = -1
	if err != nil {
		return &fs.PathError{Op: "close", Path: f.path, Err: err}
	}
	return nil
}

// read reads the regular file name in the folder, and returns its Stat
// (the opened file's fstat).
func (f *folder) read(name string, maxSize int64) ([]byte, Stat, error) {
	if f.err != nil {
		return nil, Stat{}, &fs.PathError{Op: "open", Path: filepath.Join(f.path, name), Err: f.err}
	}
	return readRegular(f.fd, name, f.path, name, maxSize)
}

// listNames returns the names in the folder at path, unsorted, "." and
// ".." left out: getdents with a 64 KiB buffer (os.ReadDir reads 8 KiB at
// a time and builds a DirEntry per name, which a listing does not need).
func listNames(path string) ([]string, error) {
	fd, err := retry(func() (int, error) {
		return unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 64<<10)
	var names []string
	for {
		n, err := retry(func() (int, error) { return unix.ReadDirent(fd, buf) })
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: path, Err: err}
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// readPath reads the regular file at dir/name, resolving the whole path.
func readPath(dir, name string, maxSize int64) ([]byte, error) {
	data, _, err := readRegular(unix.AT_FDCWD, filepath.Join(dir, name), dir, name, maxSize)
	return data, err
}

// readRegular reads the file rel (relative to dirfd) whose path, for
// errors, is dir/name, with as few system calls as a file allows: open
// (O_NOFOLLOW: a symbolic link in the last element fails the open, with no
// window between a check and the open; O_NONBLOCK: a named pipe does not
// block it), fstat (anything but a regular file is refused, from the
// opened file itself), one read of the size fstat gave plus one byte, and
// close. A read that returns exactly that size has reached the end; a
// short one, or a file that grew meanwhile, is read on to its end. Gzip is
// detected from the bytes read. It returns the file's Stat from that
// fstat.
func readRegular(dirfd int, rel, dir, name string, maxSize int64) ([]byte, Stat, error) {
	fd, st, err := openAt(dirfd, rel)
	var serr *fstatError
	switch {
	case errors.Is(err, errLink):
		return nil, Stat{}, &NotRegularError{Path: filepath.Join(dir, name), What: "a symbolic link"}
	case errors.As(err, &serr):
		return nil, Stat{}, &fs.PathError{Op: "stat", Path: filepath.Join(dir, name), Err: serr.err}
	case err != nil:
		return nil, Stat{}, &fs.PathError{Op: "open", Path: filepath.Join(dir, name), Err: err}
	}
	defer unix.Close(fd)
	if mode := uint32(st.Mode); mode&unix.S_IFMT != unix.S_IFREG {
		return nil, Stat{}, &NotRegularError{Path: filepath.Join(dir, name), What: DescribeMode(fileMode(mode))}
	}
	data, err := readOpen(fd, dir, name, st.Size, maxSize)
	return data, Stat{Size: st.Size, ModTime: st.Mtim.Nano()}, err
}

// readOpen reads the regular file fd of size bytes (fstat's), as
// readRegular describes.
func readOpen(fd int, dir, name string, size, maxSize int64) ([]byte, error) {
	r := fdReader{fd: fd, dir: dir, name: name}
	if size > maxSize {
		// Too large as it is; a gzip file may still decompress to less,
		// so it is decoded as a stream, never held whole.
		var magic [2]byte
		n, _ := unix.Pread(fd, magic[:], 0)
		if !IsGzip(magic[:max(n, 0)]) {
			return nil, tooLarge(maxSize, false)
		}
		return decodeStream(r, maxSize, 0)
	}
	buf := make([]byte, size+1) // the +1 shows a file that grew since fstat
	n, err := r.Read(buf)
	if err != nil && err != io.EOF {
		return nil, err
	}
	data := buf[:n]
	if int64(n) != size {
		var decoded bool
		if data, decoded, err = r.readRest(data, maxSize); err != nil || decoded {
			return data, err
		}
	}
	if IsGzip(data) {
		return decodeStream(bytes.NewReader(data), maxSize, 0)
	}
	return data, nil
}

// errLink is openAt's error for a symbolic link.
var errLink = errors.New("a symbolic link")

// fstatError is openAt's error when the opened file could not be stat'ed.
type fstatError struct{ err error }

func (e *fstatError) Error() string { return "stat: " + e.err.Error() }
func (e *fstatError) Unwrap() error { return e.err }

// openAt opens the file rel, relative to the folder dirfd, to read it, and
// fstats it: the one safe open of a file of a LocalFs storage, for reading
// it and for comparing it before a write. O_NOFOLLOW: a symbolic link in
// the last element fails the open (errLink), with no window between a
// check and the open; O_NONBLOCK: a named pipe does not block it; the
// caller checks the type from the opened file itself (st). Another failed
// open returns the errno; a failed fstat an *fstatError. The caller closes
// fd.
func openAt(dirfd int, rel string) (fd int, st unix.Stat_t, err error) {
	fd, err = retry(func() (int, error) {
		return unix.Openat(dirfd, rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		// Linux says ELOOP, other systems EMLINK or EFTYPE, and ELOOP
		// may also come from the folders of a path: ask the last element.
		if unix.Fstatat(dirfd, rel, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && uint32(st.Mode)&unix.S_IFMT == unix.S_IFLNK {
			return -1, st, errLink
		}
		return -1, st, err
	}
	if _, err := retry(func() (int, error) { return 0, unix.Fstat(fd, &st) }); err != nil {
		unix.Close(fd)
		return -1, st, &fstatError{err}
	}
	return fd, st, nil
}

// readRest reads r on to its end after data, the bytes already read, and
// returns the content as read. Plain content past maxSize is refused; gzip
// content past it is decoded as a stream from there, and then returned
// decoded (decoded true).
func (r fdReader) readRest(data []byte, maxSize int64) (_ []byte, decoded bool, _ error) {
	for {
		if int64(len(data)) > maxSize {
			if IsGzip(data) {
				data, err := decodeStream(io.MultiReader(bytes.NewReader(data), r), maxSize, 0)
				return data, true, err
			}
			return nil, false, tooLarge(maxSize, false)
		}
		if len(data) == cap(data) {
			grown := make([]byte, len(data), min(max(2*int64(cap(data)), 512), maxSize+1))
			copy(grown, data)
			data = grown
		}
		n, err := r.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, false, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
}

// fdReader reads a file descriptor, giving errors as *fs.PathError as an
// *os.File would.
type fdReader struct {
	fd        int
	dir, name string
}

func (r fdReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := retry(func() (int, error) { return unix.Read(r.fd, p) })
	switch {
	case err != nil:
		return 0, &fs.PathError{Op: "read", Path: filepath.Join(r.dir, r.name), Err: err}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// retry calls fn again while it fails with EINTR.
func retry(fn func() (int, error)) (int, error) {
	for {
		n, err := fn()
		if err != unix.EINTR {
			return n, err
		}
	}
}

// fileMode converts a stat mode to an fs.FileMode, as package os does.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}
