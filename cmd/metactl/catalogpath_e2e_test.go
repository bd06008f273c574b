package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCatalogPathMistakes: a folder, a metadata file, or an archive given to
// a write command as --catalog is named as the mistake it is (exit 2), not
// called a damaged catalog, and nothing is created or locked beside it
// (issue 8). An archive still serves read-only commands.
func TestCatalogPathMistakes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sample := filepath.Join(repoRoot(t), "testdata", "sample")
	cat := filepath.Join(dir, "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", sample)
	arc := filepath.Join(dir, "c.mcar")
	must(t, cat, nil, "export", "--archive", arc)
	meta := filepath.Join(sample, "metadata", "epoch_ending_0-0.meta")
	if _, err := os.Stat(meta); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "storage")
	os.Mkdir(folder, 0o755)

	isDir := "--catalog " + folder + " is a directory, not a catalog file (a storage folder goes to --local-fs-dir; the catalog is a file such as " + folder + "/metactl.db)"
	isArchive := "--catalog " + arc + " is an archive; read-only commands accept it, write commands need a catalog (metactl import --archive " + arc + ")"
	isMeta := "--catalog " + meta + " is a metadata file, not a catalog (import the storage folder that holds it with 'metactl import --local-fs-dir DIR')"
	for _, tc := range []struct {
		catalog string
		args    []string
		want    string
	}{
		{folder, []string{"status"}, isDir},
		{folder, []string{"import", "--local-fs-dir", sample}, isDir},
		{folder, []string{"compact"}, isDir},
		{arc, []string{"import", "--local-fs-dir", sample}, isArchive},
		{arc, []string{"compact"}, isArchive},
		{arc, []string{"cleanup", "--older-than", "1d"}, isArchive},
		{arc, []string{"undo", "1"}, isArchive},
		{meta, []string{"ls"}, isMeta},
		{meta, []string{"import", "--local-fs-dir", sample}, isMeta},
	} {
		r := metactl(t, cat, nil, append([]string{"--catalog", tc.catalog}, tc.args...)...)
		if r.code != 2 || strings.TrimSpace(r.stderr) != "metactl: "+tc.want {
			t.Errorf("--catalog %s %v: want exit 2 with %q, got %s", tc.catalog, tc.args, tc.want, r)
		}
	}
	for _, p := range []string{filepath.Join(folder, "metactl.db"), folder + ".lock", arc + ".lock", meta + ".lock"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a refused command left %s behind", p)
		}
	}
	r := must(t, cat, nil, "--catalog", arc, "status")
	if !strings.Contains(r.stdout, "latest_transaction_version: 58000000") {
		t.Errorf("status on the archive: %s", r)
	}
}
