package layout

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandIsUnixOnly keeps the platform decision true: metactl runs on
// Unix only (README, "Platforms"). Every file of cmd/metactl except the
// stub main_other.go is built only on Unix, so that GOOS=windows go build
// ./cmd/metactl gives a binary that says it is unsupported instead of a
// pile of undefined syscalls. A new command file needs the same first
// line.
func TestCommandIsUnixOnly(t *testing.T) {
	dir := filepath.Join("..", "..", "cmd", "metactl")
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(names) < 5 {
		t.Fatalf("glob %s: %d files, %v", dir, len(names), err)
	}
	for _, name := range names {
		base := filepath.Base(name)
		if strings.HasSuffix(base, "_test.go") {
			continue
		}
		want := "//go:build unix"
		if base == "main_other.go" {
			want = "//go:build !unix"
		}
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan()
		first := sc.Text()
		f.Close()
		if first != want {
			t.Errorf("cmd/metactl/%s: first line %q, want %q (metactl is Unix-only; see main_other.go)", base, first, want)
		}
	}
}
