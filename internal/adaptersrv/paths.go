//go:build unix

package adaptersrv

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// ErrUnsafeDir is returned for a server folder that another user could
// write to or that is not a plain folder of this user's.
var ErrUnsafeDir = errors.New("adapter server folder is not private")

// ErrPathTooLong is returned when a socket path would exceed what a unix
// socket address holds (104 bytes on the BSDs).
var ErrPathTooLong = errors.New("adapter server socket path too long")

// Dir returns the folder of this user's servers: $XDG_RUNTIME_DIR/metactl
// if XDG_RUNTIME_DIR is an absolute path, else
// <os.TempDir()>/metactl-<uid>.
func Dir() string {
	if x := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(x) {
		return filepath.Join(x, "metactl")
	}
	return filepath.Join(os.TempDir(), "metactl-"+strconv.Itoa(os.Getuid()))
}

// CheckDir checks that dir is a folder of this user's that nobody else
// may write to or look into (mode 0700 or stricter, not a symbolic
// link), creating it first if create is set. It returns ErrUnsafeDir
// wrapped otherwise.
func CheckDir(dir string, create bool) error {
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("adapter server folder %s: %w", dir, err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		return fmt.Errorf("adapter server folder %s: %w", dir, &os.PathError{Op: "lstat", Path: dir, Err: err})
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != os.Getuid() || st.Mode&0o077 != 0 {
		return fmt.Errorf("%s (want a folder of uid %d, mode 0700, not a link): %w", dir, os.Getuid(), ErrUnsafeDir)
	}
	return nil
}

// SocketPath and LockPath are the files of the server of key in dir.
func SocketPath(dir, key string) string { return filepath.Join(dir, key+".sock") }
func LockPath(dir, key string) string   { return filepath.Join(dir, key+".lock") }

// checkSocketPath returns ErrPathTooLong for a path a sockaddr_un cannot hold.
func checkSocketPath(p string) error {
	if len(p) >= 104 {
		return fmt.Errorf("%s: %w", p, ErrPathTooLong)
	}
	return nil
}

// Key returns the server key of parts: a hash of Version and every part,
// in hex. Give it everything that decides a call's answer besides the
// call itself (see the package doc).
func Key(parts ...string) string {
	h := sha256.New()
	h.Write([]byte(Version))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// FileIdentity describes the file at path for a [Key]: its path, size and
// modification time, so a binary or certificate replaced in place gives
// another key.
func FileIdentity(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return path + " (missing)"
	}
	return fmt.Sprintf("%s %d %d", path, st.Size(), st.ModTime().UnixNano())
}

// Lock is a held server lock: an exclusive flock on dir/key.lock.
type Lock struct {
	f    *os.File
	path string
}

// TryLock takes the lock at path without waiting. It returns held set and
// no lock if another process holds it.
func TryLock(path string) (l *Lock, held bool, err error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, false, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, true, nil
			}
			return nil, false, &os.PathError{Op: "flock", Path: path, Err: err}
		}
		// An exiting server or a sweep may have removed the file between
		// the open and the flock: then this lock guards nothing, and the
		// file now at path (if any) is the one to lock.
		var a, b syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &a) == nil && syscall.Stat(path, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino {
			return &Lock{f: f, path: path}, false, nil
		}
		f.Close()
	}
}

// WritePID records the holder's pid in the lock file, so a leftover says
// whose it was.
func (l *Lock) WritePID() error {
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	_, err := l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// Remove removes the lock file and releases the lock. Remove the socket
// first: a server's files go while it holds the lock.
func (l *Lock) Remove() error {
	err := os.Remove(l.path)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Release releases the lock and keeps the file.
func (l *Lock) Release() error { return l.f.Close() }
