package boltstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/metactl/metactl/catalog"
)

func TestNotCatalog(t *testing.T) {
	dir := t.TempDir()
	meta := filepath.Join(dir, "identity.meta")
	os.WriteFile(meta, []byte(`{"Identity":{"id":"445c5854b7bfb8873a419638dc5716c8c813d7035aaa59daf6f771a4f0472720"}}`+"\n"), 0o644)
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, make([]byte, 8192), 0o644)
	for _, tc := range []struct {
		name, path, want string
		notCatalog       bool
	}{
		{"directory", dir, "open catalog: " + dir + " is a directory; a catalog is one file, for example " + filepath.Join(dir, "metactl.db"), true},
		{"metadata file", meta, "open catalog: " + meta + " is a metadata file; a catalog is built from a storage that holds such files (metactl import --local-fs-dir DIR)", true},
		{"zeroed file", junk, `open catalog "` + junk + `": catalog file is damaged: the file is zeroed (restore it from a backup or an archive made with 'metactl export --archive', or re-import the storage into a new catalog)`, false},
	} {
		for _, ro := range []bool{false, true} {
			db, err := catalog.Open(t.Context(), tc.path, &catalog.Options{ReadOnly: ro})
			if db != nil || err == nil || err.Error() != tc.want || errors.Is(err, catalog.ErrNotCatalog) != tc.notCatalog || errors.Is(err, catalog.ErrCorrupt) == tc.notCatalog {
				t.Errorf("%s (read-only %v): %v\nwant %s (ErrNotCatalog %v, ErrCorrupt %v)", tc.name, ro, err, tc.want, tc.notCatalog, !tc.notCatalog)
			}
		}
		if _, err := os.Stat(tc.path + ".lock"); err == nil {
			t.Errorf("%s: a refused open left a lock file", tc.name)
		}
	}
}

func TestRemoveIfEmpty(t *testing.T) {
	dir := t.TempDir()
	empty, written := filepath.Join(dir, "empty.db"), filepath.Join(dir, "written.db")
	for _, p := range []string{empty, written} {
		db, err := catalog.Open(t.Context(), p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p == written {
			put(t, db, map[string][]byte{"metadata/a.meta": txnLine(0, 9, "t/0")}, catalog.Live)
		}
		db.Close()
	}
	if removed, err := catalog.RemoveIfEmpty(t.Context(), empty, 0); !removed || err != nil {
		t.Errorf("RemoveIfEmpty(never written) = %v, %v; want true, nil", removed, err)
	}
	if removed, err := catalog.RemoveIfEmpty(t.Context(), written, 0); removed || err != nil {
		t.Errorf("RemoveIfEmpty(written) = %v, %v; want false, nil", removed, err)
	}
	for p, want := range map[string]bool{empty: false, empty + ".lock": false, written: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", p, err == nil, want)
		}
	}
}
