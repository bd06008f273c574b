package catalogtest_test

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
)

func TestPutAndList(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	db := catalogtest.OpenWith(t, catalogtest.Options{Now: func() time.Time { return at }, Verify: true})
	if g := catalogtest.Generation(t, db); g != 0 {
		t.Fatalf("new catalog at generation %d", g)
	}
	before := catalogtest.Bytes(t, db)
	want := catalogtest.CompactedStorage()
	catalogtest.Put(t, db, want...)
	if g := catalogtest.Generation(t, db); g != 1 {
		t.Errorf("generation %d after one Put, want 1", g)
	}
	if bytes.Equal(catalogtest.Bytes(t, db), before) {
		t.Errorf("catalog file unchanged by Put")
	}

	files := catalogtest.Files(t, db)
	var handles []string
	for _, f := range files {
		handles = append(handles, f.Handle)
	}
	wantOrder := []string{"compaction_timestamps_1700000000.meta", "epoch_ending_0-0.meta", "epoch_ending_1-1.meta",
		"epoch_ending_compacted_0-1.meta", "identity.meta", "state_snapshot_ver_14.meta", "transaction_0-14.meta",
		"transaction_15-29.meta", "transaction_compacted_0-29.meta"}
	for i, n := range wantOrder {
		wantOrder[i] = aptos.LiveHandle(n)
	}
	if !slices.Equal(handles, wantOrder) {
		t.Errorf("Files in order %q, want %q (CompactedStorage's documented order)", handles, wantOrder)
	}

	byName := catalogtest.FilesByName(t, db)
	states := catalogtest.States(t, db)
	if len(byName) != len(want) || len(states) != len(want) {
		t.Fatalf("FilesByName has %d, States %d files, want %d", len(byName), len(states), len(want))
	}
	for _, w := range want {
		f := byName[w.Name]
		if f == nil || f.Handle != w.Handle() || f.State != w.State || !bytes.Equal(f.Content, w.Content()) ||
			f.Source != catalogtest.Source || !f.ImportedAt.Equal(at) {
			t.Errorf("%s: stored %+v, want %+v", w.Name, f, w)
		}
		if states[w.Handle()] != w.State {
			t.Errorf("States[%s] = %v, want %v", w.Handle(), states[w.Handle()], w.State)
		}
	}

	catalogtest.SetState(t, db, catalog.Live, "transaction_0-14.meta", "transaction_15-29.meta")
	if g, s := catalogtest.Generation(t, db), catalogtest.States(t, db); g != 2 ||
		s["metadata/transaction_0-14.meta"] != catalog.Live || s["metadata/transaction_15-29.meta"] != catalog.Live {
		t.Errorf("after SetState: generation %d, states %v", g, s)
	}

	catalogtest.PutFrom(t, db, "archive:x", catalogtest.File{Name: "transaction_30-44.meta", State: catalog.Moved,
		Lines: []aptos.Metadata{catalogtest.Transaction(30, 44, "transaction_30-.0001/transaction.manifest")}})
	if f := catalogtest.FilesByName(t, db)["transaction_30-44.meta"]; f == nil || f.Source != "archive:x" || f.State != catalog.Moved {
		t.Errorf("PutFrom stored %+v", f)
	}
}

func TestContent(t *testing.T) {
	a := catalogtest.Transaction(0, 9, "a/m")
	b := catalogtest.EpochEnding(0, 1, 0, 19, "b/m")
	want := append(aptos.EncodeLine(&a), aptos.EncodeLine(&b)...)
	if got := catalogtest.Content(a, b); !bytes.Equal(got, want) {
		t.Errorf("Content = %q, want %q", got, want)
	}
	f := catalogtest.File{Name: "x.meta", State: catalog.Live, Lines: []aptos.Metadata{a, b}}
	if nf := f.NewFile("s"); nf.Handle != "metadata/x.meta" || !bytes.Equal(nf.Content, want) || nf.State != catalog.Live || nf.Source != "s" {
		t.Errorf("NewFile = %+v", nf)
	}
	if p := catalogtest.U64p(7); *p != 7 {
		t.Errorf("*U64p(7) = %d", *p)
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	db := catalogtest.OpenManual(t, catalogtest.Options{Path: path, Command: "catalogtest"})
	catalogtest.Put(t, db, catalogtest.CompactedStorage()[:2]...)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = catalogtest.OpenWith(t, catalogtest.Options{Path: path, Verify: true})
	if db.Location() != path || len(catalogtest.Files(t, db)) != 2 || catalogtest.Generation(t, db) != 1 {
		t.Errorf("reopened catalog: path %s, %d files, generation %d", db.Location(), len(catalogtest.Files(t, db)), catalogtest.Generation(t, db))
	}
}

func TestBenchCatalog(t *testing.T) {
	t.Setenv(catalogtest.BenchLinesEnv, "30")
	db, size := catalogtest.BenchCatalog(t)
	files := catalogtest.Files(t, db)
	var total int64
	for _, f := range files {
		total += int64(len(f.Content))
		if f.State != catalog.Live || f.Source != "bench" {
			t.Errorf("%s: state %v, source %q", f.Handle, f.State, f.Source)
		}
	}
	if len(files) != 30 || total != size {
		t.Errorf("%d files of %d bytes, reported size %d; want 30 files", len(files), total, size)
	}
	catalogtest.Verify(t, db)
}
