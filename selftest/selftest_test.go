//go:build unix

package selftest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "selftest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "metactl")
	build := exec.Command("go", "build", "-o", binary, "../cmd/metactl")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build metactl:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestCheckVersion(t *testing.T) {
	v7 := version(7)
	mixed := append(append([]byte(nil), version(8)[:1000]...), v7[1000:]...)
	tests := []struct {
		name string
		b    []byte
		want string // "" = version 7
	}{
		{"whole", v7, ""},
		{"empty", nil, "0 bytes without a trailer"},
		{"short", v7[:len(v7)-40], "262113 bytes, trailer \"0000000\""},
		{"mixed", mixed, "version 7 mixed with another"},
		{"no trailer", bytes.Repeat([]byte("x"), 10), "10 bytes without a trailer"},
	}
	for _, tt := range tests {
		n, err := checkVersion(tt.b)
		switch {
		case tt.want == "" && (err != nil || n != 7):
			t.Errorf("%s: %d, %v", tt.name, n, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestPartial(t *testing.T) {
	want := map[string][]byte{
		"metadata/a_compacted.meta":  []byte("ab\n"),
		"metadata_backup/a.meta":     []byte("a\n"),
		"metadata/new.meta":          []byte("n\n"),
		"metadata_backup/other.meta": []byte("o\n"),
	}
	tests := []struct {
		name string
		got  map[string][]byte
		want string
	}{
		{"complete", want, ""},
		{"before the moves", map[string][]byte{"metadata/a.meta": []byte("a\n"), "metadata/a_compacted.meta": []byte("ab\n")}, ""},
		{"partial file", map[string][]byte{"metadata/a_compacted.meta": []byte("a")}, "metadata/a_compacted.meta is partial or differs (1 bytes, a complete export writes 3)"},
		{"stray file", map[string][]byte{"metadata/.tmp-1": []byte("a")}, "metadata/.tmp-1 is not in a complete export"},
		{"moved file changed", map[string][]byte{"metadata/a.meta": []byte("x\n")}, "metadata/a.meta is not in a complete export"},
	}
	for _, tt := range tests {
		if got := partial(tt.got, want); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestHelperFlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	if err := Helper(t.Context(), []string{"flock-try", path}, &out); err != nil || out.String() != "acquired\n" {
		t.Fatalf("free lock: %q, %v", out.String(), err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	// A second open file description in this process conflicts too.
	if err := Helper(t.Context(), []string{"flock-try", path}, &out); err != nil || out.String() != "busy\n" {
		t.Fatalf("held lock: %q, %v", out.String(), err)
	}
	if err := Helper(t.Context(), []string{"nonsense"}, &out); err == nil || err.Error() != `selftest-helper: unknown probe "nonsense"` {
		t.Errorf("unknown probe: %v", err)
	}
}

func runQuick(t *testing.T, dir, bin string) *Report {
	t.Helper()
	rep, err := Run(t.Context(), Options{Dir: dir, Binary: bin, Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Removed {
		t.Errorf("scratch folder %s not removed", rep.Scratch)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%s holds %d entries after the run, want none", dir, len(ents))
	}
	return rep
}

// TestRunReportsFailure: a metactl whose failpoints never fire (a wrapper
// that drops METACTL_FAILPOINT, as a build without failpoints would) makes
// every crash property FAIL, saying the child was not killed, while the
// filesystem probes pass. (The lock probes hold the lock with a sleep
// failpoint: without it their outcome depends on timing, so they are not
// asserted here.)
func TestRunReportsFailure(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash")
	}
	wrapper := filepath.Join(t.TempDir(), "metactl-no-failpoints")
	script := "#!/bin/bash\nunset METACTL_FAILPOINT\nexec " + binary + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	rep := runQuick(t, t.TempDir(), wrapper)
	if rep.Pass {
		t.Fatal("the run passed without failpoints")
	}
	for _, p := range rep.Properties {
		if p.Name == "writer-lock" || p.Name == "reader-beside-writer" {
			continue
		}
		crash := strings.HasPrefix(p.Name, "crash-")
		if p.Pass == crash {
			t.Errorf("%s: pass %v: %s", p.Name, p.Pass, p.Detail)
		}
		if crash && !strings.Contains(p.Detail, "the child was not killed") {
			t.Errorf("%s: detail %q does not say the child was not killed", p.Name, p.Detail)
		}
	}
}

// TestRunInterrupted: a cancelled run stops, kills its children and
// removes its scratch folder.
func TestRunInterrupted(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	_, err := Run(ctx, Options{Dir: dir, Binary: binary})
	if err == nil || !strings.Contains(err.Error(), "selftest: interrupted; the scratch folder") {
		t.Fatalf("err = %v, want interrupted", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%s holds %d entries after the interrupted run", dir, len(ents))
	}
}
