package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Mistakes are named as mistakes (issue 8; the --catalog slips are
// TestCatalogPathMistakes): "damaged" stays for damaged catalogs, and a
// failed first import leaves nothing behind.

// noneExist fails t if any of paths exists.
func noneExist(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists, want nothing left behind", p)
		}
	}
}

// wantFailure runs metactl and checks the exit code and the exact stderr.
func wantFailure(t *testing.T, cat string, code int, stderr string, args ...string) {
	t.Helper()
	r := metactl(t, cat, nil, args...)
	if r.code != code || r.stderr != stderr {
		t.Errorf("metactl %s:\n%s\nwant exit %d, stderr:\n%s", strings.Join(args, " "), r, code, stderr)
	}
}

// TestDamagedCatalogIsStillDamage: a file that may be a damaged catalog
// (random bytes) keeps the damage message and exit 1.
func TestDamagedCatalogIsStillDamage(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	if err := os.WriteFile(cat, bytes.Repeat([]byte("metactl?"), 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	want := `metactl: open catalog "` + cat + `": catalog file is damaged: not a bbolt database (no valid meta page) (restore it from a backup or an archive made with 'metactl export --archive', or re-import the storage into a new catalog)` + "\n"
	wantFailure(t, cat, 1, want, "status")
	wantFailure(t, cat, 1, want, "compact")
}

// TestInterruptedFirstImportLeavesNothing: a first import that fails after
// the catalog was created (here SIGINT inside the transaction) removes the
// catalog and its lock file again.
func TestInterruptedFirstImportLeavesNothing(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	cmd := exec.Command(binary, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	cmd.Env = append(os.Environ(), "METACTL_CATALOG="+cat, "METACTL_FAILPOINT=import.after-put=sleep:1s")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(cat + ".lock"); bytes.Contains(b, []byte(`"pid":`)) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("import never took the lock")
		}
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("want exit 130, got %v: %s", err, out.String())
	}
	noneExist(t, cat, cat+".lock")
}

// TestWriteCommandsNeedACatalog: a command that changes a catalog but
// cannot start one (compact without a storage, cleanup, undo) refuses a
// --catalog that names no file, as status does, and creates nothing: a
// typo in a cron job's path used to leave an empty catalog and exit 0.
// On etcd the same holds for a prefix that holds no catalog.
func TestWriteCommandsNeedACatalog(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"compact"},
		{"compact", "--json"},
		{"cleanup", "--older-than", "1d"},
		{"undo", "1"},
		{"status"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cat := filepath.Join(t.TempDir(), "nope.db")
			want := `metactl: open catalog "` + cat + `": catalog does not exist (create it with 'metactl import')` + "\n"
			if args[len(args)-1] == "--json" {
				r := metactl(t, cat, nil, args...)
				if r.code != 6 || !strings.Contains(r.stdout, `"error"`) || !strings.Contains(r.stdout, "catalog does not exist") {
					t.Errorf("metactl %s:\n%s\nwant exit 6 and a JSON error document", strings.Join(args, " "), r)
				}
			} else if r := metactl(t, cat, nil, args...); r.code != 6 || backendNeutral(r.stderr) != want {
				t.Errorf("metactl %s:\n%s\nwant exit 6, stderr:\n%s", strings.Join(args, " "), r, want)
			}
			noneExist(t, cat, cat+".lock")
		})
	}
}
