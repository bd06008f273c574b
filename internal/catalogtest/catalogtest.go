// Package catalogtest builds real catalogs for the tests of several
// packages (archive, export, compaction, importer): a bbolt catalog in
// t.TempDir(), metadata files put in one transaction, and listings of what
// the catalog then holds. There are no mocks: every helper goes through
// the catalog package's public API, as production code does.
// RunConformance holds every backend to one table of behaviours.
//
// It is only for tests. Import it from _test.go files, never from
// production code: its helpers take a testing.TB and fail the test on any
// error.
package catalogtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	_ "github.com/metactl/metactl/catalog/boltstore" // plain paths
)

// LockTimeout is how long a test catalog's open waits for the lock.
const LockTimeout = 5 * time.Second

// Options says how OpenWith and OpenManual open a catalog. The zero value
// opens a new, empty catalog with the wall clock.
type Options struct {
	// Path is the catalog file. Empty means catalog.db in a new
	// t.TempDir(); a path that exists is opened as it is.
	Path string
	// Command describes the opener in the holder record and the journal.
	// Empty means the catalog's default (the program name).
	Command string
	// Now is the catalog's clock. Nil means time.Now.
	Now func() time.Time
	// Verify makes OpenWith's cleanup run Verify before it closes the
	// catalog.
	Verify bool
	// CheckpointBytes is catalog.Options.CheckpointBytes (bulk writes:
	// 1 checkpoints after every file).
	CheckpointBytes int
}

// Open opens a new, empty catalog in t.TempDir() and closes it when the
// test ends. It is OpenWith(t, Options{}).
func Open(t testing.TB) catalog.DB {
	t.Helper()
	return OpenWith(t, Options{})
}

// OpenWith opens (creating) the catalog o describes, with NoSync and a
// LockTimeout wait for the lock, and closes it when the test ends: after
// Verify if o.Verify. Closing it earlier is fine (a second Close does
// nothing), but then leave o.Verify off.
func OpenWith(t testing.TB, o Options) catalog.DB {
	t.Helper()
	db := OpenManual(t, o)
	t.Cleanup(func() {
		if o.Verify {
			Verify(t, db)
		}
		db.Close()
	})
	return db
}

// OpenManual opens the catalog as OpenWith does but registers no cleanup
// (o.Verify is ignored): the caller closes it. It is for a test that
// closes and reopens one catalog, for example while a child process holds
// it.
func OpenManual(t testing.TB, o Options) catalog.DB {
	t.Helper()
	if o.Path == "" {
		o.Path = filepath.Join(t.TempDir(), "catalog.db")
	}
	db, err := catalog.Open(t.Context(), o.Path, &catalog.Options{Timeout: LockTimeout, Command: o.Command, Now: o.Now, NoSync: true,
		CheckpointBytes: o.CheckpointBytes})
	if err != nil {
		t.Fatalf("open catalog: %v", err)
	}
	return db
}

// Verify fails t (without stopping it) unless db passes bbolt's
// consistency check and its entry index and view digest agree with the
// content of its live files.
//
// It uses a background context, not t.Context(): OpenWith runs it from a
// cleanup, when the test's context is already canceled.
func Verify(t testing.TB, db catalog.DB) {
	t.Helper()
	ctx := context.Background()
	if err := db.Check(ctx); err != nil {
		t.Errorf("bbolt check: %v", err)
	}
	if err := db.View(ctx, func(tx catalog.Tx) error { return tx.StoredEntriesMatch() }); err != nil {
		t.Errorf("entry index: %v", err)
	}
	if err := db.View(ctx, entriesMatchView); err != nil {
		t.Errorf("ForEachEntry: %v", err)
	}
}

// entriesMatchView checks that tx.ForEachEntry gives the entries of
// tx.View, each once, in entry key order.
func entriesMatchView(tx catalog.Tx) error {
	v, err := tx.View()
	if err != nil {
		return err
	}
	var want [][]byte
	v.ForEachEntry(func(m *aptos.Metadata) { want = append(want, aptos.EntryKey(m)) })
	slices.SortFunc(want, bytes.Compare)
	i := 0
	if err := tx.ForEachEntry(func(m *aptos.Metadata) error {
		if i >= len(want) || !bytes.Equal(aptos.EntryKey(m), want[i]) {
			return fmt.Errorf("entry %d is %v, not the view's", i, m)
		}
		i++
		return nil
	}); err != nil {
		return err
	}
	if i != len(want) {
		return fmt.Errorf("%d entries, the view has %d", i, len(want))
	}
	return nil
}

