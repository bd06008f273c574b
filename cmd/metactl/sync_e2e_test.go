package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metactl/metactl/api"
)

// countingBucket is adapterBucket whose open_for_read appends a line to a
// counter file per call: how many files a command downloads.
func countingBucket(t *testing.T) (bucket, config string, opens func() int) {
	t.Helper()
	bucket, config = adapterBucket(t)
	counter := filepath.Join(t.TempDir(), "opens")
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("  open_for_read: |\n"), []byte("  open_for_read: |\n    echo \"$FILE_HANDLE\" >> "+counter+"\n"), 1)
	if err := os.WriteFile(config, b, 0o644); err != nil {
		t.Fatal(err)
	}
	opens = func() int {
		b, err := os.ReadFile(counter)
		if os.IsNotExist(err) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		n := bytes.Count(b, []byte("\n"))
		if err := os.Remove(counter); err != nil {
			t.Fatal(err)
		}
		return n
	}
	return bucket, config, opens
}

// addTxnFiles adds n new transaction files after the sample's last batch
// (transaction_..-58000000) to the bucket's metadata/ as gzip, as the
// backup coordinator would, and returns their names.
func addTxnFiles(t *testing.T, dir string, n int, gz bool) []string {
	t.Helper()
	var names []string
	for i := range n {
		first := uint64(58000001) + uint64(i)*1000000
		last := first + 999999
		name := fmt.Sprintf("transaction_%d-%d.meta", first, last)
		line := fmt.Sprintf(`{"TransactionBackup":{"first_version":%d,"last_version":%d,"manifest":"transaction_%d-.%x/transaction.manifest"}}`+"\n", first, last, first, i)
		data := []byte(line)
		if gz {
			data = gzipBytes(t, data)
		}
		if err := os.WriteFile(filepath.Join(dir, "metadata", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

// TestIncrementalImportCountsDownloads: through a command adapter that
// counts its open_for_read calls, a first import reads every file, a no-op
// re-import reads none, and after 5 new files exactly 5; --full reads
// everything again.
func TestIncrementalImportCountsDownloads(t *testing.T) {
	t.Parallel()
	bucket, config, opens := countingBucket(t)
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--command-adapter-config", config)
	if n := opens(); n != 96 {
		t.Fatalf("first import: %d open_for_read calls, want 96", n)
	}
	r := must(t, cat, nil, "--json", "import", "--command-adapter-config", config)
	if n := opens(); n != 0 {
		t.Errorf("no-op re-import: %d open_for_read calls, want 0", n)
	}
	if !strings.Contains(r.stdout, `"known_skipped": 96`) || !strings.Contains(r.stdout, `"changed": false`) {
		t.Errorf("no-op re-import: %s", r.stdout)
	}
	addTxnFiles(t, bucket, 5, true)
	r = must(t, cat, nil, "--json", "import", "--command-adapter-config", config)
	if n := opens(); n != 5 {
		t.Errorf("re-import after 5 new files: %d open_for_read calls, want 5", n)
	}
	if !strings.Contains(r.stdout, `"added": 5`) {
		t.Errorf("re-import after 5 new files: %s", r.stdout)
	}
	must(t, cat, nil, "import", "--full", "--command-adapter-config", config)
	if n := opens(); n != 101 {
		t.Errorf("import --full: %d open_for_read calls, want 101", n)
	}
}

// TestIncrementalDropInDownloadsNothingKnown: the drop-in compaction with
// a kept catalog (the chart's --metadata-cache-dir on a PVC) downloads
// only the files it does not know.
func TestIncrementalDropInDownloadsNothingKnown(t *testing.T) {
	t.Parallel()
	bucket, config, opens := countingBucket(t)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	args := helmArgs(t, cacheDir, config)
	env := []string{"METACTL_NOW=1700000000"}
	if r := metactl(t, "", env, args...); r.code != 0 {
		t.Fatalf("first drop-in run: %s", r)
	}
	if n := opens(); n != 96 {
		t.Fatalf("first drop-in run: %d open_for_read calls, want 96", n)
	}
	if r := metactl(t, "", env, args...); r.code != 0 {
		t.Fatalf("second drop-in run: %s", r)
	}
	if n := opens(); n != 0 {
		t.Errorf("second drop-in run, nothing new: %d open_for_read calls, want 0", n)
	}
	addTxnFiles(t, bucket, 3, true)
	if r := metactl(t, "", []string{"METACTL_NOW=1700000100"}, args...); r.code != 0 {
		t.Fatalf("third drop-in run: %s", r)
	}
	if n := opens(); n != 3 {
		t.Errorf("drop-in run after 3 new files: %d open_for_read calls, want 3", n)
	}
}

// TestIncrementalLocalChangedInPlace: for a LocalFs storage a known name
// is not read again while its size and mtime stay; changed in place (other
// bytes, other mtime) it is read again and refused as a conflict, naming
// the file. verify --local-fs-dir against the catalog names it too.
func TestIncrementalLocalChangedInPlace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyTree(t, filepath.Join(repoRoot(t), "testdata", "sample"), dir)
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", dir)
	r := must(t, cat, nil, "--json", "import", "--local-fs-dir", dir)
	if !strings.Contains(r.stdout, `"known_skipped": 96`) {
		t.Errorf("no-op re-import of a folder: %s", r.stdout)
	}
	// Same size, other content, other mtime.
	path := filepath.Join(dir, "metadata", "transaction_0-0.meta")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(b, []byte(`"manifest":"`), []byte(`"manifest":"X`), 1)
	changed = bytes.Replace(changed, []byte(`.manifest"`), []byte(`.manifes"`), 1)
	if len(changed) != len(b) || bytes.Equal(changed, b) {
		t.Fatalf("test setup: %q -> %q", b, changed)
	}
	if err := os.WriteFile(path, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
	r = metactl(t, cat, nil, "import", "--local-fs-dir", dir)
	if r.code != 3 || !strings.Contains(r.stderr, "metadata/transaction_0-0.meta") || !strings.Contains(r.stderr, "differs from the catalog") {
		t.Errorf("import of a file changed in place: %s", r)
	}
	r = metactl(t, cat, nil, "verify", "--local-fs-dir", dir)
	if r.code != 4 || !strings.Contains(r.stdout, "storage-content-changed") || !strings.Contains(r.stdout, "metadata/transaction_0-0.meta") {
		t.Errorf("verify --local-fs-dir of a file changed in place: %s", r)
	}
}

// TestVerifyFindsContentChangedInBucket: a bucket file changed under a
// known name is not read by an incremental import (it trusts the name, as
// Aptos does), and verify --command-adapter-config names it.
func TestVerifyFindsContentChangedInBucket(t *testing.T) {
	t.Parallel()
	bucket, config, _ := countingBucket(t)
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--command-adapter-config", config)
	name := filepath.Join(bucket, "metadata", "epoch_ending_0-0.meta")
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	plain := gunzipBytes(t, b)
	other := bytes.Replace(plain, []byte(`"manifest":"`), []byte(`"manifest":"other-`), 1)
	if err := os.WriteFile(name, gzipBytes(t, other), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, cat, nil, "import", "--command-adapter-config", config) // trusts the name
	r := metactl(t, cat, nil, "verify", "--command-adapter-config", config)
	if r.code != 4 || !strings.Contains(r.stdout, "storage-content-changed") || !strings.Contains(r.stdout, "metadata/epoch_ending_0-0.meta") {
		t.Errorf("verify --command-adapter-config: %s", r)
	}
	r = metactl(t, cat, nil, "import", "--full", "--command-adapter-config", config)
	if r.code != 3 || !strings.Contains(r.stderr, "metadata/epoch_ending_0-0.meta") {
		t.Errorf("import --full: %s", r)
	}
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// copyTree copies the folder from into to (which may exist).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// TestSyncEvery: 'metactl sync --every' keeps a catalog current from a
// bucket: the first sync downloads every file, later ones nothing until
// the backup coordinator adds files, then exactly those; SIGTERM stops it
// with exit 0, and the catalog holds the new files.
func TestSyncEvery(t *testing.T) {
	bucket, config, opens := countingBucket(t)
	cat := filepath.Join(t.TempDir(), "c.db")
	cmd := exec.Command(binary, "--json", "sync", "--every", "1s", "--command-adapter-config", config)
	cmd.Env = append(os.Environ(), "METACTL_CATALOG="+catalogLocation(cat))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan syncJSONLine)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l syncJSONLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("sync --json line %q: %v", sc.Text(), err)
				continue
			}
			lines <- l
		}
	}()
	next := func() syncJSONLine {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("sync exited: %s", stderr.String())
			}
			return l
		case <-time.After(2 * time.Minute): // a hang, not a timing assertion
			t.Fatalf("no sync line in 2 minutes: %s", stderr.String())
		}
		return syncJSONLine{}
	}
	if l := next(); !l.OK || l.Added != 96 || l.Sync != 1 {
		t.Fatalf("first sync: %+v", l)
	}
	if n := opens(); n != 96 {
		t.Errorf("first sync: %d open_for_read calls, want 96", n)
	}
	if l := next(); !l.OK || l.Added != 0 || l.KnownSkipped != 96 || l.Changed {
		t.Errorf("second sync, nothing new: %+v", l)
	}
	if n := opens(); n != 0 {
		t.Errorf("second sync, nothing new: %d open_for_read calls, want 0", n)
	}
	addTxnFiles(t, bucket, 5, true)
	for {
		l := next()
		if !l.OK {
			t.Fatalf("sync: %+v", l)
		}
		if l.Added > 0 {
			if l.Added != 5 {
				t.Errorf("sync after 5 new files: %+v", l)
			}
			break
		}
	}
	if n := opens(); n != 5 {
		t.Errorf("syncs after 5 new files: %d open_for_read calls, want 5", n)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("sync --every after SIGTERM: %v\n%s", err, stderr.String())
	}
	if r := must(t, cat, nil, "status").stdout; !strings.Contains(r, "latest_transaction_version: 63000000") {
		t.Errorf("status after the syncs: %s", r)
	}
}

