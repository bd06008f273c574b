package boltstore

import (
	"io"
	"os"
)

// CopyFile copies the catalog file at from to the new path to (refused if
// it exists) and syncs it. The caller keeps from unchanged meanwhile: a
// read-only open of it holds the shared lock, or it is a private scratch
// file.
func CopyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
