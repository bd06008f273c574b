package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// adapterStorage copies the first n files of the gzip sample into a new
// bucket folder and returns it with a command-adapter config for it, in
// which edit has changed the commands of export/testdata/local-gzip.yaml.
func adapterStorage(t *testing.T, n int, edit func(cfg string) string) (bucket, cfg string) {
	t.Helper()
	bucket = t.TempDir()
	sample := filepath.Join(repoRoot(t), "testdata", "sample-gzip", "metadata")
	os.MkdirAll(filepath.Join(bucket, "metadata"), 0o755)
	for _, name := range listDir(t, sample)[:n] {
		b, _ := os.ReadFile(filepath.Join(sample, name))
		os.WriteFile(filepath.Join(bucket, "metadata", name), b, 0o644)
	}
	tmpl, err := os.ReadFile(filepath.Join(repoRoot(t), "export", "testdata", "local-gzip.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl = bytes.ReplaceAll(tmpl, []byte("/nonexistent/metactl-test-folder"), []byte(bucket))
	edited := edit(string(tmpl))
	if edited == string(tmpl) {
		t.Fatal("config template changed: the edit did nothing")
	}
	cfg = filepath.Join(t.TempDir(), "adapter.yaml")
	os.WriteFile(cfg, []byte(edited), 0o644)
	return bucket, cfg
}

// hangOn makes the command key sleep (in a pipeline, so only a kill of
// the whole process group ends it) when cond holds, before its usual work.
func hangOn(key, cond string) func(string) string {
	return func(cfg string) string {
		return strings.Replace(cfg, "  "+key+": |\n", "  "+key+": |\n    if "+cond+"; then sleep 600 | cat; fi\n", 1)
	}
}

// TestAdapterTimeout: a hung command-adapter call (list, download, save)
// is killed after --adapter-timeout, named with its call and handle, and
// the import or drop-in fails whole: the catalog and the storage are as
// before.
func TestAdapterTimeout(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash:", err)
	}
	sample := filepath.Join(repoRoot(t), "testdata", "sample-gzip", "metadata")
	victim := listDir(t, sample)[3]
	cases := []struct {
		name, key, cond, want string
		args                  []string
	}{
		{"list", "list_metadata_files", "true", `command adapter list_metadata_files: no answer within 1s, process group killed`, []string{"import"}},
		{"open", "open_for_read", `[ "$FILE_HANDLE" = metadata/` + victim + ` ]`, `command adapter open_for_read "metadata/` + victim + `": no answer within 1s, process group killed`, []string{"import"}},
		{"open-dropin", "open_for_read", `[ "$FILE_HANDLE" = metadata/` + victim + ` ]`, `command adapter open_for_read "metadata/` + victim + `": no answer within 1s, process group killed`, []string{"compact", "--transaction-file-compact-factor", "2"}},
		{"save-dropin", "save_metadata_line", "true", `command adapter save_metadata_line "`, []string{"compact", "--transaction-file-compact-factor", "2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bucket, cfg := adapterStorage(t, 8, hangOn(tc.key, tc.cond))
			cat := filepath.Join(t.TempDir(), "c.db")
			must(t, cat, nil, "import", "--local-fs-dir", emptyStorage(t))
			before := catalogBytes(t, cat)
			storageBefore := listDir(t, filepath.Join(bucket, "metadata"))
			args := append(tc.args, "--command-adapter-config", cfg, "--adapter-timeout", "1s")
			r := metactl(t, cat, []string{"METACTL_NOW=1700000000"}, args...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("want exit 1 naming %q, got %s", tc.want, r)
			}
			if tc.name == "save-dropin" {
				// The catalog is the truth: the drop-in committed its
				// sync and compaction before publishing, and the next
				// run publishes what this one could not.
				return
			}
			if !bytes.Equal(before, catalogBytes(t, cat)) {
				t.Error("the failed command changed the catalog")
			}
			if got := listDir(t, filepath.Join(bucket, "metadata")); strings.Join(got, " ") != strings.Join(storageBefore, " ") {
				t.Errorf("storage changed: %v, was %v", got, storageBefore)
			}
		})
	}
}
