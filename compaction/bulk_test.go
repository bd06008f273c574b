package compaction_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/internal/etcdtest"

	_ "github.com/metactl/metactl/catalog/etcdstore" // etcd:// catalogs
)

// TestBulkMatchesOneTransaction: a run made on a scratch copy of the
// catalog with checkpoints (Options.BulkEntries; here a checkpoint after
// every file) leaves exactly what the same run in one transaction leaves:
// the plan, the operation, every file (content, state, times,
// provenance), the view and the journal; and an undo of it then reverses
// it the same way. No scratch file is left beside the catalog. Without
// -short, the same on the etcd backend, whose UpdateBulk runs the run on
// its local copy with checkpoints and stages its changes as it goes.
func TestBulkMatchesOneTransaction(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		testBulkMatches(t, newCatalog(t, t0), openTestCatalogWith(t, filepath.Join(t.TempDir(), "catalog.db"), t0, 1))
	})
	t.Run("etcd", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts an etcd member")
		}
		t.Setenv("XDG_CACHE_HOME", t.TempDir())
		c, err := etcdtest.Start(t.TempDir(), 1, etcdtest.Options{})
		if err != nil {
			t.Fatalf("start etcd: %v", err)
		}
		t.Cleanup(c.Stop)
		// Small transactions: the runs are staged.
		loc := func(name string) string {
			return "etcd://" + c.Endpoints() + "/compaction/" + name + "?txn-ops=16&txn-bytes=16384&value-size=4096&compact=off"
		}
		testBulkMatches(t, openTestCatalog(t, loc("one"), t0), openTestCatalogWith(t, loc("bulk"), t0, 1))
	})
}

func testBulkMatches(t *testing.T, one, bulk *testCatalog) {
	for _, tc := range []*testCatalog{one, bulk} {
		tc.put(t, catalog.Live, aptosTestFiles()...)
		tc.put(t, catalog.Moved, file{"metadata/epoch_ending_compacted_0-1.meta", []aptos.Metadata{ep(0, 0), ep(1, 1)}})
	}
	o := opts(2, 2, 2, 10*time.Second)
	oneOpts, bulkOpts := o, o
	oneOpts.BulkEntries, bulkOpts.BulkEntries = -1, 1
	steps := []struct {
		name string
		at   int64
		add  []file
	}{
		{"first run, one moved compacted file revived", t0, nil},
		{"same instant: timestamps file replaced", t0, nil},
		{"same instant again: no-op", t0, nil},
		{"new arrivals", t0 + 5, []file{single(txn(30, 44)), single(ss(3, 44))}},
		{"expiry", t0 + 11, nil},
		{"expiry of the rest", t0 + 16, nil},
	}
	for _, st := range steps {
		for _, tc := range []*testCatalog{one, bulk} {
			tc.clock.set(st.at)
			if len(st.add) > 0 {
				tc.put(t, catalog.Live, st.add...)
			}
		}
		pOne, opOne := one.run(t, oneOpts)
		pBulk, opBulk := bulk.run(t, bulkOpts)
		if !reflect.DeepEqual(pOne, pBulk) {
			t.Fatalf("%s: plans differ:\none transaction %+v\nbulk            %+v", st.name, pOne, pBulk)
		}
		if !reflect.DeepEqual(opOne, opBulk) {
			t.Fatalf("%s: operations differ:\none transaction %+v\nbulk            %+v", st.name, opOne, opBulk)
		}
		sameCatalog(t, st.name, one, bulk)
		// The bulk catalog's own check after every step: on etcd it
		// loads what etcd holds, so a change the publish missed shows.
		catalogtest.Verify(t, bulk.db)
	}

	// Undo the last compaction that changed something, on both.
	gen := catalogtest.Generation(t, one.db)
	for _, tc := range []*testCatalog{one, bulk} {
		tc.clock.set(t0 + 20)
		if _, err := tc.db.Undo(t.Context(), gen, false); err != nil {
			t.Fatalf("undo %d: %v", gen, err)
		}
	}
	sameCatalog(t, "after the undo", one, bulk)
}

// sameCatalog fails unless a and b hold the same files (content, state,
// times, provenance), view and journal, and b's folder holds nothing but
// the catalog and its lock file.
func sameCatalog(t *testing.T, what string, a, b *testCatalog) {
	t.Helper()
	if sa, sb := a.state(t), b.state(t); !reflect.DeepEqual(sa, sb) {
		t.Fatalf("%s: states differ:\n%+v\n%+v", what, sa, sb)
	}
	if fa, fb := catalogtest.Files(t, a.db), catalogtest.Files(t, b.db); !reflect.DeepEqual(fa, fb) {
		t.Fatalf("%s: files differ", what)
	}
	if ja, jb := journal(t, a.db), journal(t, b.db); !reflect.DeepEqual(ja, jb) {
		t.Fatalf("%s: journals differ:\n%+v\n%+v", what, ja, jb)
	}
	if catalog.Scheme(b.path) != "" {
		return // not a file
	}
	names, err := os.ReadDir(filepath.Dir(b.path))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range names {
		got = append(got, n.Name())
	}
	if want := []string{"catalog.db", "catalog.db.lock"}; !slices.Equal(got, want) {
		t.Fatalf("%s: folder holds %q, want %q", what, got, want)
	}
}

func journal(t *testing.T, db catalog.DB) []catalog.Operation {
	t.Helper()
	var ops []catalog.Operation
	err := db.View(t.Context(), func(tx catalog.Tx) error {
		return tx.Operations(func(op *catalog.Operation) bool { ops = append(ops, *op); return true })
	})
	if err != nil {
		t.Fatal(err)
	}
	return ops
}
