package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuarantine: a file that does not parse stops an import (exit 3,
// nothing created) unless --quarantine, which imports everything else,
// records the file with its error, reports it on stderr and in --json and
// in the metrics; verify names it (exit 4); the storage's copy is never
// touched, not even by a drop-in compaction that writes that name; a good
// copy under the same name, or the file's removal, releases it.
func TestQuarantine(t *testing.T) {
	t.Parallel()
	s := t.TempDir()
	copyTree(t, filepath.Join(repoRoot(t), "testdata", "sample"), s)
	bad := filepath.Join(s, "metadata", "epoch_ending_24-24.meta")
	truncated := []byte(`{"EpochEndingBackup":{"first_epoch":24,"last_ep`)
	if err := os.WriteFile(bad, truncated, 0o644); err != nil {
		t.Fatal(err)
	}
	// Cut long ago: a fresh cut file is one still being written, which
	// the drop-in skips (TestInPlaceWriterBesideDropIn), not a bad one.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(bad, old, old)
	cat := filepath.Join(t.TempDir(), "c.db")
	r := metactl(t, cat, nil, "import", "--local-fs-dir", s)
	if r.code != 3 || !strings.Contains(r.stderr, "metadata/epoch_ending_24-24.meta") {
		t.Fatalf("import of a truncated file without --quarantine: %s", r)
	}
	if _, err := os.Stat(cat); !os.IsNotExist(err) {
		t.Fatalf("a refused import created the catalog: %v", err)
	}
	prom := filepath.Join(t.TempDir(), "m.prom")
	r = must(t, cat, nil, "--json", "--metrics-textfile", prom, "import", "--quarantine", "--local-fs-dir", s)
	if !strings.Contains(r.stderr, "quarantined metadata/epoch_ending_24-24.meta (left in the storage, not imported): import metadata/epoch_ending_24-24.meta:1") ||
		!strings.Contains(r.stdout, `"handle": "metadata/epoch_ending_24-24.meta"`) || !strings.Contains(r.stdout, `"added": 96`) {
		t.Errorf("import --quarantine: %s", r)
	}
	if b, _ := os.ReadFile(prom); !bytes.Contains(b, []byte("metactl_quarantined_files 1")) {
		t.Errorf("metrics textfile:\n%s\nwant metactl_quarantined_files 1", b)
	}
	r = metactl(t, cat, nil, "verify")
	if r.code != 4 || !strings.Contains(r.stdout, "FAIL quarantined: metadata/epoch_ending_24-24.meta is quarantined") ||
		!strings.Contains(r.stdout, "import metadata/epoch_ending_24-24.meta:1") {
		t.Errorf("verify with a quarantined file: %s", r)
	}
	// The drop-in goes on with everything else, and leaves the file alone.
	r = must(t, cat, []string{"METACTL_NOW=1700000000"}, "compact", "--quarantine", "--local-fs-dir", s,
		"--epoch-ending-file-compact-factor", "100", "--transaction-file-compact-factor", "100", "--state-snapshot-file-compact-factor", "100")
	if !strings.Contains(r.stdout, "kept metadata/epoch_ending_24-24.meta: quarantined") {
		t.Errorf("drop-in compaction with a quarantined file: %s", r)
	}
	if b, _ := os.ReadFile(bad); !bytes.Equal(b, truncated) {
		t.Errorf("the quarantined file was changed: %q", b)
	}
	if _, err := os.Stat(filepath.Join(s, "metadata", "epoch_ending_compacted_0-23.meta")); err != nil {
		t.Errorf("the drop-in did not compact the rest: %v", err)
	}
	// Repair: a good copy under the same name replaces it.
	good := `{"EpochEndingBackup":{"first_epoch":24,"last_epoch":24,"first_version":58071849,"last_version":58100000,"manifest":"epoch_ending_24-.aa/epoch_ending.manifest"}}` + "\n"
	if err := os.WriteFile(bad, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	r = must(t, cat, nil, "--json", "import", "--quarantine", "--local-fs-dir", s)
	if !strings.Contains(r.stdout, `"released": [
    "metadata/epoch_ending_24-24.meta"
  ]`) || !strings.Contains(r.stdout, `"added": 1`) {
		t.Errorf("import of the good copy: %s", r.stdout)
	}
	if r := metactl(t, cat, nil, "verify"); r.code != 0 {
		t.Errorf("verify after the repair: %s", r)
	}
	// Repair by removal: a bad file that goes away is released too.
	other := filepath.Join(s, "metadata", "transaction_99000000-99000001.meta")
	if err := os.WriteFile(other, []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, cat, nil, "import", "--quarantine", "--local-fs-dir", s)
	if r := metactl(t, cat, nil, "verify"); r.code != 4 {
		t.Errorf("verify with a second quarantined file: %s", r)
	}
	os.Remove(other)
	r = must(t, cat, nil, "import", "--quarantine", "--local-fs-dir", s)
	if !strings.Contains(r.stdout, "released from quarantine (1): metadata/transaction_99000000-99000001.meta") {
		t.Errorf("import after removing the bad file: %s", r)
	}
	if r := metactl(t, cat, nil, "verify"); r.code != 0 {
		t.Errorf("verify after the removal: %s", r)
	}
}
