//go:build unix

package storage_test

import (
	"syscall"
	"testing"
)

// mkfifo creates a named pipe at path and reports whether it could.
func mkfifo(t *testing.T, path string) bool {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	return true
}
