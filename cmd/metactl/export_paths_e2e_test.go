package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// treeState maps every path under dir to its mode, mtime and content: two
// equal states mean nothing was written, moved, removed or touched.
func treeState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		v := info.Mode().String() + " " + info.ModTime().UTC().Format(time.RFC3339Nano)
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameState(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// sampleCatalog imports testdata/sample into a new catalog.
func sampleCatalog(t *testing.T) string {
	t.Helper()
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	return cat
}

// TestExportRefusesFolderWithoutMetadata: export into a folder that holds
// other things but no metadata/ exits 3 naming it and what was expected,
// and writes nothing there (issue 8 point 3).
func TestExportRefusesFolderWithoutMetadata(t *testing.T) {
	t.Parallel()
	cat := sampleCatalog(t)
	x := t.TempDir()
	if err := os.WriteFile(filepath.Join(x, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := treeState(t, x)
	for _, extra := range [][]string{nil, {"--dry-run"}, {"--prune"}} {
		r := metactl(t, cat, nil, append([]string{"export", "--local-fs-dir", x}, extra...)...)
		want := "metactl: export: local storage " + x + ": not a backup storage folder: it is not empty and has no metadata/ folder (expected an empty folder for a new storage, or a LocalFs backup storage folder holding metadata/ and metadata_backup/)\n"
		if r.code != 3 || r.stderr != want {
			t.Errorf("export %v: want exit 3 and\n%s got %s", extra, want, r)
		}
	}
	if after := treeState(t, x); !sameState(after, before) {
		t.Errorf("refused export changed the folder: %v", after)
	}
}

// TestExportRefusesMetadataFolderItself: a --local-fs-dir naming the
// metadata/ or metadata_backup/ folder is refused with the parent
// suggested, for export and for the drop-in compaction, dry run included;
// nothing lands in metadata/metadata/.
func TestExportRefusesMetadataFolderItself(t *testing.T) {
	t.Parallel()
	cat := sampleCatalog(t)
	s := t.TempDir()
	must(t, cat, nil, "export", "--local-fs-dir", s)
	before := treeState(t, s)
	for _, sub := range []string{"metadata", "metadata_backup"} {
		for _, args := range [][]string{
			{"export", "--local-fs-dir", filepath.Join(s, sub)},
			{"export", "--dry-run", "--local-fs-dir", filepath.Join(s, sub)},
			{"compact", "--dry-run", "--local-fs-dir", filepath.Join(s, sub)},
		} {
			r := metactl(t, cat, nil, args...)
			want := "local storage " + filepath.Join(s, sub) + ": not a backup storage folder: it is the " + sub + "/ folder itself; give the folder that holds it: --local-fs-dir " + s + "\n"
			if r.code != 3 || !strings.HasSuffix(r.stderr, want) {
				t.Errorf("%v: want exit 3 ending in\n%s got %s", args, want, r)
			}
		}
	}
	if after := treeState(t, s); !sameState(after, before) {
		t.Error("a refused command changed the storage")
	}
}

// TestExportCreatesNewStorage: a missing or empty folder is a new storage:
// export creates metadata/ and writes every file.
func TestExportCreatesNewStorage(t *testing.T) {
	t.Parallel()
	cat := sampleCatalog(t)
	for name, dir := range map[string]string{"missing": filepath.Join(t.TempDir(), "new"), "empty": t.TempDir()} {
		r := must(t, cat, nil, "export", "--local-fs-dir", dir)
		if !strings.Contains(r.stdout, "96 written") {
			t.Errorf("%s folder: %s", name, r)
		}
		if n := len(listDir(t, filepath.Join(dir, "metadata"))); n != 96 {
			t.Errorf("%s folder: metadata/ holds %d files, want 96", name, n)
		}
	}
}

// TestCompactDryRunRefusesFolderWithoutMetadata: the drop-in's dry run
// checks the path as the real run does (exit 3, nothing created).
func TestCompactDryRunRefusesFolderWithoutMetadata(t *testing.T) {
	t.Parallel()
	cat := sampleCatalog(t)
	x := t.TempDir()
	r := metactl(t, cat, nil, "compact", "--dry-run", "--local-fs-dir", x)
	want := "metactl: compact: local storage " + x + ": not a backup storage folder: it has no metadata/ folder (expected a LocalFs backup storage folder holding metadata/ and metadata_backup/)\n"
	if r.code != 3 || r.stderr != want {
		t.Errorf("want exit 3 and\n%s got %s", want, r)
	}
	if ents, _ := os.ReadDir(x); len(ents) != 0 {
		t.Errorf("dry run wrote into the folder: %v", ents)
	}
}

// TestCompactEmptyCatalogWritesNothing: a drop-in compaction of an empty
// storage has nothing to compact or timestamp and writes nothing into it
// (issue 8: it used to write a compaction_timestamps file).
func TestCompactEmptyCatalogWritesNothing(t *testing.T) {
	t.Parallel()
	s := emptyStorage(t)
	cat := filepath.Join(t.TempDir(), "c.db")
	before := treeState(t, s)
	for _, extra := range [][]string{nil, {"--dry-run"}, {"--json"}} {
		r := must(t, cat, []string{"METACTL_NOW=1700000000"}, append([]string{"compact", "--local-fs-dir", s}, extra...)...)
		if len(extra) == 0 && !strings.Contains(r.stdout, "nothing to compact: the catalog has no live files; nothing written\n") {
			t.Errorf("output: %s", r)
		}
		if len(extra) == 1 && extra[0] == "--json" && !strings.Contains(r.stdout, `"published": null`) {
			t.Errorf("json: %s", r)
		}
	}
	if after := treeState(t, s); !sameState(after, before) {
		t.Errorf("compaction of an empty catalog changed the storage: %v", after)
	}
}

// TestExportKeepsNewBackup is issue 8's first report: a file the backup
// coordinator wrote after the import is kept by export --prune and named
// as new (run import), on stdout as "kept" and as a warning on stderr;
// --dry-run prints every write and changes nothing.
func TestExportKeepsNewBackup(t *testing.T) {
	t.Parallel()
	cat := sampleCatalog(t)
	dir := t.TempDir()
	must(t, cat, nil, "export", "--local-fs-dir", dir)
	newFile := filepath.Join(dir, "metadata", "transaction_99000000-99999999.meta")
	line := `{"TransactionBackup":{"first_version":99000000,"last_version":99999999,"manifest":"transaction_99000000-.1234/transaction.manifest"}}` + "\n"
	if err := os.WriteFile(newFile, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "metadata", "identity.meta")) // one write to do
	before := treeState(t, dir)

	r := must(t, cat, nil, "export", "--local-fs-dir", dir, "--prune", "--dry-run")
	for _, want := range []string{
		"would write metadata/identity.meta\n",
		"kept metadata/transaction_99000000-99999999.meta: new in the storage, not in the catalog: run import\n",
		"dry run of generation 1 to " + dir + ": would write 1, move 0, remove 0; 95 unchanged, 1 kept; nothing changed\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run: no %q in %s", want, r)
		}
	}
	if after := treeState(t, dir); !sameState(after, before) {
		t.Error("export --dry-run changed the folder")
	}

	r = must(t, cat, nil, "export", "--local-fs-dir", dir, "--prune")
	wantOut := "kept metadata/transaction_99000000-99999999.meta: new in the storage, not in the catalog: run import\n" +
		"exported generation 1 to " + dir + ": 1 written, 0 moved, 95 unchanged, 0 removed, 1 kept\n"
	wantErr := "metactl: warning: 1 metadata file in " + dir + " is not in the catalog: run 'metactl import' (the drop-in compaction imports them first)\n"
	if r.stdout != wantOut || r.stderr != wantErr {
		t.Errorf("export --prune:\n%s\nwant stdout\n%swant stderr\n%s", r, wantOut, wantErr)
	}
	if b, err := os.ReadFile(newFile); err != nil || string(b) != line {
		t.Fatalf("export --prune lost the new backup: %q, %v", b, err)
	}
}

