package importer_test

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/storage"
)

// BenchmarkImportOneLineFiles imports a LocalFs storage of one-line files
// (the layout Aptos leaves before compaction) into a fresh catalog, as the
// CLI does a first import (NewCatalog):
// issue 11's first row. 10,000 files; 100,000 with METACTL_BENCH_LARGE=1.
func BenchmarkImportOneLineFiles(b *testing.B) {
	benchImport(b, catalogtest.BenchSize(10_000, 100_000), 1)
}

// BenchmarkImportLines imports lines in files of 100 lines into a fresh
// catalog, streamed as the CLI does a first import (NewCatalog): issue
// 11's second row (goal: 1M lines at least twice as fast
// as sqlite3's .import with json_extract into an indexed table, peak RSS
// at most 384 MiB). 100,000 lines; 1,000,000 with METACTL_BENCH_LARGE=1.
// It also reports the catalog file's size over the plaintext (goal: at
// most 2).
func BenchmarkImportLines(b *testing.B) {
	benchImport(b, catalogtest.BenchSize(100_000, 1_000_000), 100)
}

// BenchmarkImportLinesOneTx is BenchmarkImportLines through the general
// path (Open, then one Update), which a first import no longer takes: the
// figures to compare NewCatalog's with.
func BenchmarkImportLinesOneTx(b *testing.B) {
	benchImportWith(b, catalogtest.BenchSize(100_000, 1_000_000), 100, false)
}

func benchImport(b *testing.B, lines, perFile int) {
	benchImportWith(b, lines, perFile, true)
}

// benchImportWith imports into a new catalog as the CLI does (stream:
// NewCatalog), or through Open and FromStorage.
func benchImportWith(b *testing.B, lines, perFile int, stream bool) {
	dir := b.TempDir()
	n, size := catalogtest.WriteBenchStorage(b, dir, lines, perFile)
	src, err := storage.NewLocal(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	// Generating the storage is setup: its memory is not the import's.
	catalogtest.ResetPeakRSS(b)
	b.ReportAllocs()
	var last string
	i := 0
	for b.Loop() {
		i++
		last = filepath.Join(b.TempDir(), strconv.Itoa(i)+".db")
		opts := &catalog.Options{Timeout: time.Second}
		if stream {
			res, err := importer.NewCatalog(b.Context(), last, opts, src, importer.Options{})
			if err != nil || res.Added != n {
				b.Fatalf("import: %v, %+v", err, res)
			}
			continue
		}
		db, err := catalog.Open(b.Context(), last, opts)
		if err != nil {
			b.Fatal(err)
		}
		res, err := importer.FromStorage(b.Context(), db, src, importer.Options{})
		if err != nil || res.Added != n {
			b.Fatalf("import: %v, %+v", err, res)
		}
		db.Close()
	}
	b.ReportMetric(float64(n), "files/op")
	catalogtest.ReportFileRatio(b, last, size)
	catalogtest.ReportPeakRSS(b)
}
