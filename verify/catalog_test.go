package verify_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/verify"
)

func findings(fs []verify.Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.String())
	}
	return strings.Join(s, "\n")
}

// TestCatalog runs the whole check on a real catalog: view problems named
// with handle:line (moved files where they lie), and warnings that leave
// the report OK.
func TestCatalog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db := catalogtest.OpenWith(t, catalogtest.Options{Path: path})
	catalogtest.Put(t, db,
		catalogtest.File{Name: "transaction_0-99.meta", State: catalog.Live, Lines: []aptos.Metadata{txn(0, 99, "t0")}},
		catalogtest.File{Name: "transaction_200-299.meta", State: catalog.Live, Lines: []aptos.Metadata{txn(200, 299, "t200")}},
		catalogtest.File{Name: "transaction_100-199.meta", State: catalog.Moved, Lines: []aptos.Metadata{txn(100, 199, "t100")}},
	)
	r, err := verify.Catalog(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	want := `txn-moved-only: versions 100-199 are in no live transaction backup, only in moved files (metadata_backup/); Aptos's restore stops with "Transaction backup ranges not continuous, expecting version 100, got 200." (metadata_backup/transaction_100-199.meta:1, metadata/transaction_0-99.meta:1, metadata/transaction_200-299.meta:1)`
	if got := findings(r.Problems); got != want {
		t.Errorf("problems\n got %s\nwant %s", got, want)
	}
	if got := findings(r.Warnings); got != "no-identity: no identity.meta: the catalog has never seen this storage's identity" {
		t.Errorf("warnings: %s", got)
	}
	if r.OK() || r.Files != 3 || r.Entries != 2 || r.Generation != 1 {
		t.Errorf("report: ok=%v files=%d entries=%d generation=%d", r.OK(), r.Files, r.Entries, r.Generation)
	}

	// Warnings alone leave the report OK.
	catalogtest.SetState(t, db, catalog.Live, "transaction_100-199.meta")
	if r, err = verify.Catalog(t.Context(), db); err != nil || !r.OK() || len(r.Warnings) != 1 {
		t.Errorf("after un-moving: ok=%v err=%v problems=%s warnings=%s", r.OK(), err, findings(r.Problems), findings(r.Warnings))
	}
}

// TestCatalogDamagedLine damages one stored line in the catalog file
// itself (as a bad disk would): verify names the line and the index
// mismatch, and still checks the rest.
func TestCatalogDamagedLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db := catalogtest.OpenManual(t, catalogtest.Options{Path: path})
	catalogtest.Put(t, db,
		catalogtest.File{Name: "transaction_0-99.meta", State: catalog.Live, Lines: []aptos.Metadata{identity(1), txn(0, 99, "t0")}},
		catalogtest.File{Name: "transaction_200-299.meta", State: catalog.Live, Lines: []aptos.Metadata{txn(200, 299, "t200")}},
	)
	db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The JSON key appears only in file contents, never in index keys.
	key := []byte(`{"TransactionBackup":{"first_version":0,`)
	if bytes.Count(raw, key) != 1 {
		t.Fatalf("want the line once in the catalog file, found %d", bytes.Count(raw, key))
	}
	raw = bytes.Replace(raw, key, []byte(`{"TransactionBackup":{"first_versioX":0,`), 1)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	db = catalogtest.OpenWith(t, catalogtest.Options{Path: path})
	r, err := verify.Catalog(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, p := range r.Problems {
		codes = append(codes, p.Code+" "+strings.Join(p.Where, " "))
	}
	want := "index-mismatch \n" +
		"txn-gap metadata/transaction_200-299.meta:1\n" +
		"unparsable-file metadata/transaction_0-99.meta:2"
	if got := strings.Join(codes, "\n"); got != want {
		t.Errorf("problems\n got %s\nwant %s\n%s", got, want, findings(r.Problems))
	}
}

// TestCatalogDamagedFile: a key renamed inside the catalog file breaks
// bbolt's key order; the file still opens, verify reports
// catalog-damaged with the catalog's path and goes on checking the view.
func TestCatalogDamagedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db := catalogtest.OpenManual(t, catalogtest.Options{Path: path})
	// Enough files that the files bucket has pages of its own (a small
	// bucket is stored inline, and bbolt checks key order on pages).
	files := []catalogtest.File{{Name: "identity.meta", State: catalog.Live, Lines: []aptos.Metadata{identity(1)}}}
	for v := uint64(0); v < 300; v++ {
		files = append(files, catalogtest.File{Name: fmt.Sprintf("transaction_%d-%d.meta", v, v), State: catalog.Live,
			Lines: []aptos.Metadata{txn(v, v, fmt.Sprintf("t%d", v))}})
	}
	catalogtest.Put(t, db, files...)
	db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Same length, now sorting after its right neighbour.
	raw = bytes.ReplaceAll(raw, []byte("metadata/identity.meta"), []byte("metadata/zdentity.meta"))
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	db = catalogtest.OpenWith(t, catalogtest.Options{Path: path})
	r, err := verify.Catalog(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) == 0 || r.Problems[0].Code != verify.CodeCatalogDamaged || !slices.Equal(r.Problems[0].Where, []string{path}) ||
		!strings.Contains(r.Problems[0].Message, "catalog file is damaged: key[0]") {
		t.Fatalf("problems:\n%s", findings(r.Problems))
	}
}

// TestCatalogTimestampsUnknownFile: the latest compaction timestamps name
// a file the catalog lacks: a warning naming the timestamps file, and the
// report stays OK.
func TestCatalogTimestampsUnknownFile(t *testing.T) {
	db := catalogtest.Open(t)
	ts := aptos.NewCompactionTimestamps(aptos.CompactionTimestamps{FileCompactedAt: 7,
		Timestamps: map[string]*uint64{"metadata/gone.meta": nil, "metadata/transaction_0-9.meta": nil}})
	catalogtest.Put(t, db,
		catalogtest.File{Name: "identity.meta", State: catalog.Live, Lines: []aptos.Metadata{identity(1)}},
		catalogtest.File{Name: "transaction_0-9.meta", State: catalog.Live, Lines: []aptos.Metadata{txn(0, 9, "t0")}},
		catalogtest.File{Name: "compaction_timestamps_7.meta", State: catalog.Live, Lines: []aptos.Metadata{ts}},
	)
	r, err := verify.Catalog(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	want := "timestamps-unknown: the latest compaction timestamps name metadata/gone.meta, which the catalog does not hold (metadata/compaction_timestamps_7.meta:1)"
	if !r.OK() || findings(r.Warnings) != want {
		t.Errorf("ok=%v problems=%s\nwarnings %s\nwant     %s", r.OK(), findings(r.Problems), findings(r.Warnings), want)
	}
}
