package fsutil_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/metactl/metactl/internal/fsutil"
)

func TestSyncDir(t *testing.T) {
	if err := fsutil.SyncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if err := fsutil.SyncDir(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a missing folder: %v, want fs.ErrNotExist", err)
	}
}
