package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// otherID is an identity no sample file holds: another chain's.
const otherID = "0000000000000000000000000000000000000000000000000000000000000b0b"

// treeDigest returns one line per file under dir: path and SHA-256, sorted,
// so a test can tell "nothing changed" exactly.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		lines = append(lines, fmt.Sprintf("%s %x", rel, sha256.Sum256(b)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// otherChain turns the storage folder dir (a copy of the sample) into
// another chain's: another identity, and other content in
// transaction_0-0.meta. gz writes them gzip, as bucket objects.
func otherChain(t *testing.T, dir string, gz bool) {
	t.Helper()
	write := func(name, content string) {
		b := []byte(content)
		if gz {
			b = gzipBytes(t, b)
		}
		if err := os.WriteFile(filepath.Join(dir, "metadata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("identity.meta", `{"Identity":{"id":"`+otherID+`"}}`+"\n")
	write("transaction_0-0.meta", `{"TransactionBackup":{"first_version":0,"last_version":0,"manifest":"other-chain/transaction_0-0/transaction.manifest"}}`+"\n")
}

// TestExportRefusesAnotherChainFolder: a catalog of storage A exported to
// a folder of another chain (other identity.meta, other content under a
// name the catalog owns) exits 3 naming both files and changes nothing;
// --dry-run says the same; --force publishes and lists what it replaced.
func TestExportRefusesAnotherChainFolder(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	b := t.TempDir()
	copyTree(t, filepath.Join(repoRoot(t), "testdata", "sample"), b)
	otherChain(t, b, false)
	before := treeDigest(t, b)
	for _, extra := range [][]string{nil, {"--dry-run"}, {"--prune"}} {
		r := metactl(t, cat, nil, append([]string{"export", "--local-fs-dir", b}, extra...)...)
		if r.code != 3 || !strings.Contains(r.stderr, "metadata/identity.meta: identity "+otherID) ||
			!strings.Contains(r.stderr, "metadata/transaction_0-0.meta: content") || !strings.Contains(r.stderr, "--force") {
			t.Errorf("export %v to another chain's folder: %s", extra, r)
		}
		if got := treeDigest(t, b); got != before {
			t.Fatalf("export %v to another chain's folder changed it:\n%s\nwant\n%s", extra, got, before)
		}
	}
	r := must(t, cat, nil, "export", "--local-fs-dir", b, "--force", "--dry-run")
	if !strings.Contains(r.stdout, "would override metadata/identity.meta (--force): identity "+otherID) || treeDigest(t, b) != before {
		t.Errorf("export --force --dry-run: %s", r)
	}
	r = must(t, cat, nil, "export", "--local-fs-dir", b, "--force")
	for _, want := range []string{"overrode metadata/identity.meta (--force)", "overrode metadata/transaction_0-0.meta (--force)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("export --force: %s\nwant %q", r, want)
		}
	}
	if got, want := treeDigest(t, filepath.Join(b, "metadata")), treeDigest(t, filepath.Join(repoRoot(t), "testdata", "sample", "metadata")); got != want {
		t.Errorf("after export --force the folder is not the catalog's:\n%s", got)
	}
}

// TestExportRefusesAnotherChainAdapter: the same through a command
// adapter, where the export would move the other chain's live files to
// metadata_backup/ (the catalog compacted and moved them): exit 3 naming
// the identity file, nothing moved or saved; --force moves them.
func TestExportRefusesAnotherChainAdapter(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	args := []string{"compact", "--epoch-ending-file-compact-factor", "100", "--state-snapshot-file-compact-factor", "100",
		"--transaction-file-compact-factor", "100", "--remove-compacted-file-after", "60"}
	must(t, cat, []string{"METACTL_NOW=1700000000"}, args...)
	must(t, cat, []string{"METACTL_NOW=1700000100"}, args...) // the originals move
	bucket, config := adapterBucket(t)
	otherChain(t, bucket, true)
	before := treeDigest(t, bucket)
	for _, extra := range [][]string{nil, {"--dry-run"}} {
		r := metactl(t, cat, nil, append([]string{"export", "--command-adapter-config", config}, extra...)...)
		if r.code != 3 || !strings.Contains(r.stderr, "metadata/identity.meta: identity "+otherID) ||
			!strings.Contains(r.stderr, "metadata/transaction_0-0.meta: content") {
			t.Errorf("export %v through an adapter to another chain's bucket: %s", extra, r)
		}
		if got := treeDigest(t, bucket); got != before {
			t.Fatalf("export %v changed the other chain's bucket", extra)
		}
	}
	r := must(t, cat, nil, "export", "--command-adapter-config", config, "--force")
	if !strings.Contains(r.stdout, "overrode metadata/identity.meta (--force)") {
		t.Errorf("export --force through an adapter: %s", r)
	}
	if _, err := os.Stat(filepath.Join(bucket, "metadata_backup", "identity.meta")); err != nil {
		t.Errorf("export --force did not move the identity file: %v", err)
	}
}

// TestUndoThenPruneThenImport: after an undo of a compaction that was
// exported, export --prune removes the compaction's files from the storage
// (their content has the deleted SHA-256), and a following import changes
// nothing: the catalog and the storage stay as the undo left them. Before
// the prune, an import does not take the undone files back either.
func TestUndoThenPruneThenImport(t *testing.T) {
	t.Parallel()
	s := t.TempDir()
	copyTree(t, filepath.Join(repoRoot(t), "testdata", "sample"), s)
	original := treeDigest(t, s)
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", s)
	must(t, cat, []string{"METACTL_NOW=1700000000"}, "compact", "--epoch-ending-file-compact-factor", "100",
		"--state-snapshot-file-compact-factor", "100", "--transaction-file-compact-factor", "100")
	must(t, cat, nil, "export", "--local-fs-dir", s)
	if treeDigest(t, s) == original {
		t.Fatal("test setup: the export wrote nothing")
	}
	must(t, cat, nil, "undo", "2")
	afterUndo := must(t, cat, nil, "ls", "-l").stdout
	r := must(t, cat, nil, "--json", "import", "--local-fs-dir", s)
	if !strings.Contains(r.stdout, `"changed": false`) || !strings.Contains(r.stdout, `"metadata/compaction_timestamps_1700000000.meta"`) {
		t.Errorf("import after the undo, before the prune: %s", r.stdout)
	}
	r = must(t, cat, nil, "export", "--local-fs-dir", s, "--prune")
	for _, h := range []string{"metadata/compaction_timestamps_1700000000.meta", "metadata/transaction_compacted_0-58000000.meta"} {
		if !strings.Contains(r.stdout, "removed "+h) {
			t.Errorf("export --prune after the undo: %s\nwant %s removed", r, h)
		}
	}
	if got := treeDigest(t, s); got != original {
		t.Errorf("storage after undo and export --prune:\n%s\nwant the storage before the compaction", got)
	}
	r = must(t, cat, nil, "import", "--local-fs-dir", s)
	if !strings.Contains(r.stdout, "nothing changed") {
		t.Errorf("import after export --prune: %s", r)
	}
	if got := must(t, cat, nil, "ls", "-l").stdout; got != afterUndo {
		t.Errorf("catalog after prune and import:\n%s\nwant as the undo left it:\n%s", got, afterUndo)
	}
	if got := treeDigest(t, s); got != original {
		t.Errorf("storage after the import changed")
	}
}
