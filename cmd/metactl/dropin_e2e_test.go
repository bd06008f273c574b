package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// helmArgs returns the argument list of Aptos's helm CronJob as recorded in
// docs/drop-in.md, verbatim ("backup-maintenance compact ...": metactl
// takes Aptos's subcommand path as an alias), with the chart's two paths
// replaced by cacheDir and config.
func helmArgs(t *testing.T, cacheDir, config string) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "drop-in.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "<!-- helm-args:begin -->\n```\n")
	block, _, ok2 := strings.Cut(block, "```\n<!-- helm-args:end -->")
	if !ok || !ok2 {
		t.Fatal("docs/drop-in.md: no helm-args block")
	}
	args := strings.Fields(block)
	if len(args) != 12 || args[0] != "backup-maintenance" {
		t.Fatalf("docs/drop-in.md: helm args %q: want 12, starting with backup-maintenance", args)
	}
	for i, a := range args {
		switch a {
		case "/tmp/aptos-backup-compaction-metadata":
			args[i] = cacheDir
		case "/opt/aptos/etc/<location>.yaml":
			args[i] = config
		}
	}
	return args
}

// adapterBucket makes a "bucket" holding the gzip sample's metadata/ and a
// command-adapter config (real bash, gzip objects) that reaches it.
func adapterBucket(t *testing.T) (bucket, config string) {
	t.Helper()
	bucket = t.TempDir()
	sample := filepath.Join(repoRoot(t), "testdata", "sample-gzip", "metadata")
	if err := os.MkdirAll(filepath.Join(bucket, "metadata"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range listDir(t, sample) {
		b, err := os.ReadFile(filepath.Join(sample, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bucket, "metadata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, err := os.ReadFile(filepath.Join(repoRoot(t), "export", "testdata", "local-gzip.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	config = filepath.Join(t.TempDir(), "bucket.yaml")
	if err := os.WriteFile(config, bytes.ReplaceAll(tmpl, []byte("/nonexistent/metactl-test-folder"), []byte(bucket)), 0o644); err != nil {
		t.Fatal(err)
	}
	return bucket, config
}

// TestHelmChartCommandLine runs Aptos's helm CronJob command line, exactly
// (docs/drop-in.md), with metactl in place of aptos-db-tool, subcommand
// path included: no --catalog and no METACTL_CATALOG, a working folder
// that must stay untouched (the chart's root filesystem is read-only), a
// cache folder that does not exist yet (a fresh emptyDir subfolder), and a
// command-adapter storage. Two runs a day apart compact and then move the
// originals, as Aptos's would.
func TestHelmChartCommandLine(t *testing.T) {
	t.Parallel()
	bucket, config := adapterBucket(t)
	root, tmp := t.TempDir(), t.TempDir()
	cacheDir := filepath.Join(tmp, "aptos-backup-compaction-metadata")
	args := helmArgs(t, cacheDir, config)
	env := []string{"TMPDIR=" + tmp}

	r := metactlIn(t, root, "", append(env, "METACTL_NOW=1700000000"), args...)
	if r.code != 0 {
		t.Fatalf("metactl %s: %s", strings.Join(args, " "), r)
	}
	if got := listDirRaw(root); len(got) != 0 {
		t.Errorf("the working folder (a read-only root in the chart) got %v", got)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "metactl.db")); err != nil {
		t.Errorf("catalog not in --metadata-cache-dir: %v", err)
	}
	r = metactlIn(t, root, "", append(env, "METACTL_NOW=1700086401"), args...)
	if r.code != 0 {
		t.Fatalf("second run: %s", r)
	}
	checkCompactedSampleBucket(t, bucket)

	// A restore job asks the storage directly, as 'aptos-db-tool backup
	// query backup-storage-state' does: no catalog is created or kept.
	cached := must(t, filepath.Join(cacheDir, "metactl.db"), nil, "status").stdout
	for _, cmd := range [][]string{{"status"}, {"backup", "query", "backup-storage-state"}} {
		for _, extra := range [][]string{nil, {"--metadata-cache-dir", cacheDir, "--concurrent-downloads", "2"}} {
			q := metactlIn(t, root, "", env, append(append(cmd, "--command-adapter-config", config), extra...)...)
			if q.code != 0 || q.stdout != cached {
				t.Errorf("%v straight from the storage %v: %s\nwant stdout %q", cmd, extra, q, cached)
			}
		}
	}
	if got := listDirRaw(root); len(got) != 0 {
		t.Errorf("status from a storage wrote %v into the working folder", got)
	}
	if got := listDirRaw(tmp); strings.Join(got, ",") != "aptos-backup-compaction-metadata" {
		t.Errorf("status from a storage left %v in the temporary folder", got)
	}
	if got := listDirRaw(cacheDir); strings.Join(got, ",") != "metactl.db,metactl.db.lock" && strings.Join(got, ",") != "metactl.db" {
		t.Errorf("status from a storage left %v in the cache folder", got)
	}
}

// TestQueryStraightFromLocalStorage: status, plan and verify with
// --local-fs-dir give what they give on a catalog imported from the same
// folder, with the METACTL_CATALOG catalog neither read nor created.
func TestQueryStraightFromLocalStorage(t *testing.T) {
	t.Parallel()
	sample := filepath.Join(repoRoot(t), "testdata", "sample")
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", sample)
	unused := filepath.Join(t.TempDir(), "unused.db")
	for _, cmd := range [][]string{{"status"}, {"--json", "status"}, {"plan"}, {"plan", "--target-version", "30000000"}, {"verify"}} {
		want := must(t, cat, nil, cmd...).stdout
		got := must(t, unused, nil, append(cmd, "--local-fs-dir", sample)...).stdout
		if got != want {
			t.Errorf("%v --local-fs-dir:\n%s\nwant (from the catalog):\n%s", cmd, got, want)
		}
	}
	if _, err := os.Stat(unused); !os.IsNotExist(err) {
		t.Errorf("a query from a storage touched the catalog: %v", err)
	}
	r := metactl(t, unused, nil, "status", "--local-fs-dir", sample, "--command-adapter-config", "/dev/null")
	if r.code != 2 || !strings.Contains(r.stderr, "not both") {
		t.Errorf("two storages: %s", r)
	}
}

// checkCompactedSampleBucket checks a bucket holding the sample after two
// drop-in compactions with factors 100 at METACTL_NOW 1700000000 and
// 1700086401: the three compacted files and both timestamps files live,
// the 96 originals moved.
func checkCompactedSampleBucket(t *testing.T, bucket string) {
	t.Helper()
	live := listDir(t, filepath.Join(bucket, "metadata"))
	want := []string{"compaction_timestamps_1700000000.meta", "compaction_timestamps_1700086401.meta", "epoch_ending_compacted_0-23.meta",
		"state_snapshot_compacted_epoch_0_22.meta", "transaction_compacted_0-58000000.meta"}
	if strings.Join(live, ",") != strings.Join(want, ",") {
		t.Errorf("bucket metadata/ = %v\nwant %v", live, want)
	}
	if moved := listDir(t, filepath.Join(bucket, "metadata_backup")); len(moved) != 96 {
		t.Errorf("bucket metadata_backup/ holds %d files, want the 96 originals", len(moved))
	}
}
