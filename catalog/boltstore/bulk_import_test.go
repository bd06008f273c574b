package boltstore_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/storage"
)

// TestStreamedFirstImportEqualsOneTransaction: a first import streamed
// into a new catalog (importer.NewCatalog, through Create, here with a
// checkpoint every 64 KiB) gives the same Result and a catalog identical
// in every bucket (files, entries, stats, digest, journal, change records)
// to the one-transaction path (Open, then FromStorage). The storage holds
// 20,000 generated lines in files of 100 (1M with METACTL_BENCH_LARGE=1)
// and the cases the sync rules single out: a moved file, a name in both
// folders, an identity, duplicate lines, a gap, a stray, CRLF.
func TestStreamedFirstImportEqualsOneTransaction(t *testing.T) {
	dir := t.TempDir()
	catalogtest.WriteBenchStorage(t, dir, catalogtest.BenchSize(20_000, 1_000_000), 100)
	first := catalogtest.BenchFiles(200, 100)[0].Content
	extra := map[string]string{
		"metadata_backup/moved_only.meta":  string(catalogtest.Content(catalogtest.Transaction(5, 9, "moved/m"))),
		"metadata/in_both.meta":            string(catalogtest.Content(catalogtest.Transaction(10, 19, "both/m"))),
		"metadata_backup/in_both.meta":     string(catalogtest.Content(catalogtest.Transaction(10, 19, "both/m"))),
		"metadata/identity.meta":           `{"Identity":{"id":"445c5854b7bfb8873a419638dc5716c8c813d7035aaa59daf6f771a4f0472720"}}` + "\n",
		"metadata/zz_duplicates.meta":      string(first),
		"metadata/zz_far_away.meta":        string(catalogtest.Content(catalogtest.Transaction(1<<50, 1<<50+9, "far/m"))),
		"metadata/crlf.meta":               `{"TransactionBackup":{"first_version":20,"last_version":29,"manifest":"crlf/m"}}` + "\r\n",
		"metadata/.DS_Store":               "junk",
		"metadata_backup/zz_old_copy.meta": string(first),
	}
	for h, c := range extra {
		p := filepath.Join(dir, h)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := importer.Options{Source: "local-fs:test", Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}

	refPath := filepath.Join(t.TempDir(), "ref.db")
	ref, err := catalog.Open(t.Context(), refPath, fixedOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	want, err := importer.FromStorage(t.Context(), ref, src, opts)
	if err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "streamed.db")
	o := fixedOpts()
	o.CheckpointBytes = 64 << 10
	got, err := importer.NewCatalog(t.Context(), path, o, src, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want.Duplicates == 0 || len(want.Warnings) == 0 || len(want.Skipped) == 0 || !want.Changed {
		t.Fatalf("the storage does not exercise duplicates, warnings and strays: %+v", want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("streamed import's result\n%+v\nwant\n%+v", got, want)
	}
	db, err := catalog.Open(t.Context(), path, fixedOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	catalogtest.Verify(t, db)
	a, err := boltstore.Dump(ref)
	if err != nil {
		t.Fatal(err)
	}
	b, err := boltstore.Dump(db)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("the streamed catalog differs from the one-transaction one (%d vs %d bytes of dump)", len(b), len(a))
	}
	// The catalog can be undone like any other: its change records work.
	op, err := db.Undo(t.Context(), 1, true)
	if err != nil || op.Deleted.Count != want.Added {
		t.Errorf("dry undo of the streamed import: %v, %+v", err, op)
	}
}
