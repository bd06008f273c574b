//go:build !unix

package storage

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// folder is one metadata folder of a LocalReader. Without openat, files
// are opened by their whole path.
type folder struct{ path string }

func openFolder(path string) folder { return folder{path: path} }

func (f *folder) close() error { return nil }

func (f *folder) read(name string, maxSize int64) ([]byte, Stat, error) {
	return readPathStat(f.path, name, maxSize)
}

// listNames returns the names in the folder at path.
func listNames(path string) ([]string, error) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// readPath reads the regular file dir/name, refusing a symbolic link and
// anything but a regular file; gzip is detected by content.
func readPath(dir, name string, maxSize int64) ([]byte, error) {
	data, _, err := readPathStat(dir, name, maxSize)
	return data, err
}

// readPathStat is readPath, and returns the opened file's Stat.
func readPathStat(dir, name string, maxSize int64) ([]byte, Stat, error) {
	path := filepath.Join(dir, name)
	f, err := openNoFollow(path)
	if err != nil {
		if st, lerr := os.Lstat(path); lerr == nil && st.Mode()&fs.ModeSymlink != 0 {
			return nil, Stat{}, &NotRegularError{Path: path, What: "a symbolic link"}
		}
		return nil, Stat{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, Stat{}, err
	}
	if !st.Mode().IsRegular() {
		return nil, Stat{}, &NotRegularError{Path: path, What: DescribeMode(st.Mode())}
	}
	stat := Stat{Size: st.Size(), ModTime: st.ModTime().UnixNano()}
	var magic [2]byte
	n, _ := f.ReadAt(magic[:], 0)
	if !IsGzip(magic[:n]) && st.Size() > maxSize {
		return nil, stat, tooLarge(maxSize, false)
	}
	data, err := decodeStream(f, maxSize, st.Size())
	return data, stat, err
}

// openNoFollow opens path for reading, refusing a symbolic link. Without
// O_NOFOLLOW it checks with Lstat first and then makes sure the opened file
// is the one it checked.
func openNoFollow(path string) (*os.File, error) {
	before, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if before.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("open %s: symbolic link", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	after, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !os.SameFile(before, after) {
		f.Close()
		return nil, fmt.Errorf("open %s: file changed while opening", path)
	}
	return f, nil
}
