package main

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/metactl/metactl/internal/catalogtest"
)

// Benchmarks of issue 11's rows that are about a whole process: each
// iteration runs the real binary, as an operator would.

// BenchmarkArchiveStatus runs 'metactl --catalog X.mcar status' on the
// archive of a catalog of one-line files: 20,000 files, 200,000 with
// METACTL_BENCH_LARGE=1 (goal: at most 1 s with bounded memory).
func BenchmarkArchiveStatus(b *testing.B) {
	dir := b.TempDir()
	catalogtest.WriteBenchStorage(b, dir, catalogtest.BenchSize(20_000, 200_000), 1)
	db := filepath.Join(dir, "catalog.db")
	arch := filepath.Join(dir, "catalog.mcar")
	must(b, db, nil, "import", "--local-fs-dir", dir)
	must(b, db, nil, "export", "--archive", arch)
	want := must(b, db, nil, "status").stdout
	for b.Loop() {
		if got := must(b, arch, nil, "status").stdout; got != want {
			b.Fatalf("status from the archive: %q, want %q", got, want)
		}
	}
}

// BenchmarkMainnetScale runs what a compaction job does at Aptos mainnet
// scale (about 40,000 one-line metadata files): import into a new
// catalog, compact with factors 100, export an archive, three processes.
// Goal: under 1 s together.
func BenchmarkMainnetScale(b *testing.B) {
	dir := b.TempDir()
	catalogtest.WriteBenchStorage(b, dir, 40_000, 1)
	i := 0
	for b.Loop() {
		i++
		db := filepath.Join(b.TempDir(), strconv.Itoa(i)+".db")
		must(b, db, nil, "import", "--local-fs-dir", dir)
		must(b, db, nil, "compact", "--epoch-ending-file-compact-factor", "100",
			"--state-snapshot-file-compact-factor", "100", "--transaction-file-compact-factor", "100")
		must(b, db, nil, "export", "--archive", db+".mcar")
	}
}
