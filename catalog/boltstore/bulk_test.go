package boltstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
	"github.com/metactl/metactl/internal/catalogtest"
)

// putBench writes n generated files of 10 lines each through tx,
// checkpointing after each, as a streamed import does.
func putBench(t testing.TB, tx catalog.WriteTx, lines int) {
	t.Helper()
	for _, f := range catalogtest.BenchFiles(lines, 10) {
		if _, err := tx.PutFile(catalog.NewFile{Handle: aptos.LiveHandle(f.Name), Content: f.Content, State: catalog.Live, Source: "bench"}); err != nil {
			t.Fatal(err)
		}
		if b, ok := tx.(catalog.BulkWriteTx); ok {
			if err := b.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func fixedOpts() *catalog.Options {
	now := time.Unix(1_700_000_000, 0)
	return &catalog.Options{Timeout: 5 * time.Second, Command: "test", Now: func() time.Time { return now }}
}

// TestCreateEqualsOneUpdate: a catalog built by Create, with checkpoints
// every 16 KiB and the index changes spilled and merged, holds exactly
// what Open and one Update leave: every bucket byte for byte (files,
// entries, stats, digest, journal, change records).
func TestCreateEqualsOneUpdate(t *testing.T) {
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.db")
	db, err := catalog.Open(t.Context(), ref, fixedOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	opRef, err := db.Update(t.Context(), "import", func(tx catalog.WriteTx) error { putBench(t, tx, 4000); return nil })
	if err != nil {
		t.Fatal(err)
	}

	built := filepath.Join(dir, "built.db")
	o := fixedOpts()
	o.CheckpointBytes = 16 << 10
	op, err := boltstore.Create(t.Context(), built, o, "import", func(tx catalog.BulkWriteTx) error { putBench(t, tx, 4000); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if op.Generation != 1 || op.DigestAfter != opRef.DigestAfter || op.Entries != opRef.Entries || op.Added.Count != opRef.Added.Count {
		t.Errorf("operation %+v, want %+v", op, opRef)
	}
	db2, err := catalog.Open(t.Context(), built, fixedOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if err := db2.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	catalogtest.Verify(t, db2)
	a, err := boltstore.Dump(db)
	if err != nil {
		t.Fatal(err)
	}
	b, err := boltstore.Dump(db2)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("Create's catalog differs from one Update's (%d vs %d bytes of dump)", len(b), len(a))
	}
	noScratch(t, dir)
}

func noScratch(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".db" && filepath.Ext(e.Name()) != ".lock" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestCreateFailureLeavesNothing: fn failing after checkpoints, or ctx
// ending, leaves no catalog, no lock file and no scratch file.
func TestCreateFailureLeavesNothing(t *testing.T) {
	boom := errors.New("boom")
	for name, c := range map[string]struct {
		ctx  func() context.Context
		fn   func(tx catalog.BulkWriteTx) error
		want error
	}{
		"fn fails": {context.Background, func(tx catalog.BulkWriteTx) error { putBench(t, tx, 2000); return boom }, boom},
		"canceled": {func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, func(tx catalog.BulkWriteTx) error { return nil }, context.Canceled},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "c.db")
			o := fixedOpts()
			o.CheckpointBytes = 16 << 10
			_, err := boltstore.Create(c.ctx(), path, o, "import", c.fn)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
}

// TestCreateRefusesExisting: Create writes nothing where a catalog is.
func TestCreateRefusesExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := catalog.Open(t.Context(), path, fixedOpts())
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	called := false
	_, err = boltstore.Create(t.Context(), path, fixedOpts(), "import", func(catalog.BulkWriteTx) error { called = true; return nil })
	if !errors.Is(err, catalog.ErrExist) || called {
		t.Fatalf("got %v (fn called %v), want ErrExist and fn not called", err, called)
	}
}

// TestCreateRemovesLeftoverScratch: a crashed build's scratch file is
// removed by the next writer, Create or Open.
func TestCreateRemovesLeftoverScratch(t *testing.T) {
	for _, next := range []string{"create", "open"} {
		t.Run(next, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "c.db")
			left := path + ".build-999999"
			if err := os.WriteFile(left, []byte("half a catalog"), 0o600); err != nil {
				t.Fatal(err)
			}
			if next == "create" {
				if _, err := boltstore.Create(t.Context(), path, fixedOpts(), "import", func(tx catalog.BulkWriteTx) error { putBench(t, tx, 40); return nil }); err != nil {
					t.Fatal(err)
				}
			} else {
				db, err := catalog.Open(t.Context(), path, fixedOpts())
				if err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("leftover scratch file still there: %v", err)
			}
		})
	}
}

// TestCreateBesideAnOpener: a writer that opens the catalog while Create
// builds it creates an empty catalog and waits for the lock Create holds;
// Create replaces that empty file, and the writer then sees the new
// catalog (generation 1), never an orphaned file.
func TestCreateBesideAnOpener(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	type opened struct {
		gen uint64
		err error
	}
	done := make(chan opened, 1)
	_, err := boltstore.Create(t.Context(), path, fixedOpts(), "import", func(tx catalog.BulkWriteTx) error {
		putBench(t, tx, 40)
		go func() {
			db, err := catalog.Open(context.Background(), path, fixedOpts())
			if err != nil {
				done <- opened{err: err}
				return
			}
			defer db.Close()
			_, err = db.Update(context.Background(), "import", func(tx catalog.WriteTx) error {
				_, err := tx.PutFile(catalog.NewFile{Handle: "metadata/late.meta", State: catalog.Live, Content: catalogtest.Content(catalogtest.Transaction(1_000_000, 1_000_009, "late/m"))})
				return err
			})
			var g uint64
			if err == nil {
				err = db.View(context.Background(), func(tx catalog.Tx) error { g = tx.Generation(); return nil })
			}
			done <- opened{g, err}
		}()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(path); err == nil {
				return nil // the opener made its empty catalog and waits
			}
			if time.Now().After(deadline) {
				return errors.New("the opener never created its catalog")
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil || o.gen != 2 {
		t.Fatalf("the waiting writer: generation %d, %v; want generation 2 on top of Create's", o.gen, o.err)
	}
}

// TestReadersBesideCreate: readers opening the catalog while Create builds
// it find no catalog, or (once it is published) the whole of it; never a
// part of it, never a damaged file.
func TestReadersBesideCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	stop := make(chan struct{})
	type seen struct{ none, whole, bad int }
	results := make(chan seen, 2)
	const files = 400 // catalogtest.BenchFiles(4000, 10)
	for range 2 {
		go func() {
			var s seen
			defer func() { results <- s }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				db, err := catalog.Open(context.Background(), path, &catalog.Options{ReadOnly: true, Timeout: 10 * time.Second})
				if errors.Is(err, catalog.ErrNoCatalog) {
					s.none++
					continue
				}
				if err != nil {
					t.Errorf("reader: %v", err)
					s.bad++
					return
				}
				var gen uint64
				var live int
				err = db.View(context.Background(), func(tx catalog.Tx) error {
					gen = tx.Generation()
					live, _, err = tx.CountFiles()
					return err
				})
				db.Close()
				if err != nil || gen != 1 || live != files {
					t.Errorf("reader saw generation %d with %d files (%v), want 1 with %d", gen, live, err, files)
					s.bad++
					return
				}
				s.whole++
			}
		}()
	}
	o := fixedOpts()
	o.CheckpointBytes = 16 << 10
	if _, err := boltstore.Create(t.Context(), path, o, "import", func(tx catalog.BulkWriteTx) error {
		putBench(t, tx, 4000)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // readers see the published catalog
	close(stop)
	var total seen
	for range 2 {
		s := <-results
		total.none, total.whole, total.bad = total.none+s.none, total.whole+s.whole, total.bad+s.bad
	}
	if total.none == 0 || total.whole == 0 || total.bad != 0 {
		t.Errorf("readers: %d saw no catalog, %d the whole one, %d something else; want some of the first two and none of the last", total.none, total.whole, total.bad)
	}
}
