package export_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/internal/failpoint"
)

// Environment of the crash-test child: the test binary re-executed to run
// one export, killed by a failpoint.
const (
	envChild   = "METACTL_EXPORT_CHILD"
	envCatalog = "METACTL_EXPORT_CATALOG"
	envDir     = "METACTL_EXPORT_DIR"
	envGzip    = "METACTL_EXPORT_GZIP"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		os.Exit(childExport())
	}
	os.Exit(m.Run())
}

// childExport runs one export as the CLI would: the catalog opened
// read-only. Reaching the end means the failpoint did not fire.
func childExport() int {
	ctx := context.Background()
	if err := failpoint.Enable(os.Getenv(failpoint.EnvVar)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	db, err := catalog.Open(ctx, os.Getenv(envCatalog), &catalog.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer db.Close()
	if _, err := toDir(ctx, db, os.Getenv(envDir), dirOptions{Gzip: os.Getenv(envGzip) != ""}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "export finished: the failpoint did not fire")
	return 0
}

func TestToDirCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		point string
		gzip  bool
		// leftover: the kill leaves a temp file the next export removes.
		leftover bool
		// coverage: the kill comes after every write, before any removal,
		// so metadata/ still holds every file of both generations.
		coverage bool
	}{
		{point: "export.after-temp-write", leftover: true},
		{point: "export.after-temp-write@3", leftover: true},
		{point: "export.after-temp-write@2", gzip: true, leftover: true},
		{point: "export.after-rename"},
		{point: "export.after-rename@4"},
		{point: "export.between-writes-and-moves", coverage: true},
		{point: "export.between-writes-and-moves", gzip: true, coverage: true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/gzip=%v", tc.point, tc.gzip), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "catalog.db")
			dir := t.TempDir()

			// Generation 1, exported: only the originals, all live.
			db := catalogtest.OpenWith(t, catalogtest.Options{Path: path})
			originals, compacted := splitStorage(t, db)
			if _, err := toDir(t.Context(), db, dir, dirOptions{Gzip: tc.gzip}); err != nil {
				t.Fatal(err)
			}
			// Generation 3: compaction wrote the compacted files and moved
			// the originals. The child exports this one and dies.
			compact(t, db, originals, compacted)
			want := catalogtest.FilesByName(t, db)
			db.Close()

			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), envChild+"=1", envCatalog+"="+path, envDir+"="+dir,
				failpoint.EnvVar+"="+tc.point)
			if tc.gzip {
				cmd.Env = append(cmd.Env, envGzip+"=1")
			}
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("child: %v, want death by SIGKILL; output: %s", err, out)
			}
			if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child: %v, want death by SIGKILL; output: %s", err, out)
			}

			// Only whole files, each some catalog file's content.
			for _, folder := range []string{"metadata", "metadata_backup"} {
				for name, b := range readFolder(t, filepath.Join(dir, folder)) {
					f, ok := want[name]
					if !ok {
						t.Errorf("%s/%s: not a catalog file", folder, name)
						continue
					}
					if tc.gzip {
						b = gunzip(t, folder+"/"+name, b)
					}
					if string(b) != string(f.Content) {
						t.Errorf("%s/%s: partial or wrong content %q, want %q", folder, name, b, f.Content)
						continue
					}
					if _, err := aptos.ParseFile(b); err != nil {
						t.Errorf("%s/%s: does not parse: %v", folder, name, err)
					}
				}
			}
			// Temp files: the one being renamed when the kill came, and
			// those other writers had open (possibly partial).
			staging := readFolder(t, filepath.Join(dir, ".metactl-staging"))
			if tc.leftover && len(staging) == 0 {
				t.Errorf("staging is empty, want the temp file of the killed write")
			}
			if tc.coverage {
				live := readFolder(t, filepath.Join(dir, "metadata"))
				if len(live) != len(want) {
					t.Errorf("metadata/ holds %v after the writes, want every file of both generations", sortedKeys(live))
				}
				if backup := readFolder(t, filepath.Join(dir, "metadata_backup")); len(backup) != len(originals) {
					t.Errorf("metadata_backup/ holds %v, want the %d moved files", sortedKeys(backup), len(originals))
				}
			}

			// The next export converges.
			db = catalogtest.OpenWith(t, catalogtest.Options{Path: path})
			res, err := toDir(t.Context(), db, dir, dirOptions{Gzip: tc.gzip})
			if err != nil {
				t.Fatal(err)
			}
			checkExact(t, db, dir, tc.gzip)
			if res.LeftoversRemoved != len(staging) {
				t.Errorf("LeftoversRemoved = %d, want %d (%v)", res.LeftoversRemoved, len(staging), sortedKeys(staging))
			}
			if len(res.Kept) != 0 || len(res.Removed) != 0 {
				t.Errorf("Kept = %v, Removed = %v", res.Kept, res.Removed)
			}
			if strings.Contains(string(out), "did not fire") {
				t.Errorf("child output: %s", out)
			}
		})
	}
}

