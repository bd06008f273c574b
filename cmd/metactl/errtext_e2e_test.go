package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stutter returns the word that begins two ": "-separated parts of msg
// ("export: export: x" and "import: list: list metadata: x" stutter on
// "export" and "list"), or "" if every part begins with its own word.
func stutter(msg string) string {
	seen := map[string]bool{}
	parts := strings.Split(msg, ": ")
	for _, part := range parts[:len(parts)-1] { // the prefixes: each ends in ": "
		word, _, _ := strings.Cut(strings.TrimSpace(part), " ")
		if word == "" || strings.ContainsAny(word[:1], "/0123456789\"`'-") {
			continue
		}
		if seen[word] {
			return word
		}
		seen[word] = true
	}
	return ""
}

func TestStutter(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]string{
		"metactl: export: export: /x/metadata is not a directory":  "export",
		"metactl: import: list: list metadata: permission denied":  "list",
		"metactl: compact: import metadata/a.meta:1:2: bad":        "",
		"export: local storage x: not a storage folder: not a dir": "",
	} {
		if got := stutter(msg); got != want {
			t.Errorf("stutter(%q) = %q, want %q", msg, got, want)
		}
	}
}

// TestErrorTextsNameTheirOperationOnce runs the CLI's error paths: each
// message is exact, names its operation once (no word-and-colon prefix
// repeats), and a drop-in compaction's failure says compact.
func TestErrorTextsNameTheirOperationOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sample := filepath.Join(repoRoot(t), "testdata", "sample")
	cat := filepath.Join(dir, "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", sample)
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	metaFile := filepath.Join(dir, "metafile")
	os.Mkdir(metaFile, 0o755)
	os.WriteFile(filepath.Join(metaFile, "metadata"), nil, 0o644)
	bad := writeStorage(t, map[string]string{"metadata/transaction_5-6.meta": `{"bad":1}` + "\n"})
	noBackup := writeStorage(t, map[string]string{"metadata/transaction_0-0.meta": `{"TransactionBackup":{"first_version":0,"last_version":0,"manifest":"t/0"}}` + "\n"})
	os.WriteFile(filepath.Join(noBackup, "metadata_backup"), nil, 0o644)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", "--local-fs-dir", file}, 3,
			"export: local storage " + file + ": not a backup storage folder: not a directory (expected a folder holding metadata/ and metadata_backup/)"},
		{[]string{"export", "--local-fs-dir", metaFile}, 1,
			"export: " + metaFile + "/metadata is not a directory (a regular file)"},
		{[]string{"read", "metadata/nope.meta"}, 6,
			`read: file "metadata/nope.meta" is not in the catalog (see 'metactl ls'): not found`},
		{[]string{"compact", "--local-fs-dir", bad}, 3,
			"compact: import metadata/transaction_5-6.meta:1:2: unknown variant `bad`, expected one of `EpochEndingBackup`, `StateSnapshotBackup`, `TransactionBackup`, `Identity`, `CompactionTimestamps`"},
		{[]string{"compact", "--local-fs-dir", noBackup}, 1,
			"compact: import: list metadata_backup: open " + noBackup + "/metadata_backup: not a directory"},
	} {
		r := metactl(t, cat, nil, tc.args...)
		msg := strings.TrimSuffix(strings.TrimPrefix(r.stderr, "metactl: "), "\n")
		if r.code != tc.code || msg != tc.want {
			t.Errorf("metactl %s:\n%s\nwant exit %d and message:\n%s", strings.Join(tc.args, " "), r, tc.code, tc.want)
		}
		if w := stutter(msg); w != "" {
			t.Errorf("metactl %s: %q repeats %q:", strings.Join(tc.args, " "), msg, w)
		}
		if tc.args[0] == "compact" && !strings.HasPrefix(msg, "compact: ") {
			t.Errorf("metactl %s: %q does not say compact", strings.Join(tc.args, " "), msg)
		}
	}
}