// TestDropInReportsStorage: the drop-in compaction says what it did to the
// storage (synced, written, moved) in text and JSON, and its --dry-run
// covers the storage: it changes nothing there, and lists exactly the
// writes and moves the real run then does (issue 10 point 1).
func TestDropInReportsStorage(t *testing.T) {
	t.Parallel()
	s := t.TempDir()
	if err := os.CopyFS(s, os.DirFS(filepath.Join(repoRoot(t), "testdata", "sample"))); err != nil {
		t.Fatal(err)
	}
	cat := filepath.Join(t.TempDir(), "c.db")
	factors := []string{"--transaction-file-compact-factor", "30", "--epoch-ending-file-compact-factor", "30", "--state-snapshot-file-compact-factor", "30"}
	run := func(now string, extra ...string) result {
		return must(t, cat, []string{"METACTL_NOW=" + now}, append(append([]string{"compact", "--local-fs-dir", s}, factors...), extra...)...)
	}
	r := run("1700000000")
	for _, want := range []string{
		"synced " + s + ": 96 added, 0 moved, 0 unchanged\n",
		"storage " + s + ": 5 written, 0 moved, 96 unchanged, 0 kept\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("first run: no %q in %s", want, r)
		}
	}

	// A day later the originals expire: the dry run shows the moves.
	later := "1700086401"
	before := treeState(t, s)
	dry := run(later, "--dry-run", "--json")
	if after := treeState(t, s); !sameState(after, before) {
		t.Fatal("compact --dry-run changed the storage")
	}
	text := run(later, "--dry-run")
	for _, want := range []string{
		"dry run: synced " + s + " into a scratch copy of the catalog: 0 added, 0 moved, 101 unchanged (the catalog is unchanged)\n",
		"would write metadata/compaction_timestamps_1700086401.meta\n",
		"would move metadata/epoch_ending_0-0.meta to metadata_backup/\n",
		"storage " + s + ": would write 1, move 96; 5 unchanged, 0 kept\n",
	} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("dry run: no %q in %s", want, text)
		}
	}
	if after := treeState(t, s); !sameState(after, before) {
		t.Fatal("compact --dry-run changed the storage")
	}
	real := run(later, "--json")
	type doc struct {
		Storage struct {
			Published struct {
				Written, Moved []string
			}
		}
	}
	var d, w doc
	decodeJSON(t, dry.stdout, &d)
	decodeJSON(t, real.stdout, &w)
	if strings.Join(d.Storage.Published.Written, ",") != strings.Join(w.Storage.Published.Written, ",") ||
		strings.Join(d.Storage.Published.Moved, ",") != strings.Join(w.Storage.Published.Moved, ",") || len(w.Storage.Published.Moved) == 0 {
		t.Errorf("dry run promised %+v, the real run did %+v", d.Storage.Published, w.Storage.Published)
	}
	if n := len(listDir(t, filepath.Join(s, "metadata_backup"))); n != len(w.Storage.Published.Moved) {
		t.Errorf("metadata_backup/ holds %d files, the run reported %d moves", n, len(w.Storage.Published.Moved))
	}
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}

// TestExportArchiveIntoMissingFolder: an archive whose folder does not
// exist (or is a file) is refused naming that folder, not the temporary
// file metactl would have written beside the archive.
func TestExportArchiveIntoMissingFolder(t *testing.T) {
	t.Parallel()
	cat := sampleCatalog(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ archive, want string }{
		{filepath.Join(dir, "nodir", "a.mcar"), "metactl: export: archive " + filepath.Join(dir, "nodir", "a.mcar") + ": folder " + filepath.Join(dir, "nodir") + ": no such file or directory\n"},
		{filepath.Join(file, "a.mcar"), "metactl: export: archive " + filepath.Join(file, "a.mcar") + ": " + file + " is not a directory\n"},
	} {
		r := metactl(t, cat, nil, "export", "--archive", tt.archive)
		if r.code != 1 || r.stderr != tt.want {
			t.Errorf("export --archive %s:\n%s\nwant exit 1, stderr %q", tt.archive, r, tt.want)
		}
	}
}
