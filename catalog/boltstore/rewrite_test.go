package boltstore_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	ct "github.com/metactl/metactl/internal/catalogtest"
)

// bulkFiles returns n one-line transaction files from version from.
func bulkFiles(from, n uint64) []ct.File {
	var fs []ct.File
	for i := from; i < from+n; i++ {
		m := ct.Transaction(i*10, i*10+9, "t/transaction.manifest")
		fs = append(fs, ct.File{Name: m.Name(), State: catalog.Live, Lines: []aptos.Metadata{m}})
	}
	return fs
}

// openBulk opens the catalog at path with a checkpoint after every file.
func openBulk(t *testing.T, path string) catalog.DB {
	t.Helper()
	db, err := catalog.Open(t.Context(), path, &catalog.Options{Timeout: ct.LockTimeout, NoSync: true, CheckpointBytes: 1,
		Now: func() time.Time { return time.Unix(1_700_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestUpdateBulk: a bulk update of an existing catalog (checkpointing
// after every file) publishes one generation with the same journal record
// and view as the same writes in one Update, replaces the file behind a
// symbolic link (not the link) keeping its permissions, and leaves no
// scratch file; the DB keeps working on the new file.
func TestUpdateBulk(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "data", "catalog.db")
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		t.Fatal(err)
	}
	if d, err := catalog.Open(t.Context(), real, nil); err != nil {
		t.Fatal(err)
	} else {
		d.Close()
	}
	link := filepath.Join(dir, "catalog.db")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	ref := openBulk(t, filepath.Join(dir, "ref.db"))
	db := openBulk(t, link)
	for _, d := range []catalog.DB{ref, db} {
		ct.Put(t, d, bulkFiles(0, 5)...)
	}
	if err := os.Chmod(real, 0o640); err != nil {
		t.Fatal(err)
	}
	write := func(tx catalog.WriteTx) error {
		if err := putAll(tx, bulkFiles(5, 20)...); err != nil {
			return err
		}
		return tx.SetState("metadata/transaction_0-9.meta", catalog.Moved)
	}
	want, err := ref.Update(t.Context(), "import", write)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.(catalog.BulkUpdater).UpdateBulk(t.Context(), "import", func(tx catalog.BulkWriteTx) error {
		if err := write(tx); err != nil {
			return err
		}
		return tx.Checkpoint()
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Generation != 2 || got.Added.Count != 20 || got.Moved.Count != 1 || got.DigestAfter != want.DigestAfter {
		t.Fatalf("bulk operation %+v, want %+v", got, want)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(real); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("catalog mode %v (%v), want 0640", fi.Mode().Perm(), err)
	}
	if left, _ := filepath.Glob(real + ".build-*"); len(left) > 0 {
		t.Fatalf("scratch files left: %q", left)
	}
	mustEqual(t, "bulk update vs one Update", snap(t, db), snap(t, ref))
	// A killed bulk update leaves its scratch file beside the target; the
	// next writable open through the link removes it.
	stale := real + ".build-99999999"
	if err := os.WriteFile(stale, []byte("left by a killed run"), 0o600); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openBulk(t, link)
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the stale scratch file beside the target is still there: %v", err)
	}
	ct.Verify(t, db)
	// Undo reverses the bulk write as it reverses the one Update, and the
	// DB keeps working on the new file.
	undo(t, ref, 2)
	undo(t, db, 2)
	mustEqual(t, "after undo", snap(t, db), snap(t, ref))
	ct.Put(t, db, bulkFiles(25, 1)...)
	ct.Verify(t, db)
}

// TestUpdateBulkRefused: a bulk update that fails after checkpoints, or
// that changes nothing, leaves the catalog byte-for-byte as it was, and no
// scratch file.
func TestUpdateBulkRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	db := openBulk(t, path)
	ct.Put(t, db, bulkFiles(0, 3)...)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, err = db.(catalog.BulkUpdater).UpdateBulk(t.Context(), "import", func(tx catalog.BulkWriteTx) error {
		for _, f := range bulkFiles(3, 10) {
			if _, err := tx.PutFile(f.NewFile("test")); err != nil {
				return err
			}
			if err := tx.Checkpoint(); err != nil {
				return err
			}
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateBulk: %v, want boom", err)
	}
	op, err := db.(catalog.BulkUpdater).UpdateBulk(t.Context(), "import", func(tx catalog.BulkWriteTx) error {
		_, err := tx.PutFile(bulkFiles(0, 1)[0].NewFile("test")) // already there
		return err
	})
	if err != nil || op.Changed() {
		t.Fatalf("no-op bulk update: %+v, %v", op, err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, after) {
		t.Fatal("the catalog changed")
	}
	if left, _ := filepath.Glob(path + ".build-*"); len(left) > 0 {
		t.Fatalf("scratch files left: %q", left)
	}
}
