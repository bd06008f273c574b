package catalog_test

import (
	"path/filepath"
	"testing"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
)

// BenchmarkStatus is what 'metactl status --json' does in a fresh process:
// open the catalog read-only, read the storage state, generation, digest,
// counts and identity in one read-only transaction, close. Issue 11's third
// row (goal: at most 50 ms for a 1M-entry catalog, process start
// included). The catalog holds 100,000 lines in files of 100 lines;
// 1,000,000 with METACTL_BENCH_LARGE=1. It also reports the catalog
// file's size over the plaintext (goal: at most 2).
func BenchmarkStatus(b *testing.B) {
	path := filepath.Join(b.TempDir(), "catalog.db")
	size := catalogtest.BenchCatalogAt(b, path, catalogtest.BenchSize(100_000, 1_000_000), 100)
	var entries int
	for b.Loop() {
		db, err := catalog.Open(b.Context(), path, &catalog.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		err = db.View(b.Context(), func(tx catalog.Tx) error {
			var s aptos.StorageState
			s, err := tx.StorageState()
			if err != nil {
				return err
			}
			if s.LatestTransactionVersion == nil {
				b.Fatal("no transaction version")
			}
			_, _, entries = tx.Generation(), tx.ViewDigest(), tx.EntryCount()
			_, _ = tx.Identity()
			_, _, err = tx.CountFiles()
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
	b.ReportMetric(float64(entries), "entries")
	catalogtest.ReportFileRatio(b, path, size)
	catalogtest.ReportPeakRSS(b)
}
