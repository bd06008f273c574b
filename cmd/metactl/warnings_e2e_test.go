package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImportWarningsOnStderrAndInJSON: import's warnings (here a dotfile,
// a sub-folder, a zero-byte file, CRLF line ends, a name that disagrees
// with its content) go to stderr, never stdout, and are listed in the
// --json document, of import and of the drop-in compaction alike.
func TestImportWarningsOnStderrAndInJSON(t *testing.T) {
	t.Parallel()
	s := writeStorage(t, map[string]string{
		"metadata/transaction_0-9.meta":   `{"TransactionBackup":{"first_version":0,"last_version":9,"manifest":"t/m"}}` + "\r\n",
		"metadata/transaction_10-99.meta": `{"TransactionBackup":{"first_version":10,"last_version":19,"manifest":"t/m"}}` + "\n",
		"metadata/.DS_Store":              "x",
		"metadata/empty.meta":             "",
	})
	os.Mkdir(filepath.Join(s, "metadata", "sub.meta"), 0o755)
	want := []string{
		`metadata/.DS_Store: skipped, not a metadata file name: a dotfile (a name starting with ".")`,
		"metadata/empty.meta: empty file (0 bytes): it holds no entry; Aptos never writes one (a failed upload?)",
		"metadata/sub.meta: skipped, not a regular file: it is a sub-folder (never followed or read)",
		"metadata/transaction_0-9.meta: CRLF line ends: Aptos reads them but never writes them (edited on Windows?); the bytes are kept as they are",
		"metadata/transaction_10-99.meta: name disagrees with its content, which Aptos would name transaction_10-19.meta",
	}
	check := func(cmd string, r result) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(r.stderr, "metactl: warning: "+w+"\n") {
				t.Errorf("%s: stderr lacks warning %q:\n%s", cmd, w, r.stderr)
			}
			if strings.Contains(r.stdout, w) {
				t.Errorf("%s: a warning on stdout: %s", cmd, r.stdout)
			}
		}
		var doc struct {
			Warnings []struct{ Handle, Code, Message string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("%s --json: %v\n%s", cmd, err, r.stdout)
		}
		var got []string
		for _, w := range doc.Warnings {
			got = append(got, w.Handle+": "+w.Message)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s --json warnings:\n%s\nwant:\n%s", cmd, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if len(doc.Warnings) > 0 && doc.Warnings[0].Code != "skipped" {
			t.Errorf("%s: first warning's code %q", cmd, doc.Warnings[0].Code)
		}
	}
	cat := filepath.Join(t.TempDir(), "c.db")
	check("import", must(t, cat, nil, "--json", "import", "--local-fs-dir", s))
	r := must(t, cat, nil, "import", "--local-fs-dir", s)
	if strings.Contains(r.stdout, "skipped") || !strings.Contains(r.stderr, "metactl: warning: metadata/.DS_Store: skipped") {
		t.Errorf("plain import: %s", r)
	}
	// The drop-in skips a fresh empty file as still being written
	// (TestInPlaceWriterBesideDropIn); an old one is imported as import
	// does, with the same warning.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(s, "metadata", "empty.meta"), old, old)
	cat2 := filepath.Join(t.TempDir(), "c.db")
	check("compact", must(t, cat2, []string{"METACTL_NOW=1700000000"}, "--json", "compact", "--local-fs-dir", s))
}

// TestImportWarnsFutureTimestampsAndGap: the two warnings that depend on
// the clock and on the catalog, through the binary: compaction timestamps
// after METACTL_NOW, and an import that opens a gap (the storage moved a
// file whose range nothing else covers).
func TestImportWarnsFutureTimestampsAndGap(t *testing.T) {
	t.Parallel()
	txn := func(a, b string) string {
		return `{"TransactionBackup":{"first_version":` + a + `,"last_version":` + b + `,"manifest":"t` + a + `/m"}}` + "\n"
	}
	s := writeStorage(t, map[string]string{
		"metadata/transaction_0-9.meta":                  txn("0", "9"),
		"metadata/transaction_10-19.meta":                txn("10", "19"),
		"metadata/transaction_20-29.meta":                txn("20", "29"),
		"metadata/compaction_timestamps_1800000000.meta": `{"CompactionTimestamps":{"file_compacted_at":1800000000,"compaction_timestamps":{"metadata/transaction_0-9.meta":null}}}` + "\n",
	})
	cat := filepath.Join(t.TempDir(), "c.db")
	now := []string{"METACTL_NOW=1700000000"}
	r := must(t, cat, now, "import", "--local-fs-dir", s)
	want := "metactl: warning: metadata/compaction_timestamps_1800000000.meta: compaction timestamps from the future: file_compacted_at 1800000000 is after now (1700000000); check the compacting host's clock\n"
	if r.stderr != want || strings.Contains(r.stdout, "warning") {
		t.Errorf("future timestamps: stderr %q, want %q (stdout %q)", r.stderr, want, r.stdout)
	}
	os.MkdirAll(filepath.Join(s, "metadata_backup"), 0o755)
	if err := os.Rename(filepath.Join(s, "metadata", "transaction_10-19.meta"), filepath.Join(s, "metadata_backup", "transaction_10-19.meta")); err != nil {
		t.Fatal(err)
	}
	r = must(t, cat, now, "--json", "import", "--local-fs-dir", s)
	gap := "the import opens a gap in the restorable range: no transaction backup covers versions 10-19, so a restore across them fails"
	if !strings.Contains(r.stderr, "metactl: warning: "+gap+"\n") {
		t.Errorf("gap: stderr %q", r.stderr)
	}
	var doc struct {
		Warnings []struct{ Handle, Code, Message string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, w := range doc.Warnings {
		found = found || (w.Code == "gap" && w.Handle == "" && w.Message == gap)
	}
	if !found {
		t.Errorf("--json warnings lack the gap: %+v", doc.Warnings)
	}
}
