package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/internal/samplegen"
)

// sameTree fails unless the two folders hold the same files with the same
// bytes (compared decompressed when gunzip is set).
func sameTree(t *testing.T, a, b string, gunzip bool) int {
	t.Helper()
	n := 0
	for _, sub := range []string{"metadata", "metadata_backup"} {
		an, bn := listDir(t, filepath.Join(a, sub)), listDir(t, filepath.Join(b, sub))
		if strings.Join(an, ",") != strings.Join(bn, ",") {
			t.Fatalf("%s: %v vs %v", sub, an, bn)
		}
		for _, name := range an {
			x, _ := os.ReadFile(filepath.Join(a, sub, name))
			y, _ := os.ReadFile(filepath.Join(b, sub, name))
			if gunzip {
				x, y = gunzipBytes(t, x), gunzipBytes(t, y)
			}
			if !bytes.Equal(x, y) {
				t.Fatalf("%s/%s differs", sub, name)
			}
			n++
		}
	}
	return n
}

func gunzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFolderRoundTrip: folder -> import -> export gives the same bytes,
// plain and gzip, for the shipped samples and a generated storage with
// moved files; and archive -> import -> export gives them too. The
// generated storage has 300 epochs, 100 with -short (still two compacted
// files of each kind and moved files).
func TestFolderRoundTrip(t *testing.T) {
	t.Parallel()
	gen := t.TempDir()
	epochs := 300
	if testing.Short() {
		epochs = 100
	}
	if _, err := samplegen.Generate(gen, samplegen.Options{Epochs: epochs, VersionsPerEpoch: 400_000, TxnBatch: 1_000_000,
		SnapshotIntervalEpochs: 3, Seed: 7, Identity: true}); err != nil {
		t.Fatal(err)
	}
	// Compact the generated storage in place (drop-in mode), twice, so it
	// has compacted files, timestamps and moved files too.
	seed := filepath.Join(t.TempDir(), "seed.db")
	for _, now := range []string{"1700000000", "1700200000"} {
		must(t, seed, []string{"METACTL_NOW=" + now}, "compact", "--local-fs-dir", gen,
			"--epoch-ending-file-compact-factor", "50", "--state-snapshot-file-compact-factor", "20", "--transaction-file-compact-factor", "40")
	}
	if len(listDir(t, filepath.Join(gen, "metadata_backup"))) == 0 {
		t.Fatal("generated storage has no moved files")
	}
	root := repoRoot(t)
	cases := []struct {
		name, src string
		gzip      bool
	}{
		{"sample", filepath.Join(root, "testdata", "sample"), false},
		{"sample-gzip", filepath.Join(root, "testdata", "sample-gzip"), true},
		{"generated-compacted", gen, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cat := filepath.Join(t.TempDir(), "c.db")
			must(t, cat, nil, "import", "--local-fs-dir", tc.src)
			out := t.TempDir()
			args := []string{"export", "--local-fs-dir", out}
			if tc.gzip {
				args = append(args, "--gzip")
			}
			must(t, cat, nil, args...)
			n := sameTree(t, tc.src, out, false) // byte for byte, gzip included
			if r := must(t, cat, nil, append(args, "--json")...); !strings.Contains(r.stdout, `"written": []`) {
				t.Errorf("second export wrote files: %s", r.stdout)
			}
			// Through an archive.
			arch := filepath.Join(t.TempDir(), "c.mcar")
			must(t, cat, nil, "export", "--archive", arch)
			cat2 := filepath.Join(t.TempDir(), "c2.db")
			must(t, cat2, nil, "import", "--archive", arch)
			out2 := t.TempDir()
			must(t, cat2, nil, append([]string{"export", "--local-fs-dir", out2}, args[3:]...)...)
			sameTree(t, tc.src, out2, false)
			for _, q := range [][]string{{"status", "--json"}, {"ls"}, {"verify"}} {
				a, b, c := must(t, cat, nil, q...).stdout, must(t, cat2, nil, q...).stdout, must(t, arch, nil, q...).stdout
				if a != b || a != c {
					t.Errorf("%v differs between catalog, re-imported archive and archive read in place:\n%s\n%s\n%s", q, a, b, c)
				}
			}
			t.Logf("%s: %d files byte-identical after folder->import->export and archive->import->export", tc.name, n)
		})
	}
}

func TestArchiveErrors(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	arch := filepath.Join(t.TempDir(), "c.mcar")
	must(t, cat, nil, "export", "--archive", arch)
	data, _ := os.ReadFile(arch)
	cut := filepath.Join(t.TempDir(), "cut.mcar")
	os.WriteFile(cut, data[:len(data)/2], 0o644)
	empty := filepath.Join(t.TempDir(), "empty.db")
	r := metactl(t, empty, nil, "import", "--archive", cut)
	if r.code != 3 || !strings.Contains(r.stderr, "archive") {
		t.Errorf("truncated archive: %s", r)
	}
	// The archive is read and verified before the catalog is opened: a
	// refused first import leaves no catalog (and no lock file) behind.
	for _, p := range []string{empty, empty + ".lock"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a refused archive import created %s", p)
		}
	}
	if r := metactl(t, cut, nil, "status"); r.code == 0 {
		t.Errorf("status on a truncated archive succeeded: %s", r)
	}
}