// Source is the source label Put records for each file.
const Source = "test"

// Put writes files into db in one transaction, each in its own state, with
// the source Source.
func Put(t testing.TB, db catalog.DB, files ...File) {
	t.Helper()
	PutFrom(t, db, Source, files...)
}

// PutFrom is Put with another source label.
func PutFrom(t testing.TB, db catalog.DB, source string, files ...File) {
	t.Helper()
	nfs := make([]catalog.NewFile, len(files))
	for i, f := range files {
		nfs[i] = f.NewFile(source)
	}
	PutNew(t, db, nfs...)
}

// PutNew writes nfs into db as they are, in one transaction of kind
// "import": for files whose handle, content or source Put cannot express.
func PutNew(t testing.TB, db catalog.DB, nfs ...catalog.NewFile) {
	t.Helper()
	_, err := db.Update(t.Context(), "import", func(tx catalog.WriteTx) error {
		for _, nf := range nfs {
			if _, err := tx.PutFile(nf); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
}

// SetState sets the state of the named files (names under metadata/, as
// in File.Name) in one transaction of kind "compact", as a compaction
// moving or an operator restoring them would.
func SetState(t testing.TB, db catalog.DB, s catalog.State, names ...string) {
	t.Helper()
	_, err := db.Update(t.Context(), "compact", func(tx catalog.WriteTx) error {
		for _, n := range names {
			if err := tx.SetState(aptos.LiveHandle(n), s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("set state: %v", err)
	}
}

// Files returns every catalog file, with its content, in handle order.
func Files(t testing.TB, db catalog.DB) []*catalog.File {
	t.Helper()
	var out []*catalog.File
	err := db.View(t.Context(), func(tx catalog.Tx) error {
		return tx.ForEachFile(true, func(f *catalog.File) error {
			out = append(out, f)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FilesByName returns Files keyed by file name (File.Name(), as
// "transaction_0-14.meta").
func FilesByName(t testing.TB, db catalog.DB) map[string]*catalog.File {
	t.Helper()
	out := map[string]*catalog.File{}
	for _, f := range Files(t, db) {
		out[f.Name()] = f
	}
	return out
}

// States returns the state of every catalog file, keyed by handle
// ("metadata/transaction_0-14.meta").
func States(t testing.TB, db catalog.DB) map[string]catalog.State {
	t.Helper()
	out := map[string]catalog.State{}
	err := db.View(t.Context(), func(tx catalog.Tx) error {
		files, err := tx.Files(0)
		for _, f := range files {
			out[f.Handle] = f.State
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Generation returns the catalog's generation: the number of committed
// transactions that changed it.
func Generation(t testing.TB, db catalog.DB) uint64 {
	t.Helper()
	var g uint64
	if err := db.View(t.Context(), func(tx catalog.Tx) error { g = tx.Generation(); return nil }); err != nil {
		t.Fatal(err)
	}
	return g
}

// Bytes returns the catalog file's bytes, for a test that proves an
// operation left the catalog exactly as it was.
func Bytes(t testing.TB, db catalog.DB) []byte {
	t.Helper()
	b, err := os.ReadFile(db.Location())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Summary is what a test compares to tell whether two catalogs, or one
// catalog before and after an operation, hold the same state: the
// generation, the view digest and the number of view entries.
type Summary struct {
	Gen     uint64
	Digest  aptos.Digest
	Entries int
}

// SummaryOf reads db's Summary in one read-only transaction.
func SummaryOf(t testing.TB, db catalog.DB) Summary {
	t.Helper()
	var s Summary
	if err := db.View(t.Context(), func(tx catalog.Tx) error {
		s = Summary{tx.Generation(), tx.ViewDigest(), tx.EntryCount()}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return s
}
