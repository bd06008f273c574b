package archive_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/internal/catalogtest"
)

// benchArchiveCatalog opens the catalog of issue 11's archive export row:
// lines in files of 100 lines (100,000 lines; 1,000,000 with
// METACTL_BENCH_LARGE=1), all live.
func benchArchiveCatalog(b *testing.B) catalog.DB {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.db")
	catalogtest.BenchCatalogAt(b, path, catalogtest.BenchSize(100_000, 1_000_000), 100)
	db, err := catalog.Open(b.Context(), path, &catalog.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkArchiveWrite measures 'export --archive' (issue 11's archive
// export row: at least 0.6x the throughput of 'zstd -3 -T2' on the same
// plaintext, at most 1.05x its size). MB/s are of plaintext.
func BenchmarkArchiveWrite(b *testing.B) {
	db := benchArchiveCatalog(b)
	data, h := catalogtest.Archive(b, db)
	plain := decompress(b, data)
	b.SetBytes(int64(len(plain)))
	catalogtest.ResetPeakRSS(b)
	for b.Loop() {
		if _, err := export.WriteArchive(context.Background(), io.Discard, db); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(h.Files), "files")
	b.ReportMetric(float64(len(plain))/float64(len(data)), "x-compression")
	catalogtest.ReportPeakRSS(b)
}

// BenchmarkArchiveRead measures decoding and verifying that archive.
func BenchmarkArchiveRead(b *testing.B) {
	db := benchArchiveCatalog(b)
	data, _ := catalogtest.Archive(b, db)
	b.SetBytes(int64(len(decompress(b, data))))
	for b.Loop() {
		if _, _, err := archive.ReadAll(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