// TestAptosReaderOfExportedFolder reads an exported folder the way Aptos
// does (list metadata/, open each file, parse every line) in a loop while
// metactl processes repeatedly import new backups, compact and export into
// it. No file read may be partial or unparsable, and every listing whose
// files could all be opened must cover the view without a gap: ranges
// continuous from 0 and never behind an earlier complete listing.
func TestAptosReaderOfExportedFolder(t *testing.T) {
	// Not parallel: a soak of a few seconds. It runs at least 3 export
	// rounds however slow the machine is, and reads while they run.
	dur := soakDuration(t, 20*time.Second, 3*time.Second) / 2
	storage := t.TempDir()
	out := t.TempDir()
	cat := filepath.Join(t.TempDir(), "c.db")
	addEpoch(t, storage, 0)
	must(t, cat, nil, "import", "--local-fs-dir", storage)
	must(t, cat, nil, "export", "--local-fs-dir", out)

	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	var writerErr error
	var writerDone atomic.Bool
	exports := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer writerDone.Store(true)
		for e := uint64(1); time.Now().Before(stop) || e <= 3; e++ {
			addEpoch(t, storage, e)
			for _, args := range [][]string{
				{"import", "--local-fs-dir", storage},
				{"compact", "--epoch-ending-file-compact-factor", "4", "--transaction-file-compact-factor", "3",
					"--state-snapshot-file-compact-factor", "5", "--remove-compacted-file-after", "0"},
				{"export", "--local-fs-dir", out},
			} {
				if r := metactl(t, cat, nil, args...); r.code != 0 {
					writerErr = fmt.Errorf("%v: %s", args, r)
					return
				}
			}
			exports++
		}
	}()

	var listings, complete, vanished, filesRead, partial, gaps int
	var bestVersion uint64
	var failures []string
	for time.Now().Before(stop) || !writerDone.Load() {
		listings++
		names := listDirRaw(filepath.Join(out, "metadata"))
		var entries []aptos.Metadata
		ok := true
		for _, name := range names {
			b, err := os.ReadFile(filepath.Join(out, "metadata", name))
			if os.IsNotExist(err) {
				vanished++ // moved between list and open: Aptos's own race
				ok = false
				continue
			}
			if err != nil {
				failures = append(failures, err.Error())
				continue
			}
			filesRead++
			lines, err := aptos.ParseFile(b)
			if err != nil || len(lines) == 0 {
				partial++
				failures = append(failures, fmt.Sprintf("partial or unparsable %s: %v %q", name, err, b))
				continue
			}
			entries = append(entries, lines...)
		}
		if !ok {
			continue
		}
		complete++
		v := aptos.NewView(entries)
		if _, err := v.SelectTransactionBackups(0, math.MaxUint64); err != nil {
			gaps++
			failures = append(failures, "gap in a complete listing: "+err.Error())
		}
		if _, err := v.SelectEpochEndingBackups(math.MaxUint64); err != nil {
			gaps++
			failures = append(failures, "gap in a complete listing: "+err.Error())
		}
		if m, ok := v.MaxTransactionVersion(); ok {
			if m < bestVersion {
				gaps++
				failures = append(failures, fmt.Sprintf("coverage went back from version %d to %d", bestVersion, m))
			}
			bestVersion = max(bestVersion, m)
		}
	}
	wg.Wait()
	if writerErr != nil {
		t.Fatal(writerErr)
	}
	for i, f := range failures {
		if i < 10 {
			t.Error(f)
		}
	}
	if exports < 3 || complete < 10 {
		t.Errorf("too little happened: %d exports, %d complete listings", exports, complete)
	}
	fmt.Printf("aptos-reader: %d exports, %d listings (%d complete; %d files moved away between list and open), %d files read, %d partial/unparsable, %d gaps\n",
		exports, listings, complete, vanished, filesRead, partial, gaps)
}

func listDirRaw(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestCommandAdapterDropIn runs metactl as the drop-in replacement for
// backup-maintenance compact on a "bucket" reached through an Aptos-style
// command-adapter config (real bash, gzip objects), then re-reads the
// bucket into a fresh catalog: same view, compacted files live, originals
// moved by backup_metadata_file.
func TestCommandAdapterDropIn(t *testing.T) {
	t.Parallel()
	bucket := t.TempDir()
	sample := filepath.Join(repoRoot(t), "testdata", "sample-gzip", "metadata")
	os.MkdirAll(filepath.Join(bucket, "metadata"), 0o755)
	for _, name := range listDir(t, sample) {
		b, _ := os.ReadFile(filepath.Join(sample, name))
		os.WriteFile(filepath.Join(bucket, "metadata", name), b, 0o644)
	}
	tmpl, err := os.ReadFile(filepath.Join(repoRoot(t), "export", "testdata", "local-gzip.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "bucket.yaml")
	os.WriteFile(cfg, bytes.ReplaceAll(tmpl, []byte("/nonexistent/metactl-test-folder"), []byte(bucket)), 0o644)

	cat := filepath.Join(t.TempDir(), "c.db")
	args := []string{"compact", "--command-adapter-config", cfg, "--epoch-ending-file-compact-factor", "100",
		"--state-snapshot-file-compact-factor", "100", "--transaction-file-compact-factor", "100"}
	must(t, cat, []string{"METACTL_NOW=1700000000"}, args...)
	must(t, cat, []string{"METACTL_NOW=1700086401"}, args...)
	checkCompactedSampleBucket(t, bucket)
	b, _ := os.ReadFile(filepath.Join(bucket, "metadata", "transaction_compacted_0-58000000.meta"))
	if lines := strings.Count(string(gunzipBytes(t, b)), "\n"); lines != 59 {
		t.Errorf("compacted object holds %d lines, want 59", lines)
	}
	fresh := filepath.Join(t.TempDir(), "fresh.db")
	must(t, fresh, nil, "import", "--command-adapter-config", cfg)
	if a, b := must(t, cat, nil, "status").stdout, must(t, fresh, nil, "status").stdout; a != b {
		t.Errorf("bucket re-read gives another view: %q vs %q", a, b)
	}
	golden(t, "status.txt", must(t, fresh, nil, "status").stdout)
}
