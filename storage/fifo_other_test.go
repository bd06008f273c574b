//go:build !unix

package storage_test

import "testing"

// mkfifo reports that named pipes are not available here.
func mkfifo(t *testing.T, path string) bool { return false }
