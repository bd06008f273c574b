package catalogtest

import (
	"os"
	"strconv"
	"testing"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/samplegen"
)

// BenchLinesEnv names the variable that sizes BenchCatalog.
const BenchLinesEnv = "METACTL_BENCH_LINES"

// BenchCatalog opens a catalog of $METACTL_BENCH_LINES one-line files
// (default 20000) from a realistic generated storage (package samplegen),
// all live with the source "bench", and returns it with the files' total
// content size.
func BenchCatalog(b testing.TB) (*catalog.DB, int64) {
	b.Helper()
	lines := 20000
	if s := os.Getenv(BenchLinesEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive integer", BenchLinesEnv, s)
		}
		lines = n
	}
	// About 4.5 files per epoch (epoch ending, snapshot, 2.5 batches).
	files := samplegen.Files(samplegen.DefaultOptions(lines/4 + 1))
	files = files[:min(lines, len(files))]
	nfs := make([]catalog.NewFile, len(files))
	var size int64
	for i, f := range files {
		size += int64(len(f.Content))
		nfs[i] = catalog.NewFile{Handle: aptos.LiveHandle(f.Name), Content: f.Content, State: catalog.Live, Source: "bench"}
	}
	db := Open(b)
	PutNew(b, db, nfs...)
	return db, size
}
