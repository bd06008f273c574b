package importer_test

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
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/internal/failpoint"
	"github.com/metactl/metactl/storage"
)

func TestFiles(t *testing.T) {
	db := newCatalog(t)
	mustImport(t, db, newStorage(t).
		put("metadata/old.meta", txn(100, 109, "old/m")).
		put("metadata_backup/older.meta", txn(100, 104, "older/m")), importer.Options{})

	files := []importer.SourceFile{
		{Handle: "metadata/b.meta", State: catalog.Moved, Content: []byte(txn(0, 9, "a/m"))},
		{Handle: "metadata/b.meta", State: catalog.Live, Content: []byte(txn(0, 9, "a/m"))},
		{Handle: "metadata/a.meta", State: catalog.Live, Content: []byte(txn(0, 9, "a/m") + txn(10, 19, "b/m")), Source: "archive:x.mcar#a"},
	}
	res, err := importer.Files(t.Context(), db, files, importer.Options{Source: "archive:x.mcar"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 3 || res.Lines != 4 || res.Added != 2 || res.Entries != 3 || res.Duplicates != 1 {
		t.Errorf("result %+v", res)
	}
	// Files covers both folders: every catalog file not given is missing.
	if want := []string{"metadata/old.meta", "metadata_backup/older.meta"}; !slices.Equal(res.Missing, want) {
		t.Errorf("missing %q, want %q", res.Missing, want)
	}
	err = db.View(t.Context(), func(tx catalog.Tx) error {
		for h, want := range map[string]string{"metadata/a.meta": "archive:x.mcar#a", "metadata/b.meta": "archive:x.mcar"} {
			f, err := tx.File(h)
			if err != nil {
				return err
			}
			if f.Source != want || f.State != catalog.Live || !f.ImportedAt.Equal(clock) {
				t.Errorf("%s: source %q, state %v, imported %v", h, f.Source, f.State, f.ImportedAt)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	before := catalogtest.Bytes(t, db)
	_, err = importer.Files(t.Context(), db, []importer.SourceFile{
		{Handle: "metadata/../x.meta", State: catalog.Live},
		{Handle: "x.meta", State: catalog.Live},
		{Handle: "metadata/c.meta", State: 7},
	}, importer.Options{})
	want := strings.Join([]string{
		`import metadata/../x.meta: illegal file name "../x.meta": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`,
		"import metadata/c.meta: invalid state 7: invalid input",
		`import x.meta: file handle "x.meta" is not metadata/<name>`,
	}, "\n")
	checkInputError(t, err, want)
	assertUnchanged(t, db, before)
}

func TestDuplicates(t *testing.T) {
	db := newCatalog(t)
	s := newStorage(t).put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m"))
	mustImport(t, db, s, importer.Options{})
	// A compactor is half-way: the compacted file is written, the
	// originals are still live. Aptos's view drops the duplicates.
	s.put("metadata/transaction_10-19.meta", txn(10, 19, "t10/m")+txn(10, 19, "t10/m")).
		put("metadata/transaction_compacted_0-19.meta", txn(0, 9, "t0/m")+txn(10, 19, "t10/m")).
		put("metadata_backup/transaction_0-4.meta", txn(0, 4, "t0old/m")+txn(0, 4, "t0old/m"))
	res := mustImport(t, db, s, importer.Options{})
	if res.Duplicates != 4 || res.Entries != 2 || res.Lines != 7 || res.Added != 3 || res.Unchanged != 1 {
		t.Errorf("result %+v", res)
	}
}

// TestFailpoints kills a child process at each failpoint of an import and
// checks that the catalog is whole: bbolt's check passes, and the catalog
// is the one before the import or the one after it.
func TestFailpoints(t *testing.T) {
	if dir := os.Getenv("IMPORTER_TEST_STORAGE"); dir != "" {
		failpointChild(dir, os.Getenv("IMPORTER_TEST_CATALOG"))
		return
	}
	if testing.Short() {
		t.Skip("runs child processes")
	}
	s := newStorage(t).
		put("metadata/identity.meta", identity(3)).
		put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m")).
		put("metadata_backup/transaction_0-4.meta", txn(0, 4, "t0old/m"))
	// bulk: the commit runs with catalog.BulkUpdater (a batch of at
	// least the lines SetBulkLines sets), on a scratch copy published by
	// a rename. spool: every file read is spooled beside the catalog
	// (SetSpoolBytes(0)), read back at the commit, which is then bulk.
	for _, point := range []string{"import.after-read", "import.after-validate", "import.after-put", "import.before-commit", "import.after-commit",
		"bulk:import.after-put", "bulk:import.before-commit", "bulk:import.before-publish", "bulk:import.after-commit",
		"spool:import.after-read", "spool:import.after-validate", "spool:import.after-put", "spool:import.before-commit", "spool:import.before-publish", "spool:import.after-commit"} {
		t.Run(point, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "catalog.db")
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestFailpoints$", "-test.count=1")
			mode, point, ok := strings.Cut(point, ":")
			if !ok {
				mode, point = "", mode
			}
			cmd.Env = append(os.Environ(), failpoint.EnvVar+"="+point, "IMPORTER_TEST_STORAGE="+s.dir, "IMPORTER_TEST_CATALOG="+path, "IMPORTER_TEST_MODE="+mode)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed: %v\n%s", err, out)
			}
			db, err := catalog.Open(t.Context(), path, &catalog.Options{Timeout: 5 * time.Second})
			if err != nil {
				t.Fatalf("open after kill: %v", err)
			}
			defer db.Close()
			if err := db.Check(t.Context()); err != nil {
				t.Fatal(err)
			}
			wantGen := uint64(0)
			if point == "import.after-commit" {
				wantGen = 1
			}
			if g := catalogtest.Generation(t, db); g != wantGen {
				t.Errorf("generation %d, want %d", g, wantGen)
			}
			// Nothing left beside the catalog: the spool was unlinked
			// when made, the scratch copy removed by this open.
			ents, err := os.ReadDir(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if n := e.Name(); n != "catalog.db" && n != "catalog.db.lock" {
					t.Errorf("left beside the catalog: %s", n)
				}
			}
			// The import can run again and completes the sync.
			res := mustImport(t, db, s, importer.Options{})
			if res.Changed != (wantGen == 0) || res.Entries != 1 {
				t.Errorf("re-import %+v", res)
			}
		})
	}
}

// failpointChild runs an import that a failpoint kills.
func failpointChild(dir, path string) {
	ctx := context.Background()
	if err := failpoint.Enable(os.Getenv(failpoint.EnvVar)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	db, err := catalog.Open(ctx, path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	opts := importer.Options{Source: "local-fs:" + dir}
	switch os.Getenv("IMPORTER_TEST_MODE") {
	case "bulk":
		importer.SetBulkLines(1)
	case "spool":
		importer.SetSpoolBytes(0)
		opts.SpoolDir = filepath.Dir(path)
	}
	src, err := storage.NewLocal(dir)
	if err == nil {
		_, err = importer.FromStorage(ctx, db, src, opts)
	}
	fmt.Fprintln(os.Stderr, "import was not killed:", err)
	os.Exit(2)
}
