package archive_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"testing"

	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/samplegen"
)

// benchCatalog builds a catalog of METACTL_BENCH_LINES one-line files
// (default 20000) from a realistic generated storage, all live.
func benchCatalog(b *testing.B) *catalog.DB {
	b.Helper()
	lines := 20000
	if s := os.Getenv("METACTL_BENCH_LINES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("METACTL_BENCH_LINES=%q: want a positive integer", s)
		}
		lines = n
	}
	// About 4.5 files per epoch (epoch ending, snapshot, 2.5 batches).
	files := samplegen.Files(samplegen.DefaultOptions(lines/4 + 1))
	files = files[:min(lines, len(files))]
	db := openCatalog(b)
	_, err := db.Update(context.Background(), "import", func(tx *catalog.Tx) error {
		for _, f := range files {
			if _, err := tx.PutFile(catalog.NewFile{Handle: catalog.MetadataHandle(f.Name), Content: f.Content, State: catalog.Live, Source: "bench"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return db
}

func BenchmarkArchiveWrite(b *testing.B) {
	db := benchCatalog(b)
	data, h := writeArchive(b, db)
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
	db := benchCatalog(b)
	data, _ := writeArchive(b, db)
	b.SetBytes(int64(len(decompress(b, data))))
	for b.Loop() {
		if _, _, err := archive.ReadAll(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
