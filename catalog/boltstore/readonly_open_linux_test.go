package boltstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog"
)

// openFDs counts this process's descriptors open on path (/proc/self/fd).
func openFDs(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
			n++
		}
	}
	return n
}

// TestReadOnlyOpenOneFile: a read-only open checks the catalog file it
// then hands bbolt, so the open catalog holds one descriptor on it and
// none on its lock file (the gate is held only while opening); a failed
// open, a damaged file or a busy lock, leaves none behind.
func TestReadOnlyOpenOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db := openRW(t, path)
	put(t, db, map[string][]byte{"metadata/transaction_0-9.meta": txnLine(0, 9, "t0/m")}, catalog.Live)
	db.Close()

	ro, err := catalog.Open(t.Context(), path, &catalog.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if n, l := openFDs(t, path), openFDs(t, path+".lock"); n != 1 || l != 0 {
		t.Errorf("read-only open: %d descriptors on the catalog, %d on its lock file; want 1 and 0", n, l)
	}
	if err := ro.View(t.Context(), func(tx catalog.Tx) error {
		_, err := tx.File("metadata/transaction_0-9.meta")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ro.Close()
	if n := openFDs(t, path); n != 0 {
		t.Errorf("after Close: %d descriptors on the catalog", n)
	}

	// Busy: a writer holds the gate.
	w := openRW(t, path)
	_, err = catalog.Open(t.Context(), path, &catalog.Options{ReadOnly: true, Timeout: 50 * time.Millisecond})
	var busy *catalog.BusyError
	if !errors.As(err, &busy) {
		t.Fatalf("read-only open beside a writer: %v, want a BusyError", err)
	}
	w.Close()
	if n, l := openFDs(t, path), openFDs(t, path+".lock"); n != 0 || l != 0 {
		t.Errorf("after a busy open: %d descriptors on the catalog, %d on its lock file", n, l)
	}

	// Damaged: the file zeroed, its lock file still beside it.
	if err := os.WriteFile(path, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = catalog.Open(t.Context(), path, &catalog.Options{ReadOnly: true, Timeout: time.Second})
	if !errors.Is(err, catalog.ErrCorrupt) {
		t.Fatalf("read-only open of a zeroed file: %v, want ErrCorrupt", err)
	}
	if n, l := openFDs(t, path), openFDs(t, path+".lock"); n != 0 || l != 0 {
		t.Errorf("after a damaged open: %d descriptors on the catalog, %d on its lock file", n, l)
	}
}
