package catalogtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
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
func BenchCatalog(b testing.TB) (catalog.DB, int64) {
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

// BenchLargeEnv names the variable that turns on the benchmarks at the
// sizes of issue 11's table (1M lines, 200k-file archives): set it to 1.
// Without it every benchmark runs at a size that takes seconds.
const BenchLargeEnv = "METACTL_BENCH_LARGE"

// BenchLarge reports whether METACTL_BENCH_LARGE=1.
func BenchLarge() bool { return os.Getenv(BenchLargeEnv) == "1" }

// BenchSize returns large if METACTL_BENCH_LARGE=1, else small.
func BenchSize(small, large int) int {
	if BenchLarge() {
		return large
	}
	return small
}

// BenchFile is one generated metadata file: its name under metadata/ and
// its bytes.
type BenchFile struct {
	Name    string
	Content []byte
}

// BenchFiles returns about lines metadata lines (all of a storage of
// lines/4 epochs, so the view has no gap) from samplegen's realistic
// generator (a snapshot every second epoch, as the helm chart takes them),
// in name order. With perFile 1 every line is its own file under its Aptos
// name, as the backup coordinator leaves a storage before compaction; with
// perFile > 1 the same lines, in name order, are cut into files
// batch_NNNNNN.meta of perFile lines.
func BenchFiles(lines, perFile int) []BenchFile {
	opts := samplegen.DefaultOptions(lines/4 + 1)
	opts.SnapshotIntervalEpochs = 2
	gen := samplegen.Files(opts) // sorted by name; cutting it would leave gaps
	out := make([]BenchFile, 0, len(gen)/max(perFile, 1)+1)
	if perFile <= 1 {
		for _, f := range gen {
			out = append(out, BenchFile{f.Name, f.Content})
		}
		return out
	}
	var buf []byte
	for i, f := range gen {
		buf = append(buf, f.Content...)
		if (i+1)%perFile == 0 || i == len(gen)-1 {
			out = append(out, BenchFile{fmt.Sprintf("batch_%06d.meta", len(out)), buf})
			buf = nil
		}
	}
	return out
}

// WriteBenchStorage writes BenchFiles(lines, perFile) as a LocalFs storage
// under dir (dir/metadata/) and returns the number of files and their
// total size.
func WriteBenchStorage(tb testing.TB, dir string, lines, perFile int) (files int, size int64) {
	tb.Helper()
	md := filepath.Join(dir, aptos.MetadataDir)
	if err := os.MkdirAll(md, 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, f := range BenchFiles(lines, perFile) {
		if err := os.WriteFile(filepath.Join(md, f.Name), f.Content, 0o644); err != nil {
			tb.Fatal(err)
		}
		files++
		size += int64(len(f.Content))
	}
	return files, size
}

// BenchCatalogAt builds a catalog at path from BenchFiles(lines, perFile),
// all live with the source "bench", in transactions of at most 50,000
// files, and closes it. It returns the files' total size.
func BenchCatalogAt(tb testing.TB, path string, lines, perFile int) int64 {
	tb.Helper()
	db, err := catalog.Open(tb.Context(), path, &catalog.Options{Timeout: LockTimeout, NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	files := BenchFiles(lines, perFile)
	var size int64
	const batch = 50_000
	for i := 0; i < len(files); i += batch {
		nfs := make([]catalog.NewFile, 0, batch)
		for _, f := range files[i:min(i+batch, len(files))] {
			size += int64(len(f.Content))
			nfs = append(nfs, catalog.NewFile{Handle: aptos.LiveHandle(f.Name), Content: f.Content, State: catalog.Live, Source: "bench"})
		}
		PutNew(tb, db, nfs...)
	}
	return size
}

// ResetPeakRSS frees what the setup left behind (a collection, then the
// freed heap returned to the kernel) and resets the kernel's peak
// resident set of this process (Linux: /proc/self/clear_refs "5"), so a
// later ReportPeakRSS measures the timed work, not the setup that built
// its input in the same process. Where the reset is not available the
// peak keeps covering the setup, and it says so in the log.
func ResetPeakRSS(tb testing.TB) {
	tb.Helper()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Logf("peak RSS not reset, it includes the setup: %v", err)
	}
}

// ReportPeakRSS reports this process's peak resident set so far as
// "peak-RSS-MiB" (getrusage; it includes the setup before the timer).
func ReportPeakRSS(b *testing.B) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB") // Linux reports KiB
	}
}

// ReportFileRatio reports the size of the file at path over plain bytes
// as the metric "catalog-x-plain" (issue 11's goal: at most 2).
func ReportFileRatio(b *testing.B, path string, plain int64) {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/float64(plain), "catalog-x-plain")
}
