package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONShapes pins the --json output of every command on the sample
// storage, with a fixed clock. The golden files testdata/golden/json-*.json
// are the documented shapes (README links them); a change to a shape shows
// up here and must be deliberate (-update).
func TestJSONShapes(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	storage := filepath.Join(work, "storage")
	if err := os.CopyFS(storage, os.DirFS(filepath.Join(repoRoot(t), "testdata", "sample"))); err != nil {
		t.Fatal(err)
	}
	cat := filepath.Join(work, "metactl.db")
	now := []string{"METACTL_NOW=1700000000"}
	later := []string{"METACTL_NOW=1700086401"}
	clean := func(s string) string { return strings.ReplaceAll(s, work, "$WORK") }
	run := func(name string, env []string, args ...string) {
		t.Helper()
		golden(t, "json-"+name+".json", clean(must(t, cat, env, append(args, "--json")...).stdout))
	}
	run("import", now, "import", "--local-fs-dir", storage)
	run("status", now, "status")
	run("read", now, "read", "metadata/transaction_0-0.meta", "metadata/identity.meta")
	run("compact-dry-run", now, "compact", "--dry-run", "--transaction-file-compact-factor", "30",
		"--epoch-ending-file-compact-factor", "30", "--state-snapshot-file-compact-factor", "30")
	run("compact", now, "compact", "--transaction-file-compact-factor", "30",
		"--epoch-ending-file-compact-factor", "30", "--state-snapshot-file-compact-factor", "30")
	must(t, cat, later, "compact", "--transaction-file-compact-factor", "30",
		"--epoch-ending-file-compact-factor", "30", "--state-snapshot-file-compact-factor", "30")
	run("ls", now, "ls", "--state", "live")
	run("verify", now, "verify")
	run("plan", now, "plan", "--target-version", "5000000")
	run("export", now, "export", "--local-fs-dir", filepath.Join(work, "out"))
	run("export-archive", now, "export", "--archive", filepath.Join(work, "c.mcar"))
	run("cleanup", []string{"METACTL_NOW=1700900000"}, "cleanup", "--older-than", "7d")
	// After cleanup: what an export --prune would remove.
	run("export-prune-dry-run", now, "export", "--local-fs-dir", filepath.Join(work, "out"), "--prune", "--dry-run")
	gen := fmt.Sprint(stateOf(t, cat).Generation)
	run("undo-dry-run", []string{"METACTL_NOW=1700900100"}, "undo", gen, "--dry-run")
	run("undo", []string{"METACTL_NOW=1700900100"}, "undo", gen)
	run("log", now, "log", "-n", "2")
	// The drop-in compaction's storage side.
	run("compact-drop-in", []string{"METACTL_NOW=1700990000"}, "compact", "--local-fs-dir", storage, "--transaction-file-compact-factor", "30",
		"--epoch-ending-file-compact-factor", "30", "--state-snapshot-file-compact-factor", "30")
}
