package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// metactlStdin runs metactl with stdin as its standard input.
func metactlStdin(t *testing.T, catalogPath string, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "METACTL_CATALOG="+catalogLocation(catalogPath))
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestArchivePipes: 'export --archive -' writes the archive to stdout (no
// file named "-"); read-only commands take it as --catalog - or
// /dev/stdin from a pipe, import --archive - and copy --from - read it
// from stdin; --json with --archive - is a usage error.
func TestArchivePipes(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	cat := filepath.Join(work, "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	r := metactlIn(t, work, cat, nil, "export", "--archive", "-")
	if r.code != 0 || !strings.Contains(r.stderr, "wrote the archive to standard output") {
		t.Fatalf("export --archive -: %s", r)
	}
	arc := []byte(r.stdout)
	if _, err := os.Stat(filepath.Join(work, "-")); !os.IsNotExist(err) {
		t.Errorf("export --archive - wrote a file named -: %v", err)
	}
	if r := metactlIn(t, work, cat, nil, "--json", "export", "--archive", "-"); r.code != 2 {
		t.Errorf("--json export --archive -: %s", r)
	}
	want := must(t, cat, nil, "status").stdout
	wantLs := must(t, cat, nil, "ls").stdout
	for _, c := range []string{"-", "/dev/stdin"} {
		if r := metactlStdin(t, "", arc, "--catalog", c, "status"); r.code != 0 || r.stdout != want {
			t.Errorf("--catalog %s status from a pipe: %s\nwant %q", c, r, want)
		}
		if r := metactlStdin(t, "", arc, "--catalog", c, "ls"); r.code != 0 || r.stdout != wantLs {
			t.Errorf("--catalog %s ls from a pipe: %s", c, r)
		}
		if r := metactlStdin(t, "", arc, "--catalog", c, "verify"); r.code != 0 {
			t.Errorf("--catalog %s verify from a pipe: %s", c, r)
		}
	}
	imported := filepath.Join(t.TempDir(), "i.db")
	if r := metactlStdin(t, imported, arc, "import", "--archive", "-"); r.code != 0 {
		t.Errorf("import --archive -: %s", r)
	}
	if got := must(t, imported, nil, "status").stdout; got != want {
		t.Errorf("status after import --archive -: %q, want %q", got, want)
	}
	copied := filepath.Join(t.TempDir(), "copy.db")
	if r := metactlStdin(t, "", arc, "copy", "--from", "-", "--to", copied); r.code != 0 {
		t.Errorf("copy --from -: %s", r)
	}
	if got := must(t, copied, nil, "status").stdout; got != want {
		t.Errorf("status after copy --from -: %q, want %q", got, want)
	}
	// A process substitution (a named pipe or /dev/fd/N), through bash.
	out, err := exec.Command("bash", "-c", `"$0" --catalog <(cat "$1") status && "$0" copy --from <(cat "$1") --to "$2"`,
		binary, writeFile(t, arc), filepath.Join(t.TempDir(), "p.db")).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("archive from <(...): %v\n%s", err, out)
	}
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.mcar")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
