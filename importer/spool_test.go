package importer_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog"
	_ "github.com/metactl/metactl/catalog/etcdstore" // etcd:// locations
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/internal/etcdtest"
)

// startEtcd starts one in-process etcd member for the test, stopped when
// it ends; etcd writers keep their local copies in a private cache folder.
func startEtcd(t *testing.T) *etcdtest.Cluster {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	c, err := etcdtest.Start(t.TempDir(), 1, etcdtest.Options{})
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// TestSpooledCommitMatchesUpdate imports into an existing catalog three
// ways: held in memory and committed in one transaction, held and
// committed in bulk, and every file spooled (read back one at a time at
// the commit, which is then bulk). The Result (counts, warnings,
// duplicates, missing files, the quarantined file), the journal note and
// the catalog's files and quarantine records must be the same, with and
// without a move (whose duplicate count reads every live file again), and
// on the etcd backend (one in-process member), held and spooled (not
// with -short).
func TestSpooledCommitMatchesUpdate(t *testing.T) {
	const bad = "metadata/transaction_777-777.meta"
	badContent := txn(777, 777, "t777/m") + "{not json\n"
	modes := []string{"bulk", "spool"}
	var etcd *etcdtest.Cluster
	if !testing.Short() {
		etcd = startEtcd(t)
		modes = append(modes, "etcd", "etcd-bulk", "etcd-spool")
	}
	run := func(t *testing.T, mode string, move bool) string {
		var path string
		switch mode {
		case "bulk", "etcd-bulk":
			old := importer.SetBulkLines(1)
			t.Cleanup(func() { importer.SetBulkLines(old) })
		case "spool", "etcd-spool":
			old := importer.SetSpoolBytes(0)
			t.Cleanup(func() { importer.SetSpoolBytes(old) })
		}
		if strings.HasPrefix(mode, "etcd") {
			// "etcd": one transaction on the local copy; "etcd-bulk"
			// and "etcd-spool": the etcd backend's UpdateBulk, its
			// changes staged as they are made.
			path = fmt.Sprintf("etcd://%s/importer/%s?lease-ttl=2s&grace=0s", etcd.Endpoints(), strings.ReplaceAll(t.Name(), "/", "_")+mode)
		}
		db := catalogtest.OpenWith(t, catalogtest.Options{Path: path, Command: "importer test", Now: func() time.Time { return clock }, Verify: true, CheckpointBytes: 16 << 10})
		s := newStorage(t).
			put("metadata/transaction_0-99.meta", txn(0, 99, "transaction_0-.0000/transaction.manifest")).
			put("metadata/epoch_ending_0-0.meta", epoch(0, 0, "epoch_ending_0-.0000/epoch_ending.manifest")).
			put("metadata/transaction_50000000-50000099.meta", txn(50000000, 50000099, "t5/m"))
		mustImport(t, db, s, importer.Options{Now: func() time.Time { return clock }})
		s.put("metadata/transaction_0-3999999.meta", bigContent(40_000)).
			put("metadata/transaction_9000000-9000099.meta", txn(9000000, 9000099, "transaction_9000000-.0000/transaction.manifest")+txn(0, 99, "transaction_0-.0000/transaction.manifest")).
			put("metadata/transaction_100-199.meta", strings.ReplaceAll(txn(100, 199, "t1/m"), "\n", "\r\n")).
			put("metadata/transaction_200-299.meta", "").
			putGzip("metadata/transaction_300-399.meta", txn(300, 399, "t3/m")).
			put(bad, badContent).
			remove("metadata/transaction_50000000-50000099.meta")
		if move {
			s.move("epoch_ending_0-0.meta")
		}
		spoolDir := t.TempDir()
		res := mustImport(t, db, s, importer.Options{Now: func() time.Time { return clock }, Quarantine: true, SpoolDir: spoolDir})
		if left, _ := os.ReadDir(spoolDir); len(left) != 0 {
			t.Errorf("the spool folder holds %d entries after the import, want none", len(left))
		}
		var b strings.Builder
		fmt.Fprintf(&b, "files %d lines %d entries %d duplicates %d added %d moved %d unchanged %d missing %q kept moved %q quarantined %q\n",
			res.Files, res.Lines, res.Entries, res.Duplicates, res.Added, res.Moved, res.Unchanged, res.Missing, res.KeptMoved, res.Quarantined)
		fmt.Fprintf(&b, "warnings %v\ndigest %s -> %s generation %d\n", res.Warnings, res.DigestBefore.Short(), res.DigestAfter.Short(), res.Generation)
		if err := db.View(t.Context(), func(tx catalog.Tx) error {
			if err := tx.StoredEntriesMatch(); err != nil {
				t.Error(err)
			}
			if err := tx.ForEachFile(true, func(f *catalog.File) error {
				fmt.Fprintf(&b, "file %s %s %x %d lines\n", f.Handle, f.State, sha256.Sum256(f.Content), f.Lines)
				return nil
			}); err != nil {
				return err
			}
			if err := tx.QuarantinedFiles(func(q *catalog.QuarantinedFile) error {
				if string(q.Content) != badContent {
					t.Errorf("quarantined %s holds %q, want %q", q.Handle, q.Content, badContent)
				}
				fmt.Fprintf(&b, "quarantined %s %q\n", q.Handle, q.Error)
				return nil
			}); err != nil {
				return err
			}
			return tx.Operations(func(op *catalog.Operation) bool { fmt.Fprintf(&b, "note %q\n", op.Note); return false })
		}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for _, move := range []bool{false, true} {
		t.Run(fmt.Sprintf("move=%v", move), func(t *testing.T) {
			want := run(t, "update", move)
			for _, mode := range modes {
				if got := run(t, mode, move); got != want {
					t.Errorf("%s:\n%s\nin one transaction:\n%s", mode, got, want)
				}
			}
			if strings.Contains(want, "duplicates 0 ") {
				t.Errorf("no duplicates to compare in\n%s", want)
			}
			for _, w := range []string{"empty file", "CRLF", "name disagrees", `quarantined [{"metadata/transaction_777-777.meta"`, `missing ["metadata/transaction_50000000-50000099.meta"]`} {
				if !strings.Contains(want, w) {
					t.Errorf("nothing to compare: no %q in\n%s", w, want)
				}
			}
		})
	}
}

// TestSpoolRefusal: bad input spooled is refused with every problem, as
// when held, and the catalog is unchanged.
func TestSpoolRefusal(t *testing.T) {
	old := importer.SetSpoolBytes(0)
	t.Cleanup(func() { importer.SetSpoolBytes(old) })
	db := newCatalog(t)
	s := newStorage(t).put("metadata/transaction_0-99.meta", txn(0, 99, "t0/m"))
	mustImport(t, db, s, importer.Options{})
	before := catalogtest.Bytes(t, db)
	s.put("metadata/transaction_100-199.meta", txn(100, 199, "t1/m")+"{\n").
		put("metadata/transaction_0-99.meta", txn(0, 99, "other/m"))
	_, err := importDir(t.Context(), db, s, importer.Options{SpoolDir: filepath.Join(t.TempDir())})
	want := "import metadata/transaction_0-99.meta: content"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "import metadata/transaction_100-199.meta:2:") {
		t.Fatalf("import: %v, want both problems", err)
	}
	assertUnchanged(t, db, before)
}

// TestMoveCountsAndGaps: an import that moves a file (the storage moved
// it to metadata_backup/) and adds others counts the duplicate lines and
// warns of the gap the move opens, the same held, in bulk and spooled,
// incremental (the files the catalog holds are not read) and full.
func TestMoveCountsAndGaps(t *testing.T) {
	for _, full := range []bool{false, true} {
		for _, mode := range []string{"update", "bulk", "spool"} {
			t.Run(fmt.Sprintf("full=%v/%s", full, mode), func(t *testing.T) {
				switch mode {
				case "bulk":
					old := importer.SetBulkLines(1)
					t.Cleanup(func() { importer.SetBulkLines(old) })
				case "spool":
					old := importer.SetSpoolBytes(0)
					t.Cleanup(func() { importer.SetSpoolBytes(old) })
				}
				db := catalogtest.OpenWith(t, catalogtest.Options{Command: "importer test", Now: func() time.Time { return clock }, Verify: true, CheckpointBytes: 1})
				s := newStorage(t).
					put("metadata/transaction_0-99.meta", txn(0, 99, "t0/m")).
					put("metadata/transaction_100-199.meta", txn(100, 199, "t1/m")).
					put("metadata/transaction_200-299.meta", txn(200, 299, "t2/m"))
				mustImport(t, db, s, importer.Options{})
				s.move("transaction_100-199.meta").
					put("metadata/transaction_300-399.meta", txn(300, 399, "t3/m")+txn(0, 99, "t0/m")).
					put("metadata/transaction_400-499.meta", txn(400, 499, "t4/m")+txn(300, 399, "t3/m"))
				opts := importer.Options{SpoolDir: t.TempDir()}
				if !full {
					known, err := importer.LoadKnown(t.Context(), db)
					if err != nil {
						t.Fatal(err)
					}
					opts.Known = known
				}
				res := mustImport(t, db, s, opts)
				got := fmt.Sprintf("entries %d duplicates %d added %d moved %d unchanged %d warnings %v", res.Entries, res.Duplicates, res.Added, res.Moved, res.Unchanged, res.Warnings)
				want := "entries 4 duplicates 2 added 2 moved 1 unchanged 2 warnings [the import opens a gap in the restorable range: no transaction backup covers versions 100-199, so a restore across them fails " +
					`metadata/transaction_300-399.meta: name disagrees with its content: it holds 2 lines, the name is that of a file of one entry ` +
					`metadata/transaction_400-499.meta: name disagrees with its content: it holds 2 lines, the name is that of a file of one entry]`
				if full {
					want = strings.Replace(want, "duplicates 2", "duplicates 4", 1)
				}
				if got != want {
					t.Errorf("got  %s\nwant %s", got, want)
				}
			})
		}
	}
}
