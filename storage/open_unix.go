//go:build unix

package storage

import (
	"os"
	"syscall"
)

// openNoFollow opens path for reading. O_NOFOLLOW makes the open fail when
// the last element is a symbolic link, with no window between a check and the
// open; O_NONBLOCK keeps a named pipe planted in a metadata folder from
// blocking the open (the caller then refuses it as not a regular file).
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}
