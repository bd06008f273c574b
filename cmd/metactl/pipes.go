//go:build unix

package main

import (
	"fmt"
	"github.com/metactl/metactl/internal/scratch"
	"io"
	"io/fs"
	"os"
)

// stdinName is the path that means standard input where an archive is
// read (--catalog, copy --from, import --archive), and standard output for
// export --archive.
const stdinName = "-"

// isPipe reports whether path is "-" or names something that can be read
// only once: a named pipe (bash's <(...)), a character device such as
// /dev/stdin on a pipe, or a socket. Such an input cannot be sniffed for
// the archive magic and then opened again, so it is spooled first.
func isPipe(path string) bool {
	if path == stdinName {
		return true
	}
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	return st.Mode()&(fs.ModeNamedPipe|fs.ModeCharDevice|fs.ModeSocket) != 0
}

// spool copies the one-pass input path ("-": standard input) into a new
// temporary file and returns its path and a function that removes it. An
// archive from a pipe becomes a file like any other: detected by its
// magic, verified, unpacked. A path that is not a pipe is returned as it
// is, with a no-op cleanup.
func (a *app) spool(path string) (string, func(), error) {
	if !isPipe(path) {
		return path, func() {}, nil
	}
	var in io.Reader = a.stdin
	if path != stdinName {
		f, err := os.Open(path)
		if err != nil {
			return "", nil, err
		}
		defer f.Close()
		in = f
	}
	tmp, err := scratch.CreateTemp("", "metactl-stdin-", ".mcar")
	if err != nil {
		return "", nil, fmt.Errorf("spool %s: %w", path, err)
	}
	cleanup := func() { os.Remove(tmp.Name()) }
	_, err = io.Copy(tmp, in)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("spool %s: %w", path, err)
	}
	return tmp.Name(), cleanup, nil
}
