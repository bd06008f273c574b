package importer_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/internal/failpoint"
	"github.com/metactl/metactl/storage"
)

// TestNewCatalogFailpoints kills a streamed first import (NewCatalog) at
// each failpoint: before the commit no catalog exists (the scratch file
// and the lock file may remain); after it, the catalog is whole. A later
// import works and removes the leftover scratch file.
func TestNewCatalogFailpoints(t *testing.T) {
	if dir := os.Getenv("IMPORTER_TEST_NEW_STORAGE"); dir != "" {
		src, err := storage.NewLocal(dir)
		if err == nil {
			if err = failpoint.Enable(os.Getenv(failpoint.EnvVar)); err == nil {
				o := &catalog.Options{CheckpointBytes: 16 << 10}
				_, err = importer.NewCatalog(t.Context(), os.Getenv("IMPORTER_TEST_CATALOG"), o, src, importer.Options{Source: "test"})
			}
		}
		t.Fatalf("import was not killed: %v", err)
	}
	if testing.Short() {
		t.Skip("runs child processes")
	}
	dir := t.TempDir()
	files, _ := catalogtest.WriteBenchStorage(t, dir, 3000, 10)
	for _, point := range []string{"import.after-read", "import.after-validate", "import.after-put", "import.before-commit", "import.after-commit"} {
		t.Run(point, func(t *testing.T) {
			cdir := t.TempDir()
			path := filepath.Join(cdir, "catalog.db")
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestNewCatalogFailpoints$", "-test.count=1")
			cmd.Env = append(os.Environ(), failpoint.EnvVar+"="+point, "IMPORTER_TEST_NEW_STORAGE="+dir, "IMPORTER_TEST_CATALOG="+path)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed: %v\n%s", err, out)
			}
			committed := point == "import.after-commit"
			_, err = os.Stat(path)
			if committed != (err == nil) {
				t.Fatalf("killed at %s: catalog exists %v", point, err == nil)
			}
			scratch := scratchFiles(t, cdir)
			if !committed && len(scratch) == 0 {
				t.Errorf("killed at %s: no scratch file left to clean up", point)
			}
			src, err := storage.NewLocal(dir)
			if err != nil {
				t.Fatal(err)
			}
			var res *importer.Result
			if committed {
				db, err := catalog.Open(t.Context(), path, &catalog.Options{Timeout: 5 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if err := db.Check(t.Context()); err != nil {
					t.Fatal(err)
				}
				catalogtest.Verify(t, db)
				if g := catalogtest.Generation(t, db); g != 1 {
					t.Errorf("generation %d, want 1", g)
				}
				if res, err = importer.FromStorage(t.Context(), db, src, importer.Options{}); err != nil || res.Changed {
					t.Errorf("re-import: %v, %+v", err, res)
				}
			} else if res, err = importer.NewCatalog(t.Context(), path, &catalog.Options{Timeout: 5 * time.Second}, src, importer.Options{}); err != nil || res.Added != files {
				t.Fatalf("import after the kill: %v, %+v", err, res)
			}
			if left := scratchFiles(t, cdir); len(left) > 0 {
				t.Errorf("scratch files left after the next import: %v", left)
			}
		})
	}
}

func scratchFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.Contains(e.Name(), ".build-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestNewCatalogBadInputLeavesNothing: bad input anywhere in a streamed
// first import (here in the last batch, after earlier batches were
// written to the scratch file) gives every problem and leaves no catalog,
// no lock file and no scratch file.
func TestNewCatalogBadInputLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	catalogtest.WriteBenchStorage(t, dir, 3000, 10)
	bad := map[string]string{
		"metadata/aaa_bad.meta": `{"TransactionBackup":{"first_version":9,"last_version":1,"manifest":"a/m"}}` + "\n",
		"metadata/zzz_bad.meta": `{"TransactionBackup":{"first_version":0,"last_version":0}}` + "\n",
	}
	for h, c := range bad {
		if err := os.WriteFile(filepath.Join(dir, h), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	cdir := t.TempDir()
	path := filepath.Join(cdir, "c.db")
	_, err = importer.NewCatalog(t.Context(), path, &catalog.Options{CheckpointBytes: 16 << 10}, src, importer.Options{})
	var ie *importer.InputError
	if !errors.As(err, &ie) || len(ie.Problems) != 2 {
		t.Fatalf("want an InputError with both problems, got %v", err)
	}
	want := []string{"import metadata/aaa_bad.meta:1: first_version 9 > last_version 1", "import metadata/zzz_bad.meta:1:57: missing field `manifest`"}
	for i, p := range ie.Problems {
		if p.Error() != want[i] {
			t.Errorf("problem %d: %q, want %q", i, p.Error(), want[i])
		}
	}
	if ents, _ := os.ReadDir(cdir); len(ents) != 0 {
		t.Errorf("a refused first import left %v", ents)
	}
}
