//go:build unix

package workflow

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The bridge's write-through to a LocalFs folder goes through the same
// safe-open layer as export: a save lands whole in metadata/, a move is
// one rename into metadata_backup/, and a symbolic link in place of
// metadata/ is refused rather than followed out of the storage.
func TestWriteThroughLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "metadata"), 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := NewWrapped(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("{\"Identity\":{\"id\":\"x\"}}\n")
	if err := w.SaveThrough(ctx, "identity.meta", content); err != nil {
		t.Fatalf("save: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "metadata", "identity.meta"))
	if err != nil || string(got) != string(content) {
		t.Fatalf("metadata/identity.meta = %q, %v; want %q", got, err, content)
	}
	// A retry is a no-op that leaves the file as it was.
	if err := w.SaveThrough(ctx, "identity.meta", content); err != nil {
		t.Fatalf("save again: %v", err)
	}
	if err := w.MoveThrough(ctx, "identity.meta"); err != nil {
		t.Fatalf("move: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "metadata", "identity.meta")); !os.IsNotExist(err) {
		t.Fatalf("metadata/identity.meta still there after the move: %v", err)
	}
	got, err = os.ReadFile(filepath.Join(dir, "metadata_backup", "identity.meta"))
	if err != nil || string(got) != string(content) {
		t.Fatalf("metadata_backup/identity.meta = %q, %v; want %q", got, err, content)
	}
	// Moving an already moved file needs nothing.
	if err := w.MoveThrough(ctx, "identity.meta"); err != nil {
		t.Fatalf("move again: %v", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "metadata" && e.Name() != "metadata_backup" {
			t.Errorf("left in the storage folder: %s", e.Name())
		}
	}

	// metadata/ as a symbolic link to a folder outside the storage.
	outside := t.TempDir()
	dir2 := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir2, "metadata")); err != nil {
		t.Fatal(err)
	}
	// NewWrapped checks the folder when the bridge starts; the link may
	// appear after that, so the write itself must refuse it.
	w2 := &Wrapped{dir: dir2}
	err = w2.SaveThrough(ctx, "identity.meta", content)
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("save through a linked metadata/: err = %v, want a refusal naming the symbolic link", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("the write followed the link: %d entries outside the storage", len(ents))
	}
}
