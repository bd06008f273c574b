package scratch

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestRemoveStale: a folder named by a process that is gone (no such pid,
// or a pid that started at another time) is removed; this process's and
// folders not named by a process are kept.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	mine, err := Make(dir, "metactl-x-")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"metactl-x-999999999-1-abc", fmt.Sprintf("metactl-x-%d-123456789123", os.Getpid()), "metactl-x-other", "metactl-y-999999999-1"} {
		os.Mkdir(filepath.Join(dir, n), 0o700)
	}
	got := RemoveStale(dir, "metactl-x-")
	want := []string{fmt.Sprintf("metactl-x-%d-123456789123", os.Getpid()), "metactl-x-999999999-1-abc"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("removed %v, want %v", got, want)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("this process's folder: %v", err)
	}
}