// stagedFiles counts the files under the staging folder, in its
// subfolders too (a fresh export stages whole folders there).
func stagedFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, ".metactl-staging"), func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestToDirFreshCrash kills an export into a new folder (which stages
// metadata_backup/ and metadata/ whole, then renames them in) at each
// failpoint: metadata/ is absent or complete, never partial, and the next
// export converges and removes the staged leftovers.
func TestToDirFreshCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		point string
		gzip  bool
		// published: the folders renamed in before the kill.
		published []string
	}{
		{point: "export.after-temp-write"},
		{point: "export.after-temp-write@5", gzip: true},
		{point: "export.between-writes-and-moves"},
		{point: "export.after-rename", published: []string{"metadata_backup"}},
		{point: "export.after-rename@2", published: []string{"metadata_backup", "metadata"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/gzip=%v", tc.point, tc.gzip), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "catalog.db")
			dir := t.TempDir()
			db := catalogtest.OpenWith(t, catalogtest.Options{Path: path})
			originals, compacted := splitStorage(t, db)
			compact(t, db, originals, compacted)
			want := catalogtest.FilesByName(t, db)
			db.Close()

			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), envChild+"=1", envCatalog+"="+path, envDir+"="+dir,
				failpoint.EnvVar+"="+tc.point)
			if tc.gzip {
				cmd.Env = append(cmd.Env, envGzip+"=1")
			}
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("child: %v, want death by SIGKILL; output: %s", err, out)
			}
			if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child: %v, want death by SIGKILL; output: %s", err, out)
			}

			// Each folder is absent, or whole: exactly its catalog files.
			for _, folder := range []string{"metadata", "metadata_backup"} {
				_, statErr := os.Lstat(filepath.Join(dir, folder))
				if !slices.Contains(tc.published, folder) {
					if !errors.Is(statErr, os.ErrNotExist) {
						t.Errorf("%s/ exists (%v) before it was published", folder, statErr)
					}
					continue
				}
				got := readFolder(t, filepath.Join(dir, folder))
				n := 0
				for name, f := range want {
					if (f.State == catalog.Live) != (folder == "metadata") {
						continue
					}
					n++
					b, ok := got[name]
					if tc.gzip && ok {
						b = gunzip(t, folder+"/"+name, b)
					}
					if !ok || string(b) != string(f.Content) {
						t.Errorf("%s/%s: %q, want %q", folder, name, b, f.Content)
					}
				}
				if len(got) != n {
					t.Errorf("%s/ holds %v, want its %d catalog files", folder, sortedKeys(got), n)
				}
			}
			staged := stagedFiles(t, dir)
			if len(tc.published) < 2 && staged == 0 {
				t.Errorf("nothing staged, want the killed export's files")
			}

			db = catalogtest.OpenWith(t, catalogtest.Options{Path: path})
			res, err := toDir(t.Context(), db, dir, dirOptions{Gzip: tc.gzip})
			if err != nil {
				t.Fatal(err)
			}
			checkExact(t, db, dir, tc.gzip)
			if res.LeftoversRemoved != staged {
				t.Errorf("LeftoversRemoved = %d, want %d", res.LeftoversRemoved, staged)
			}
			if _, err := os.Lstat(filepath.Join(dir, ".metactl-staging")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("staging folder left after the next export: %v", err)
			}
			if strings.Contains(string(out), "did not fire") {
				t.Errorf("child output: %s", out)
			}
		})
	}
}
