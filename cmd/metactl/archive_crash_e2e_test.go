package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scratchLeft lists what metactl left in a TMPDIR.
func scratchLeft(t *testing.T, tmp string) []string {
	t.Helper()
	es, _ := os.ReadDir(tmp)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestBadArchiveAsCatalog: a truncated or hostile archive given as
// --catalog to every read-only command and to serve exits 3 with a
// message naming the archive, never a panic, and leaves nothing in TMPDIR.
func TestBadArchiveAsCatalog(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	dir := t.TempDir()
	good := filepath.Join(dir, "good.mcar")
	must(t, cat, nil, "export", "--archive", good)
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(i*7919 + i/13)
	}
	cases := map[string][]byte{
		"magic-only":   b[:4],
		"header-only":  b[:min(64, len(b))],
		"half":         b[:len(b)/2],
		"last-byte":    b[:len(b)-1],
		"noise":        append(append([]byte{}, b[:64]...), noise...),
		"flipped-tail": append(append([]byte{}, b[:len(b)-40]...), noise[:40]...),
	}
	for name, content := range cases {
		arc := filepath.Join(dir, name+".mcar")
		os.WriteFile(arc, content, 0o644)
		for _, args := range [][]string{{"status"}, {"ls"}, {"verify"}, {"log"}, {"plan"}, {"read", "identity.meta"},
			{"export", "--local-fs-dir", t.TempDir()}, {"serve", "--listen", "127.0.0.1:0"}} {
			tmp := t.TempDir()
			r := metactl(t, arc, []string{"TMPDIR=" + tmp}, args...)
			if r.code != 3 || !strings.Contains(r.stderr, `archive "`+arc+`"`) || strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
				t.Errorf("%s %s: %s", name, args[0], r)
			}
			if left := scratchLeft(t, tmp); len(left) > 0 {
				t.Errorf("%s %s left %v in TMPDIR", name, args[0], left)
			}
		}
	}
}

// TestKilledServeLeavesNoArchiveFolder: serve on an archive unpacks it into
// a folder named by its process; after a SIGKILL the folder is still
// there, and the next metactl that unpacks an archive removes it.
func TestKilledServeLeavesNoArchiveFolder(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	arc := filepath.Join(t.TempDir(), "c.mcar")
	must(t, cat, nil, "export", "--archive", arc)
	tmp := t.TempDir()
	cmd := exec.Command(binary, "--catalog", arc, "serve", "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := stderr.Read(buf) // "serve: listening on ...": unpacked
	if !strings.Contains(string(buf[:n]), "listening on") {
		t.Fatalf("serve: %s", buf[:n])
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	left := scratchLeft(t, tmp)
	if len(left) == 0 {
		t.Fatalf("no folder after the kill: the test proves nothing")
	}
	time.Sleep(10 * time.Millisecond)
	r := must(t, arc, []string{"TMPDIR=" + tmp}, "ls")
	if after := scratchLeft(t, tmp); len(after) > 0 {
		t.Errorf("after the next run: %v left (the killed serve left %v)\n%s", after, left, r)
	}
}
