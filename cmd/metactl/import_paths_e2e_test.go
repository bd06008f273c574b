package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportRefusesFolderWithoutMetadata: import --local-fs-dir X where X
// has no metadata/ exits 3 naming X and what was expected, and creates no
// catalog (issue 8: a wrong path used to import "0 files" into a new, empty
// catalog).
func TestImportRefusesFolderWithoutMetadata(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	x := t.TempDir()
	for _, cmd := range [][]string{
		{"import", "--local-fs-dir", x},
		{"compact", "--local-fs-dir", x},
	} {
		r := metactl(t, cat, nil, cmd...)
		want := "local storage " + x + ": not a backup storage folder: it has no metadata/ folder (expected a LocalFs backup storage folder holding metadata/ and metadata_backup/)"
		if r.code != 3 || !strings.Contains(r.stderr, want) {
			t.Errorf("%v: want exit 3 with %q, got %s", cmd, want, r)
		}
		if catalogExists(t, cat) {
			t.Fatalf("%v created the catalog", cmd)
		}
		if ents, _ := os.ReadDir(x); len(ents) != 0 {
			t.Fatalf("%v wrote into the storage folder: %v", cmd, ents)
		}
	}
}

// TestImportRefusesMetadataFolderItself: a --local-fs-dir that names the
// metadata/ or metadata_backup/ folder is refused, suggesting the parent.
func TestImportRefusesMetadataFolderItself(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	s := t.TempDir()
	addEpoch(t, s, 0)
	os.MkdirAll(filepath.Join(s, "metadata_backup"), 0o755)
	for _, sub := range []string{"metadata", "metadata_backup"} {
		for _, cmd := range []string{"import", "compact"} {
			r := metactl(t, cat, nil, cmd, "--local-fs-dir", filepath.Join(s, sub))
			want := "it is the " + sub + "/ folder itself; give the folder that holds it: --local-fs-dir " + s
			if r.code != 3 || !strings.Contains(r.stderr, want) {
				t.Errorf("%s %s: want exit 3 with %q, got %s", cmd, sub, want, r)
			}
		}
	}
	if catalogExists(t, cat) {
		t.Fatal("a refused import created the catalog")
	}
	if _, err := os.Stat(filepath.Join(s, "metadata", "metadata")); err == nil {
		t.Fatal("compact wrote into metadata/metadata")
	}
}

// emptyStorage returns a LocalFs storage folder with an empty metadata/.
func emptyStorage(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "metadata"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestFirstImportOfBadInputCreatesNoCatalog: bad input refused on a first
// import (exit 3, every problem named) leaves no catalog and no lock file:
// it is refused from the read batch, before the catalog is opened.
func TestFirstImportOfBadInputCreatesNoCatalog(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	bad := writeStorage(t, map[string]string{
		"metadata/transaction_0-0.meta": `{"TransactionBackup":{"first_version":0,"last_version":0}}` + "\n",
	})
	r := metactl(t, cat, nil, "import", "--local-fs-dir", bad)
	if r.code != 3 || !strings.Contains(r.stderr, "import metadata/transaction_0-0.meta:1:57: missing field `manifest`") {
		t.Fatalf("want exit 3 naming the line: %s", r)
	}
	for _, p := range []string{cat, cat + ".lock"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a refused first import left %s behind", p)
		}
	}
}

// TestCompactSyncErrorNamesCompact: a drop-in compaction whose storage
// cannot be listed names the command once and the storage's operation once
// (issue 7: it read "metactl: import: list: list metadata: ..."), and
// creates no catalog.
func TestCompactSyncErrorNamesCompact(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "failing.yaml")
	os.WriteFile(cfg, []byte("env_vars: []\ncommands:\n  create_backup: 'false'\n  create_for_write: 'false'\n  open_for_read: 'false'\n"+
		"  save_metadata_line: 'false'\n  list_metadata_files: 'echo AccessDenied >&2; exit 1'\n"), 0o644)
	cat := filepath.Join(t.TempDir(), "c.db")
	r := metactl(t, cat, nil, "compact", "--command-adapter-config", cfg)
	want := "metactl: compact: import: command adapter list_metadata_files: exit status 1: AccessDenied\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("got %s\nwant exit 1 and stderr %q", r, want)
	}
	if _, err := os.Stat(cat); err == nil {
		t.Error("a failed storage listing created the catalog")
	}
}

// TestImportListsAreBounded: an import from a storage that lists few of
// the catalog's files names at most 20 of the rest in its text output
// (one line of megabytes at 100k files before) and says how many more;
// --json lists them all.
func TestImportListsAreBounded(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	big, small := t.TempDir(), t.TempDir()
	for e := range uint64(10) { // 30 files
		addEpoch(t, big, e)
	}
	addEpoch(t, small, 10)
	must(t, cat, nil, "import", "--local-fs-dir", big)
	r := must(t, cat, nil, "import", "--local-fs-dir", small)
	var line string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "kept, no longer listed by the storage") {
			line = l
		}
	}
	if !strings.HasPrefix(line, "kept, no longer listed by the storage (30): ") || !strings.HasSuffix(line, ", and 10 more (--json lists them all)") ||
		strings.Count(line, "metadata/") != 20 {
		t.Errorf("want 20 of 30 names and the count of the rest, got %q", line)
	}
	r = must(t, cat, nil, "import", "--local-fs-dir", small, "--json")
	if n := strings.Count(r.stdout, `"metadata/epoch_ending_`); n != 10 {
		t.Errorf("--json: %d epoch_ending names, want all 10:\n%s", n, r.stdout)
	}
}
