package export_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/internal/samplegen"
)

// benchCatalog builds a catalog of METACTL_BENCH_LINES one-line files
// (default 20000) from a realistic generated storage, all live, and
// returns it with the total content size.
func benchCatalog(b *testing.B) (*catalog.DB, int64) {
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
	db := openCatalog(b, "")
	var size int64
	_, err := db.Update(context.Background(), "import", func(tx *catalog.Tx) error {
		for _, f := range files {
			size += int64(len(f.Content))
			if _, err := tx.PutFile(catalog.NewFile{Handle: catalog.MetadataHandle(f.Name), Content: f.Content, State: catalog.Live, Source: "bench"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return db, size
}

// BenchmarkToDir measures a full export into an empty folder (every file
// written, fsynced and renamed), with and without gzip, and a re-export of
// the same generation (every file compared, nothing written).
func BenchmarkToDir(b *testing.B) {
	db, size := benchCatalog(b)
	for _, bc := range []struct {
		name string
		gzip bool
	}{{"fresh", false}, {"fresh-gzip", true}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(size) // MB/s of plaintext content
			root := b.TempDir()
			i := 0
			for b.Loop() {
				i++
				dir := root + "/" + strconv.Itoa(i)
				if _, err := export.ToDir(context.Background(), db, dir, export.DirOptions{Gzip: bc.gzip}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("unchanged", func(b *testing.B) {
		dir := b.TempDir()
		if _, err := export.ToDir(context.Background(), db, dir, export.DirOptions{}); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		for b.Loop() {
			res, err := export.ToDir(context.Background(), db, dir, export.DirOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if res.Written != 0 {
				b.Fatalf("re-export wrote %d files", res.Written)
			}
		}
	})
}