// TestSyncOnce: without --every, one sync; its failure is the exit code.
func TestSyncOnce(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	r := must(t, cat, nil, "sync", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	if !strings.HasPrefix(r.stdout, "sync 1: 96 files read, 0 known not read; 96 added") {
		t.Errorf("sync: %s", r)
	}
	bad := writeStorage(t, map[string]string{"metadata/transaction_0-9.meta": "not json\n"})
	if r := metactl(t, cat, nil, "sync", "--local-fs-dir", bad); r.code != 3 {
		t.Errorf("sync of a bad file: %s", r)
	}
	if r := metactl(t, cat, nil, "sync"); r.code != 2 {
		t.Errorf("sync without a storage: %s", r)
	}
	// A file an Aptos writer is still writing in place (valid lines, then
	// one cut mid-line, just modified) is skipped with a warning and read
	// by a later round, as the drop-in does; the round succeeds.
	line := `{"TransactionBackup":{"first_version":0,"last_version":9,"manifest":"transaction_0-.9c99/transaction.manifest"}}` + "\n"
	cut := writeStorage(t, map[string]string{"metadata/transaction_0-9.meta": line + `{"TransactionBackup":{"first_ver`})
	cat2 := filepath.Join(t.TempDir(), "c.db")
	r = metactl(t, cat2, nil, "sync", "--local-fs-dir", cut)
	if r.code != 0 || !strings.Contains(r.stderr, "still being written") {
		t.Errorf("sync beside an in-place writer: want exit 0 and an in-progress warning, got %s", r)
	}
	if err := os.WriteFile(filepath.Join(cut, "metadata", "transaction_0-9.meta"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	r = must(t, cat2, nil, "sync", "--local-fs-dir", cut)
	if !strings.Contains(r.stdout, "1 added") {
		t.Errorf("the next round after the writer finished: %s", r)
	}
}

// TestDropInDryRunSyncsIntoScratch: with files the catalog does not know
// yet in the storage, the drop-in's --dry-run syncs them into a scratch
// copy of the catalog, so its plan (written, timestamped, moved, and what
// the storage would get) is exactly the real run's; the catalog and the
// storage stay as they were.
func TestDropInDryRunSyncsIntoScratch(t *testing.T) {
	t.Parallel()
	s := t.TempDir()
	copyTree(t, filepath.Join(repoRoot(t), "testdata", "sample"), s)
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", s)
	addTxnFiles(t, s, 3, false)
	catBefore, storeBefore := must(t, cat, nil, "--json", "ls").stdout, treeDigest(t, s)
	args := []string{"--json", "compact", "--local-fs-dir", s, "--epoch-ending-file-compact-factor", "100",
		"--state-snapshot-file-compact-factor", "100", "--transaction-file-compact-factor", "100"}
	env := []string{"METACTL_NOW=1700000000"}
	dry := must(t, cat, env, append(args, "--dry-run")...).stdout
	if got := must(t, cat, nil, "--json", "ls").stdout; got != catBefore {
		t.Errorf("the dry run changed the catalog")
	}
	if treeDigest(t, s) != storeBefore {
		t.Errorf("the dry run changed the storage")
	}
	real := must(t, cat, env, args...).stdout
	var d, r api.Compact
	if err := json.Unmarshal([]byte(dry), &d); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(real), &r); err != nil {
		t.Fatal(err)
	}
	if d.Storage == nil || d.Storage.Synced == nil || d.Storage.Synced.Added != 3 {
		t.Fatalf("dry run's sync: %s", dry)
	}
	same := func(what string, a, b any) {
		if ja, jb := fmt.Sprint(a), fmt.Sprint(b); ja != jb {
			t.Errorf("%s: dry run %s, real run %s", what, ja, jb)
		}
	}
	same("written", d.Written, r.Written)
	same("timestamped", d.Timestamped, r.Timestamped)
	same("moved", d.Moved, r.Moved)
	same("timestamps file", d.TimestampsFile, r.TimestampsFile)
	same("synced", *d.Storage.Synced, *r.Storage.Synced)
	same("storage written", d.Storage.Published.Written, r.Storage.Published.Written)
	same("storage moved", d.Storage.Published.Moved, r.Storage.Published.Moved)
	same("storage kept", d.Storage.Published.Kept, r.Storage.Published.Kept)
	if !d.DryRun || !d.Storage.Published.DryRun || d.Changed {
		t.Errorf("dry run document: %s", dry)
	}
}
