package boltstore_test

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
)

// BenchmarkPutFileOneLine adds one-line files, parsed beforehand as the
// importer hands them over, to a fresh catalog in one write transaction,
// commit (with its change records and fsync) included: the catalog's part
// of importing a storage of one-line files (issue 11's first row). One op
// is one file; 20,000 files per transaction, 100,000 with
// METACTL_BENCH_LARGE=1.
func BenchmarkPutFileOneLine(b *testing.B) {
	files := catalogtest.BenchFiles(catalogtest.BenchSize(20_000, 100_000), 1)
	nfs := make([]catalog.NewFile, len(files))
	for i, f := range files {
		lines, err := aptos.ParseFile(f.Content)
		if err != nil {
			b.Fatal(err)
		}
		nfs[i] = catalog.NewFile{Handle: aptos.LiveHandle(f.Name), Content: f.Content, State: catalog.Live, Source: "bench", Lines: lines}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n += len(nfs) {
		b.StopTimer()
		db, err := catalog.Open(b.Context(), filepath.Join(b.TempDir(), strconv.Itoa(n)+".db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		op, err := db.Update(b.Context(), "import", func(tx catalog.WriteTx) error {
			for i := range nfs {
				if _, err := tx.PutFile(nfs[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || op.Added.Count != len(nfs) {
			b.Fatalf("update: %v, %+v", err, op)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
}
