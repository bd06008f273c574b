package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportWarningsOnStderrAndInJSON: import's warnings (here a dotfile,
// a sub-folder, a zero-byte file, CRLF line ends, a name that disagrees
// with its content) go to stderr, never stdout, and are listed in the
// --json document, of import and of the drop-in compaction alike.
func TestImportWarningsOnStderrAndInJSON(t *testing.T) {
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
	cat2 := filepath.Join(t.TempDir(), "c.db")
	check("compact", must(t, cat2, []string{"METACTL_NOW=1700000000"}, "--json", "compact", "--local-fs-dir", s))
}
