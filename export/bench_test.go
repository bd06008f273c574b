package export_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/metactl/metactl/internal/catalogtest"
)

// BenchmarkToDir measures a full export into an empty folder (issue 11's
// fresh folder export row: every file staged, all synced at once, the
// folders renamed in), with and without gzip, and a re-export of the same
// generation (every file compared, nothing written).
func BenchmarkToDir(b *testing.B) {
	db, size := catalogtest.BenchCatalog(b)
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
				if _, err := toDir(context.Background(), db, dir, dirOptions{Gzip: bc.gzip}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("unchanged", func(b *testing.B) {
		dir := b.TempDir()
		if _, err := toDir(context.Background(), db, dir, dirOptions{}); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		for b.Loop() {
			res, err := toDir(context.Background(), db, dir, dirOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Written) != 0 {
				b.Fatalf("re-export wrote %d files", len(res.Written))
			}
		}
	})
}
