package archive_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/internal/catalogtest"
)

func BenchmarkArchiveWrite(b *testing.B) {
	db, _ := catalogtest.BenchCatalog(b)
	data, h := catalogtest.Archive(b, db)
	plain := decompress(b, data)
	b.SetBytes(int64(len(plain))) // MB/s of plaintext
	for b.Loop() {
		if _, err := archive.Write(context.Background(), io.Discard, db); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(h.Files), "files")
	b.ReportMetric(float64(len(plain))/float64(len(data)), "x-compression")
}

func BenchmarkArchiveRead(b *testing.B) {
	db, _ := catalogtest.BenchCatalog(b)
	data, _ := catalogtest.Archive(b, db)
	b.SetBytes(int64(len(decompress(b, data))))
	for b.Loop() {
		if _, _, err := archive.ReadAll(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
