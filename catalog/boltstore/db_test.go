package boltstore_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

func openRW(t *testing.T, path string) catalog.DB {
	t.Helper()
	db, err := catalog.Open(t.Context(), path, &catalog.Options{Timeout: 2 * time.Second, Command: "test"})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func txnLine(first, last uint64, manifest string) []byte {
	m := aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: first, LastVersion: last, Manifest: manifest})
	return aptos.EncodeLine(&m)
}

func put(t *testing.T, db catalog.DB, files map[string][]byte, state catalog.State) *catalog.Operation {
	t.Helper()
	op, err := db.Update(t.Context(), "test", func(tx catalog.WriteTx) error {
		for _, h := range sortedKeys(files) {
			if _, err := tx.PutFile(catalog.NewFile{Handle: h, Content: files[h], State: state, Source: "test"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	return op
}

func sortedKeys(m map[string][]byte) []string { return slices.Sorted(maps.Keys(m)) }

func TestCreatePutReopenReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db := openRW(t, path)
	op := put(t, db, map[string][]byte{
		"metadata/transaction_0-0.meta": txnLine(0, 0, "t0/transaction.manifest"),
		"metadata/transaction_1-9.meta": txnLine(1, 9, "t1/transaction.manifest"),
	}, catalog.Live)
	if op.Generation != 1 || op.Added.Count != 2 || op.Entries != 2 {
		t.Fatalf("op = %+v, want generation 1, 2 added, 2 entries", op)
	}
	db.Close()

	ro, err := catalog.Open(t.Context(), path, &catalog.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	err = ro.View(t.Context(), func(tx catalog.Tx) error {
		v, err := tx.View()
		if err != nil {
			return err
		}
		if got := v.StorageState().String(); got != "latest_epoch_ending_epoch: none, latest_state_snapshot_epoch: none, latest_state_snapshot_version: none, latest_transaction_version: 9" {
			t.Errorf("state = %q", got)
		}
		if v.Digest() != tx.ViewDigest() {
			t.Errorf("recomputed digest %s != stored %s", v.Digest(), tx.ViewDigest())
		}
		if tx.Generation() != 1 {
			t.Errorf("generation = %d", tx.Generation())
		}
		return tx.StoredEntriesMatch()
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Update(t.Context(), "x", func(catalog.WriteTx) error { return nil }); !errors.Is(err, catalog.ErrReadOnly) {
		t.Fatalf("update on read-only: %v, want ErrReadOnly", err)
	}
}

func TestReadOnlyOpenOfMissingCatalogCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	_, err := catalog.Open(t.Context(), filepath.Join(dir, "none.db"), &catalog.Options{ReadOnly: true})
	if !errors.Is(err, catalog.ErrNoCatalog) {
		t.Fatalf("err = %v, want ErrNoCatalog", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("read-only open left files: %v", ents)
	}
}

func TestNoChangeLeavesFileBytesAndGeneration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db := openRW(t, path)
	files := map[string][]byte{"metadata/transaction_0-0.meta": txnLine(0, 0, "t0/m")}
	put(t, db, files, catalog.Live)
	db.Close()
	before, _ := os.ReadFile(path)
	db = openRW(t, path)
	op := put(t, db, files, catalog.Live)
	if op.Changed() || op.Generation != 1 {
		t.Fatalf("re-put: %+v, want unchanged at generation 1", op)
	}
	db.Close()
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("catalog bytes changed on a no-op write")
	}
}

func TestConflicts(t *testing.T) {
	db := openRW(t, filepath.Join(t.TempDir(), "c.db"))
	put(t, db, map[string][]byte{"metadata/transaction_0-0.meta": txnLine(0, 0, "a/m")}, catalog.Live)
	_, err := db.Update(t.Context(), "test", func(tx catalog.WriteTx) error {
		_, err := tx.PutFile(catalog.NewFile{Handle: "metadata/transaction_0-0.meta", Content: txnLine(0, 0, "b/m"), State: catalog.Live, Source: "other"})
		return err
	})
	if !errors.Is(err, catalog.ErrConflict) || !strings.Contains(err.Error(), `"metadata/transaction_0-0.meta" already holds other content`) {
		t.Fatalf("err = %v, want content conflict", err)
	}

	id := func(b byte) []byte {
		var h aptos.HashValue
		h[0] = b
		m := aptos.NewIdentity(h)
		return aptos.EncodeLine(&m)
	}
	put(t, db, map[string][]byte{"metadata/identity.meta": id(1)}, catalog.Live)
	_, err = db.Update(t.Context(), "test", func(tx catalog.WriteTx) error {
		_, err := tx.PutFile(catalog.NewFile{Handle: "metadata/identity2.meta", Content: id(2), State: catalog.Live})
		return err
	})
	if !errors.Is(err, catalog.ErrConflict) || !strings.Contains(err.Error(), "differs from the catalog's identity 01") {
		t.Fatalf("err = %v, want identity conflict", err)
	}
}

func TestMoveKeepsSharedEntriesAndPreserveViewAborts(t *testing.T) {
	db := openRW(t, filepath.Join(t.TempDir(), "c.db"))
	both := append(txnLine(0, 0, "a/m"), txnLine(1, 5, "b/m")...)
	put(t, db, map[string][]byte{
		"metadata/transaction_0-0.meta":           txnLine(0, 0, "a/m"),
		"metadata/transaction_compacted_0-5.meta": both,
	}, catalog.Live)
	var digest aptos.Digest
	db.View(t.Context(), func(tx catalog.Tx) error { digest = tx.ViewDigest(); return nil })

	// Moving the original keeps the view: its line lives on in the compacted file.
	op, err := db.Update(t.Context(), "compact", func(tx catalog.WriteTx) error {
		tx.PreserveView()
		return tx.SetState("metadata/transaction_0-0.meta", catalog.Moved)
	})
	if err != nil || op.Moved.Count != 1 || op.DigestAfter != digest {
		t.Fatalf("move original: op=%+v err=%v", op, err)
	}
	// Moving the compacted file would lose both entries: refused, nothing changes.
	_, err = db.Update(t.Context(), "compact", func(tx catalog.WriteTx) error {
		tx.PreserveView()
		return tx.SetState("metadata/transaction_compacted_0-5.meta", catalog.Moved)
	})
	var lost *catalog.LostEntriesError
	if !errors.As(err, &lost) || !errors.Is(err, catalog.ErrViewChanged) || len(lost.Lost) != 2 {
		t.Fatalf("err = %v, want LostEntriesError with 2 lost", err)
	}
	if !strings.Contains(err.Error(), `lost {"TransactionBackup":{"first_version":0,"last_version":0,"manifest":"a/m"}}`) {
		t.Errorf("error does not name the lost entry: %v", err)
	}
	db.View(t.Context(), func(tx catalog.Tx) error {
		f, _ := tx.File("metadata/transaction_compacted_0-5.meta")
		if f.State != catalog.Live || tx.Generation() != 2 || tx.ViewDigest() != digest {
			t.Errorf("aborted write leaked: state %v generation %d", f.State, tx.Generation())
		}
		return nil
	})
}

func TestBusyNamesHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db := openRW(t, path)
	_ = db
	start := time.Now()
	_, err := catalog.Open(context.Background(), path, &catalog.Options{ReadOnly: true, Timeout: 150 * time.Millisecond})
	var busy *catalog.BusyError
	if !errors.As(err, &busy) {
		t.Fatalf("err = %v, want *BusyError", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("returned after %v, before the timeout", waited)
	}
	if busy.Holder == nil || busy.Holder.PID != os.Getpid() || busy.Holder.Command != "test" {
		t.Fatalf("holder = %+v, want this process", busy.Holder)
	}
	db.Close()
	ro, err := catalog.Open(context.Background(), path, &catalog.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("open after writer closed: %v", err)
	}
	ro.Close()
}

func TestDamagedCatalogs(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	db := openRW(t, good)
	files := map[string][]byte{}
	for i := uint64(0); i < 300; i++ {
		files["metadata/transaction_"+itoa(i)+"-"+itoa(i)+".meta"] = txnLine(i, i, strings.Repeat("m", 200)+"/"+itoa(i))
	}
	put(t, db, files, catalog.Live)
	db.Close()
	content, _ := os.ReadFile(good)

	newer := filepath.Join(dir, "newer.db")
	os.WriteFile(newer, content, 0o600)
	bdb, err := bolt.Open(newer, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), binary.BigEndian.AppendUint32(nil, 99))
	})
	bdb.Close()
	notCatalog := filepath.Join(dir, "plain-bbolt.db")
	bdb, _ = bolt.Open(notCatalog, 0o600, nil)
	bdb.Close()

	random := make([]byte, 64<<10)
	rand.Read(random)
	cases := []struct {
		name string
		data []byte
		path string
		want error
		text string
	}{
		{name: "empty", data: []byte{}, want: catalog.ErrCorrupt, text: "the file is empty"},
		{name: "zeroed", data: make([]byte, len(content)), want: catalog.ErrCorrupt, text: "the file is zeroed"},
		{name: "random", data: random, want: catalog.ErrCorrupt, text: "not a bbolt database"},
		{name: "text", data: []byte("{\"Identity\":{}}\n"), want: catalog.ErrCorrupt, text: "not a bbolt database"},
		{name: "truncated-100", data: content[:100], want: catalog.ErrCorrupt, text: "truncated"},
		{name: "truncated-40", data: content[:40], want: catalog.ErrCorrupt, text: "not a bbolt database"},
		{name: "truncated-4096", data: content[:4096], want: catalog.ErrCorrupt, text: "truncated"},
		{name: "truncated-16384", data: content[:16384], want: catalog.ErrCorrupt, text: "truncated"},
		{name: "truncated-half", data: content[:len(content)/2], want: catalog.ErrCorrupt, text: "truncated"},
		{name: "newer-schema", path: newer, want: catalog.ErrSchema, text: "schema version 99 is newer"},
		{name: "bbolt-not-catalog", path: notCatalog, want: catalog.ErrCorrupt, text: "not a metactl catalog"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.path
			if p == "" {
				p = filepath.Join(dir, tc.name+".db")
				if err := os.WriteFile(p, tc.data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for _, ro := range []bool{true, false} {
				db, err := catalog.Open(t.Context(), p, &catalog.Options{ReadOnly: ro, Timeout: time.Second})
				if err == nil {
					db.Close()
					t.Fatalf("read-only=%v: opened a damaged catalog", ro)
				}
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
					t.Fatalf("read-only=%v: err = %v, want %v containing %q", ro, err, tc.want, tc.text)
				}
			}
		})
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// TestStorageStateStreamingMatchesView: the index walk gives the same
// BackupStorageState as the in-memory view, including a snapshot whose
// epoch is greatest but whose version is not.
func TestStorageStateStreamingMatchesView(t *testing.T) {
	db := openRW(t, filepath.Join(t.TempDir(), "c.db"))
	snap := func(e, v uint64) []byte {
		m := aptos.NewStateSnapshot(aptos.StateSnapshotBackup{Epoch: e, Version: v, Manifest: "s/m"})
		return aptos.EncodeLine(&m)
	}
	ep := aptos.NewEpochEnding(aptos.EpochEndingBackup{FirstEpoch: 0, LastEpoch: 7, FirstVersion: 0, LastVersion: 70, Manifest: "e/m"})
	put(t, db, map[string][]byte{
		"metadata/a.meta":   txnLine(0, 99, "t/m"),
		"metadata/b.meta":   txnLine(100, 199, "t/m"),
		"metadata/s1.meta":  snap(5, 500),
		"metadata/s2.meta":  snap(6, 300),
		"metadata/e.meta":   aptos.EncodeLine(&ep),
		"metadata/old.meta": txnLine(0, 5, "old/m"),
	}, catalog.Live)
	db.View(t.Context(), func(tx catalog.Tx) error {
		v, _ := tx.View()
		got, err := tx.StorageState()
		if err != nil || got.String() != v.StorageState().String() {
			t.Errorf("streaming %q (%v) != view %q", got, err, v.StorageState())
		}
		if live, moved, err := tx.CountFiles(); live != 6 || moved != 0 || err != nil {
			t.Errorf("CountFiles = %d, %d, %v", live, moved, err)
		}
		return nil
	})
}

// checkStats compares the kept storage state and file counts with what the
// in-memory view and a listing say.
func checkStats(t *testing.T, db catalog.DB, step string) {
	t.Helper()
	err := db.View(t.Context(), func(tx catalog.Tx) error {
		v, err := tx.View()
		if err != nil {
			return err
		}
		got, err := tx.StorageState()
		if err != nil {
			return err
		}
		if got.String() != v.StorageState().String() {
			t.Errorf("%s: kept state %q, view says %q", step, got, v.StorageState())
		}
		files, err := tx.Files(0)
		if err != nil {
			return err
		}
		var wantLive, wantMoved int
		for _, f := range files {
			if f.State == catalog.Live {
				wantLive++
			} else {
				wantMoved++
			}
		}
		live, moved, err := tx.CountFiles()
		if err != nil || live != wantLive || moved != wantMoved {
			t.Errorf("%s: CountFiles = %d, %d, %v; want %d, %d", step, live, moved, err, wantLive, wantMoved)
		}
		return tx.StoredEntriesMatch()
	})
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// TestKeptStatsFollowEveryWrite: the storage state and file counts that
// status reads without a walk stay right through adds, moves (of the file
// holding a maximum, of one whose entry another file shares), revivals,
// replacements and deletions, and an epoch ending whose last_epoch is the
// largest though another range starts later.
func TestKeptStatsFollowEveryWrite(t *testing.T) {
	db := openRW(t, filepath.Join(t.TempDir(), "c.db"))
	checkStats(t, db, "empty")
	ee := func(first, last uint64) []byte {
		m := aptos.NewEpochEnding(aptos.EpochEndingBackup{FirstEpoch: first, LastEpoch: last, FirstVersion: first * 10, LastVersion: last * 10, Manifest: "e/" + itoa(first)})
		return aptos.EncodeLine(&m)
	}
	put(t, db, map[string][]byte{
		"metadata/t0.meta":   txnLine(0, 99, "t/0"),
		"metadata/t1.meta":   txnLine(100, 199, "t/1"),
		"metadata/t1b.meta":  txnLine(100, 199, "t/1"), // the same entry twice
		"metadata/e0.meta":   ee(0, 9),
		"metadata/e5.meta":   ee(5, 6), // starts later, ends earlier
		"metadata/both.meta": append(txnLine(200, 299, "t/2"), ee(10, 12)...),
	}, catalog.Live)
	checkStats(t, db, "added")
	steps := []struct {
		name string
		fn   func(tx catalog.WriteTx) error
	}{
		{"move the file holding both maxima", func(tx catalog.WriteTx) error { return tx.SetState("metadata/both.meta", catalog.Moved) }},
		{"move one copy of a shared entry", func(tx catalog.WriteTx) error { return tx.SetState("metadata/t1.meta", catalog.Moved) }},
		{"move the other copy", func(tx catalog.WriteTx) error { return tx.SetState("metadata/t1b.meta", catalog.Moved) }},
		{"revive", func(tx catalog.WriteTx) error { return tx.SetState("metadata/both.meta", catalog.Live) }},
		{"replace a file", func(tx catalog.WriteTx) error {
			_, err := tx.PutFile(catalog.NewFile{Handle: "metadata/t0.meta", Content: txnLine(0, 999, "t/9"), State: catalog.Live, Replace: true, Source: "test"})
			return err
		}},
		{"delete a moved file", func(tx catalog.WriteTx) error { return tx.DeleteFile("metadata/t1.meta") }},
		{"delete the maxima", func(tx catalog.WriteTx) error {
			if err := tx.DeleteFile("metadata/t0.meta"); err != nil {
				return err
			}
			return tx.DeleteFile("metadata/both.meta")
		}},
		{"delete every epoch ending", func(tx catalog.WriteTx) error {
			if err := tx.DeleteFile("metadata/e0.meta"); err != nil {
				return err
			}
			return tx.DeleteFile("metadata/e5.meta")
		}},
	}
	for _, s := range steps {
		if _, err := db.Update(t.Context(), "test", s.fn); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		checkStats(t, db, s.name)
	}
}

// TestCatalogWithoutKeptStats: a catalog written before the stats were
// kept (no "stats" key) still answers status by walking, and its next
// write stores them.
func TestCatalogWithoutKeptStats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db := openRW(t, path)
	put(t, db, map[string][]byte{
		"metadata/t0.meta": txnLine(0, 99, "t/0"),
		"metadata/t1.meta": txnLine(100, 199, "t/1"),
	}, catalog.Live)
	db.Close()
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(func(btx *bolt.Tx) error { return btx.Bucket([]byte("meta")).Delete([]byte("stats")) }); err != nil {
		t.Fatal(err)
	}
	bdb.Close()
	db = openRW(t, path)
	checkStats(t, db, "old catalog")
	if _, err := db.Update(t.Context(), "test", func(tx catalog.WriteTx) error { return tx.SetState("metadata/t1.meta", catalog.Moved) }); err != nil {
		t.Fatal(err)
	}
	checkStats(t, db, "after its first write")
	db.Close()
	bdb, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	_ = bdb.View(func(btx *bolt.Tx) error {
		if v := btx.Bucket([]byte("meta")).Get([]byte("stats")); len(v) != 34 {
			t.Errorf("stats after the first write: %x, want 34 bytes", v)
		}
		return nil
	})
}
