package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestArchiveKeepsHistory is issue 8's "the archive keeps the history":
// `--catalog X.mcar log` shows the journal as it was at export, and verify
// on the archive reports the generation it was exported at, not the
// throwaway catalog's own.
func TestArchiveKeepsHistory(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	must(t, cat, []string{"METACTL_NOW=1700000000"}, "compact", "--transaction-file-compact-factor", "10", "--epoch-ending-file-compact-factor", "10", "--state-snapshot-file-compact-factor", "10")
	must(t, cat, []string{"METACTL_NOW=1800000000"}, "compact", "--transaction-file-compact-factor", "10", "--epoch-ending-file-compact-factor", "10", "--state-snapshot-file-compact-factor", "10")
	arch := filepath.Join(t.TempDir(), "c.mcar")
	must(t, cat, nil, "export", "--archive", arch)
	// Later writes to the catalog are not in the archive.
	must(t, cat, nil, "import", "--local-fs-dir", writeStorage(t, map[string]string{
		"metadata/transaction_999000000-999000009.meta": `{"TransactionBackup":{"first_version":999000000,"last_version":999000009,"manifest":"t/m"}}` + "\n"}))

	for _, args := range [][]string{{"log"}, {"log", "--files"}, {"--json", "log", "-n", "0"}} {
		want := must(t, cat, nil, args...).stdout
		got := must(t, arch, nil, args...).stdout
		if args[0] == "--json" {
			var ops []journalOp
			if err := unmarshalLog(want, &ops); err != nil {
				t.Fatal(err)
			}
			if len(ops) != 4 {
				t.Fatalf("catalog journal has %d operations, want 4", len(ops))
			}
			b, _ := json.MarshalIndent(ops[1:], "", "  ") // without the import after the export
			var gotOps []journalOp
			if err := unmarshalLog(got, &gotOps); err != nil {
				t.Fatal(err)
			}
			g, _ := json.MarshalIndent(gotOps, "", "  ")
			if string(g) != string(b) {
				t.Errorf("archive log --json:\n%s\nwant:\n%s", g, b)
			}
			continue
		}
		// The text log: the same rows (column widths may differ), without
		// the import made after the export.
		gotRows, wantRows := logRows(got), logRows(want)
		if len(wantRows) < 2 || strings.Join(gotRows, "\n") != strings.Join(wantRows[1:], "\n") {
			t.Errorf("metactl --catalog X.mcar %v:\n%s\nwant the catalog's log at export:\n%s", args, got, want)
		}
	}
	var v struct {
		Generation uint64 `json:"generation"`
		OK         bool   `json:"ok"`
	}
	if err := json.Unmarshal([]byte(must(t, arch, nil, "--json", "verify").stdout), &v); err != nil {
		t.Fatal(err)
	}
	if v.Generation != 3 || !v.OK {
		t.Errorf("verify on the archive: generation %d ok %v, want generation 3 (exported at)", v.Generation, v.OK)
	}
}

// logRows returns the rows of a text log with their fields joined by one
// space, the operation lines only (those starting with a generation).
func logRows(s string) []string {
	var rows []string
	for _, l := range strings.Split(s, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0][0] >= '0' && f[0][0] <= '9' {
			rows = append(rows, strings.Join(f, " "))
		}
	}
	return rows
}
