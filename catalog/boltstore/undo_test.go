package boltstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	ct "github.com/metactl/metactl/internal/catalogtest"
)

// clock is a settable clock for the catalog.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newUndoDB(t *testing.T) (catalog.DB, *clock) {
	t.Helper()
	c := &clock{t: time.Unix(1700000000, 0).UTC()}
	return ct.OpenWith(t, ct.Options{Now: c.now, Verify: true}), c
}

// snapshot is everything undo must restore: every file (content, state,
// provenance, times), the deleted records and the view digest.
type snapshot struct {
	Files   []*catalog.File
	Deleted []*catalog.DeletedFile
	Digest  aptos.Digest
}

func snap(t *testing.T, db catalog.DB) snapshot {
	t.Helper()
	s := snapshot{Files: ct.Files(t, db)}
	err := db.View(t.Context(), func(tx catalog.Tx) error {
		s.Digest = tx.ViewDigest()
		return tx.DeletedFiles(func(d *catalog.DeletedFile) error { s.Deleted = append(s.Deleted, d); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func update(t *testing.T, db catalog.DB, fn func(catalog.WriteTx) error) *catalog.Operation {
	t.Helper()
	op, err := db.Update(t.Context(), "test", fn)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	return op
}

func undo(t *testing.T, db catalog.DB, gen uint64) *catalog.Operation {
	t.Helper()
	op, err := db.Undo(t.Context(), gen, false)
	if err != nil {
		t.Fatalf("undo %d: %v", gen, err)
	}
	if op.Undoes != gen || op.Kind != catalog.KindUndo {
		t.Fatalf("undo op = %+v, want kind undo, undoes %d", op, gen)
	}
	return op
}

func mustEqual(t *testing.T, what string, got, want snapshot) {
	t.Helper()
	if !reflect.DeepEqual(got.Files, want.Files) {
		t.Errorf("%s: files differ:\n got %s\nwant %s", what, describe(got.Files), describe(want.Files))
	}
	if got.Digest != want.Digest {
		t.Errorf("%s: digest %s, want %s", what, got.Digest.Short(), want.Digest.Short())
	}
}

func describe(fs []*catalog.File) string {
	var b bytes.Buffer
	for _, f := range fs {
		fmt.Fprintf(&b, "[%s %s %x %s %s] ", f.Handle, f.State, f.SHA256[:4], f.ImportedAt.Format(time.RFC3339), f.StateChangedAt.Format(time.RFC3339))
	}
	return b.String()
}

var (
	fileA = ct.File{Name: "transaction_0-9.meta", State: catalog.Live, Lines: []aptos.Metadata{ct.Transaction(0, 9, "t0/m")}}
	fileB = ct.File{Name: "transaction_10-19.meta", State: catalog.Live, Lines: []aptos.Metadata{ct.Transaction(10, 19, "t10/m")}}
	fileC = ct.File{Name: "transaction_20-29.meta", State: catalog.Live, Lines: []aptos.Metadata{ct.Transaction(20, 29, "t20/m")}}
	// fileAB is what a compaction of A and B writes.
	fileAB = ct.File{Name: "transaction_compacted_0-19.meta", State: catalog.Live,
		Lines: []aptos.Metadata{ct.Transaction(0, 9, "t0/m"), ct.Transaction(10, 19, "t10/m")}}
)

func putAll(tx catalog.WriteTx, fs ...ct.File) error {
	for _, f := range fs {
		if _, err := tx.PutFile(f.NewFile("test")); err != nil {
			return err
		}
	}
	return nil
}

// TestUndoImport: an undone import removes exactly what it added, records
// the removed files as deleted (content retained), and an undo of the undo
// brings them back.
func TestUndoImport(t *testing.T) {
	db, clk := newUndoDB(t)
	update(t, db, func(tx catalog.WriteTx) error { return putAll(tx, fileA, fileB) })
	before := snap(t, db)
	clk.t = clk.t.Add(time.Hour)
	imp := update(t, db, func(tx catalog.WriteTx) error { return putAll(tx, fileC) })
	after := snap(t, db)
	clk.t = clk.t.Add(time.Hour)
	op := undo(t, db, imp.Generation)
	if op.Deleted.Count != 1 || op.Deleted.Handles[0] != fileC.Handle() || op.DigestAfter != imp.DigestBefore {
		t.Fatalf("undo op = %+v", op)
	}
	got := snap(t, db)
	mustEqual(t, "after undo", got, before)
	want := &catalog.DeletedFile{Handle: fileC.Handle(), State: catalog.Live, Generation: op.Generation,
		DeletedAt: clk.t, SHA256: after.Files[2].SHA256, Size: after.Files[2].Size, Retained: true}
	if len(got.Deleted) != 1 || !reflect.DeepEqual(got.Deleted[0], want) {
		t.Errorf("deleted records = %+v, want %+v", got.Deleted, want)
	}
	// The deleted file's content stays readable within the undo window.
	err := db.View(context.Background(), func(tx catalog.Tx) error {
		b, err := tx.DeletedContent(fileC.Handle())
		if err != nil || sha256.Sum256(b) != want.SHA256 {
			t.Errorf("DeletedContent = %q, %v; want the content of sha256 %x", b, err, want.SHA256[:8])
		}
		if _, err := tx.DeletedContent(fileA.Handle()); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("DeletedContent of a live file: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	undo(t, db, op.Generation)
	redo := snap(t, db)
	mustEqual(t, "after undoing the undo", redo, after)
	if len(redo.Deleted) != 0 {
		t.Errorf("deleted records after redo = %+v, want none", redo.Deleted)
	}
}

// TestUndoCompaction: writes, replacements and moves of one transaction
// are all reversed, times and provenance included.
func TestUndoCompaction(t *testing.T) {
	db, clk := newUndoDB(t)
	stamps := ct.File{Name: "compaction_timestamps_1.meta", State: catalog.Live, Lines: []aptos.Metadata{aptos.NewCompactionTimestamps(
		aptos.CompactionTimestamps{FileCompactedAt: 1, Timestamps: map[string]*uint64{}})}}
	update(t, db, func(tx catalog.WriteTx) error { return putAll(tx, fileA, fileB, stamps) })
	before := snap(t, db)
	clk.t = clk.t.Add(time.Hour)
	newStamps := stamps
	newStamps.Lines = []aptos.Metadata{aptos.NewCompactionTimestamps(aptos.CompactionTimestamps{FileCompactedAt: 2,
		Timestamps: map[string]*uint64{fileA.Handle(): ct.U64p(2)}})}
	compact, err := db.Update(t.Context(), "compact", func(tx catalog.WriteTx) error {
		tx.PreserveView()
		if err := putAll(tx, fileAB); err != nil {
			return err
		}
		for _, f := range []ct.File{fileA, fileB} {
			if err := tx.SetState(f.Handle(), catalog.Moved); err != nil {
				return err
			}
		}
		nf := newStamps.NewFile("compaction")
		nf.Replace = true
		_, err := tx.PutFile(nf)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if compact.Replaced.Count != 1 || compact.Moved.Count != 2 || compact.Added.Count != 1 {
		t.Fatalf("compaction = %+v", compact)
	}
	clk.t = clk.t.Add(time.Hour)
	op := undo(t, db, compact.Generation)
	if op.Revived.Count != 2 || op.Replaced.Count != 1 || op.Deleted.Count != 1 {
		t.Errorf("undo op = %+v, want 2 revived, 1 replaced, 1 removed", op)
	}
	mustEqual(t, "after undo", snap(t, db), before)
	err = db.View(t.Context(), func(tx catalog.Tx) error {
		ts, h, err := tx.LatestTimestamps()
		if err != nil || ts.FileCompactedAt != 1 || h != stamps.Handle() {
			t.Errorf("latest timestamps = %+v %q %v, want the old file's", ts, h, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUndoCleanup: deleted files come back exactly; the deleted records
// document what export --prune reads.
func TestUndoCleanup(t *testing.T) {
	db, clk := newUndoDB(t)
	moved := fileA
	moved.State = catalog.Moved
	update(t, db, func(tx catalog.WriteTx) error { return putAll(tx, moved, fileB) })
	before := snap(t, db)
	clk.t = clk.t.Add(time.Hour)
	del := update(t, db, func(tx catalog.WriteTx) error { return tx.DeleteFile(moved.Handle()) })
	mid := snap(t, db)
	want := []*catalog.DeletedFile{{Handle: moved.Handle(), State: catalog.Moved, Generation: del.Generation, DeletedAt: clk.t,
		SHA256: before.Files[0].SHA256, Size: before.Files[0].Size, Retained: true}}
	if !reflect.DeepEqual(mid.Deleted, want) {
		t.Fatalf("deleted records = %+v, want %+v", mid.Deleted, want)
	}
	err := db.View(t.Context(), func(tx catalog.Tx) error {
		d, err := tx.Deleted(moved.Handle())
		if err != nil || !reflect.DeepEqual(d, want[0]) {
			t.Errorf("Deleted(%q) = %+v, %v", moved.Handle(), d, err)
		}
		if _, err := tx.Deleted(fileB.Handle()); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("Deleted of a live file: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	op := undo(t, db, del.Generation)
	if op.Added.Count != 1 {
		t.Errorf("undo op = %+v, want 1 restored", op)
	}
	got := snap(t, db)
	mustEqual(t, "after undo", got, before)
	if len(got.Deleted) != 0 {
		t.Errorf("deleted records after undo = %+v", got.Deleted)
	}
}

// TestUndoDryRun: a dry run checks everything and commits nothing.
func TestUndoDryRun(t *testing.T) {
	db, _ := newUndoDB(t)
	update(t, db, func(tx catalog.WriteTx) error { return putAll(tx, fileA) })
	b := ct.Bytes(t, db)
	op, err := db.Undo(t.Context(), 1, true)
	if err != nil || op.Generation != 2 || op.Deleted.Count != 1 {
		t.Fatalf("dry run = %+v, %v", op, err)
	}
	if !bytes.Equal(ct.Bytes(t, db), b) || ct.Generation(t, db) != 1 {
		t.Error("dry run changed the catalog")
	}
}

// TestUndoRefusals: each way an exact undo is impossible, with its exact
// message; the catalog is left byte for byte as it was.
func TestUndoRefusals(t *testing.T) {
	t0 := "2023-11-14T22:13:20Z"
	t1 := "2023-11-14T23:13:20Z"
	tests := []struct {
		name  string
		setup func(t *testing.T, db catalog.DB, clk *clock)
		gen   uint64
		want  string
	}{
		{"not in the journal", func(t *testing.T, db catalog.DB, clk *clock) {
			update(t, db, func(tx catalog.WriteTx) error { return putAll(tx, fileA) })
		}, 7, "undo generation 7: not in the journal (the catalog is at generation 1): not found"},
		{"changed since", func(t *testing.T, db catalog.DB, clk *clock) {
			update(t, db, func(tx catalog.WriteTx) error { return putAll(tx, fileA) })
			clk.t = clk.t.Add(time.Hour)
			update(t, db, func(tx catalog.WriteTx) error { return tx.SetState(fileA.Handle(), catalog.Moved) })
		}, 1, "undo generation 1: metadata/transaction_0-9.meta was changed since by generation 2 (test at " + t1 + "); undo that operation first"},
		{"already undone", func(t *testing.T, db catalog.DB, clk *clock) {
			update(t, db, func(tx catalog.WriteTx) error { return putAll(tx, fileA) })
			undo(t, db, 1)
		}, 1, "undo generation 1: already undone by generation 2 (undo at " + t0 + ")"},
		{"view used by a later operation", func(t *testing.T, db catalog.DB, clk *clock) {
			update(t, db, func(tx catalog.WriteTx) error { return putAll(tx, fileA, fileB) })
			clk.t = clk.t.Add(time.Hour)
			update(t, db, func(tx catalog.WriteTx) error { return putAll(tx, fileAB) }) // the same entries again
		}, 1, "undo generation 1: the reversal would leave view digest db864ad504e3, not 000000000000: the view it left was used by generation 2 (test at " + t1 + "); undo that operation first"},
		{"content purged", func(t *testing.T, db catalog.DB, clk *clock) {
			update(t, db, func(tx catalog.WriteTx) error { return putAll(tx, fileA) })
			update(t, db, func(tx catalog.WriteTx) error { return tx.DeleteFile(fileA.Handle()) })
			clk.t = clk.t.Add(catalog.DefaultRetention + time.Hour)
			op := update(t, db, func(tx catalog.WriteTx) error {
				_, err := tx.PurgeRetained(tx.Now().Add(-catalog.DefaultRetention))
				return err
			})
			if op.Purged != 2 {
				t.Fatalf("purge op = %+v, want 2 change records purged", op)
			}
			err := db.View(t.Context(), func(tx catalog.Tx) error {
				d, err := tx.Deleted(fileA.Handle())
				if err != nil || d.Retained {
					t.Errorf("deleted record after purge = %+v, %v; want Retained false", d, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}, 2, "undo generation 2: its change records were purged after the grace period by generation 3 (test at 2023-12-14T23:13:20Z)"},
		{"no change records", func(t *testing.T, db catalog.DB, clk *clock) {
			update(t, db, func(tx catalog.WriteTx) error { return putAll(tx, fileA) })
			path := db.Location()
			db.Close()
			dropBuckets(t, path, "changes", "deleted")
		}, 1, "undo generation 1: the test at " + t0 + " was committed by a metactl that kept no change records, so what it changed is not known exactly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1700000000, 0).UTC()}
			path := filepath.Join(t.TempDir(), "c.db")
			db := ct.OpenManual(t, ct.Options{Path: path, Now: clk.now})
			tt.setup(t, db, clk)
			db.Close()
			db = ct.OpenWith(t, ct.Options{Path: path, Now: clk.now, Verify: true})
			b := ct.Bytes(t, db)
			_, err := db.Undo(t.Context(), tt.gen, false)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("undo %d: %v\nwant: %s", tt.gen, err, tt.want)
			}
			var refused *catalog.UndoRefusedError
			if !errors.As(err, &refused) && !errors.Is(err, catalog.ErrNotFound) {
				t.Errorf("error %T is neither an *UndoRefusedError nor ErrNotFound", err)
			}
			if !bytes.Equal(ct.Bytes(t, db), b) {
				t.Error("a refused undo changed the catalog file")
			}
		})
	}
}

// dropBuckets makes path look like a catalog written before the change
// records existed.
func dropBuckets(t *testing.T, path string, names ...string) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.Update(func(btx *bolt.Tx) error {
		for _, n := range names {
			if err := btx.DeleteBucket([]byte(n)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCatalogWithoutChangeBuckets: a catalog from before the change
// records opens, reads as having no deleted files, and its next write
// creates the buckets and can be undone.
func TestCatalogWithoutChangeBuckets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db := ct.OpenManual(t, ct.Options{Path: path})
	update(t, db, func(tx catalog.WriteTx) error { return putAll(tx, fileA) })
	db.Close()
	dropBuckets(t, path, "changes", "deleted")
	db = ct.OpenWith(t, ct.Options{Path: path, Verify: true})
	if s := snap(t, db); len(s.Deleted) != 0 {
		t.Errorf("deleted = %+v", s.Deleted)
	}
	op := update(t, db, func(tx catalog.WriteTx) error { return tx.DeleteFile(fileA.Handle()) })
	undo(t, db, op.Generation)
	if st := ct.States(t, db); st[fileA.Handle()] != catalog.Live {
		t.Errorf("states after undo = %v", st)
	}
}
