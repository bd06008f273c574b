package importer_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/internal/catalogtest"
)

// bigContent returns a file of n transaction lines (with an identity line
// first and an epoch-ending line at line 3): more than the 4 MiB above
// which the importer keeps no parsed lines (bigFile) when n is 40,000.
func bigContent(n int) string {
	var b strings.Builder
	b.WriteString(identity(7))
	for i := range n {
		if i == 1 {
			b.WriteString(epoch(0, 0, "epoch_ending_0-.0000/epoch_ending.manifest"))
		}
		b.WriteString(txn(uint64(i)*100, uint64(i)*100+99, fmt.Sprintf("transaction_%d-.%04x/transaction.manifest", i*100, i%65536)))
	}
	return b.String()
}

// TestBigFileMatchesSmallFiles imports one file too large to keep parsed
// (a batch of lines at a time) and the same lines cut into small files:
// both imports, streamed (NewCatalog) and into an existing catalog
// (FromStorage), give the same view, entry count, line count and
// warnings as a small file would.
func TestBigFileMatchesSmallFiles(t *testing.T) {
	const n = 40_000
	content := bigContent(n)
	if len(content) <= 4<<20 {
		t.Fatalf("content is %d bytes: not a big file", len(content))
	}
	big := newStorage(t).put("metadata/transaction_0-3999999.meta", content)
	small := newStorage(t)
	lines := strings.SplitAfter(content, "\n")
	for i := 0; i < len(lines)-1; i += 1000 {
		small.put(fmt.Sprintf("metadata/transaction_part_%05d.meta", i), strings.Join(lines[i:min(i+1000, len(lines)-1)], ""))
	}

	streamed := func(s *storageDir) (*importer.Result, catalog.DB) {
		path := filepath.Join(t.TempDir(), "c.db")
		res, err := importer.NewCatalog(t.Context(), path, &catalog.Options{Timeout: time.Second, CheckpointBytes: 64 << 10}, s.source(), importer.Options{Source: "test", Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatalf("NewCatalog: %v", err)
		}
		db, err := catalog.Open(t.Context(), path, &catalog.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return res, db
	}
	want, wdb := streamed(small)
	for _, how := range []string{"NewCatalog", "FromStorage"} {
		t.Run(how, func(t *testing.T) {
			var res *importer.Result
			var db catalog.DB
			if how == "NewCatalog" {
				res, db = streamed(big)
			} else {
				db = newCatalog(t)
				res = mustImport(t, db, big, importer.Options{Now: func() time.Time { return clock }})
			}
			if res.Lines != n+2 || res.Entries != want.Entries || res.DigestAfter != want.DigestAfter || res.Duplicates != want.Duplicates {
				t.Errorf("big file: %d lines, %d entries, %d duplicates, digest %s; small files: %d, %d, %d, %s",
					res.Lines, res.Entries, res.Duplicates, res.DigestAfter.Short(), want.Lines, want.Entries, want.Duplicates, want.DigestAfter.Short())
			}
			var got []string
			for _, w := range res.Warnings {
				got = append(got, w.Code+": "+w.Message)
			}
			wantW := "name-mismatch: name disagrees with its content: line 1 is a Identity line, the name says TransactionBackup"
			if len(got) != 1 || got[0] != wantW {
				t.Errorf("warnings %q, want [%q]", got, wantW)
			}
			err := db.View(t.Context(), func(tx catalog.Tx) error {
				f, err := tx.File("metadata/transaction_0-3999999.meta")
				if err != nil {
					return err
				}
				if f.Lines != n+2 || string(f.Content) != content {
					t.Errorf("stored file: %d lines, content equal %v", f.Lines, string(f.Content) == content)
				}
				id, ok := tx.Identity()
				if !ok || id[0] != 7 {
					t.Errorf("identity %x %v", id, ok)
				}
				if err := tx.StoredEntriesMatch(); err != nil {
					t.Error(err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var wv string
			_ = wdb.View(t.Context(), func(tx catalog.Tx) error { wv = tx.ViewDigest().String(); return nil })
			_ = db.View(t.Context(), func(tx catalog.Tx) error {
				if got := tx.ViewDigest().String(); got != wv {
					t.Errorf("view digest %s, small files' %s", got, wv)
				}
				return nil
			})
		})
	}
}

// TestBigFileProblems: bad lines deep in a big file are refused with
// their line numbers, as in a small file, and nothing is imported.
func TestBigFileProblems(t *testing.T) {
	lines := strings.SplitAfter(bigContent(40_000), "\n")
	lines[30_000] = "{not json\n"
	lines[35_000] = txn(9, 3, "x/transaction.manifest") // first > last
	s := newStorage(t).put("metadata/transaction_big.meta", strings.Join(lines, ""))
	path := filepath.Join(t.TempDir(), "c.db")
	_, err := importer.NewCatalog(t.Context(), path, &catalog.Options{Timeout: time.Second}, s.source(), importer.Options{Source: "test"})
	var ie *importer.InputError
	if !errors.As(err, &ie) || len(ie.Problems) != 2 || ie.Problems[0].Line != 30_001 || ie.Problems[1].Line != 35_001 {
		t.Fatalf("NewCatalog: %v (%+v)", err, ie)
	}
	db := newCatalog(t)
	before := catalogtest.Bytes(t, db)
	_, err = importDir(t.Context(), db, s, importer.Options{})
	if !errors.As(err, &ie) || len(ie.Problems) != 2 || ie.Problems[0].Line != 30_001 || ie.Problems[1].Line != 35_001 {
		t.Fatalf("FromStorage: %v", err)
	}
	assertUnchanged(t, db, before)
}

// TestBulkCommitMatchesUpdate imports into an existing catalog (a gap
// opened, duplicate lines, a file added and one moved) once in one
// Update and once with catalog.BulkUpdater, checkpointing after every
// file: the results, warnings, view and journal note are the same.
func TestBulkCommitMatchesUpdate(t *testing.T) {
	run := func(t *testing.T, bulk bool, move bool) (*importer.Result, string) {
		if bulk {
			old := importer.SetBulkLines(1)
			t.Cleanup(func() { importer.SetBulkLines(old) })
		}
		db := catalogtest.OpenWith(t, catalogtest.Options{Command: "importer test", Now: func() time.Time { return clock }, Verify: true, CheckpointBytes: 1})
		s := newStorage(t).
			put("metadata/transaction_0-99.meta", txn(0, 99, "transaction_0-.0000/transaction.manifest")).
			put("metadata/epoch_ending_0-0.meta", epoch(0, 0, "epoch_ending_0-.0000/epoch_ending.manifest"))
		mustImport(t, db, s, importer.Options{Now: func() time.Time { return clock }})
		s.put("metadata/transaction_0-3999999.meta", bigContent(40_000)).
			put("metadata/transaction_9000000-9000099.meta", txn(9000000, 9000099, "transaction_9000000-.0000/transaction.manifest")+txn(0, 99, "transaction_0-.0000/transaction.manifest"))
		if move {
			s.move("epoch_ending_0-0.meta")
		}
		res := mustImport(t, db, s, importer.Options{Now: func() time.Time { return clock }})
		var note string
		if err := db.View(t.Context(), func(tx catalog.Tx) error {
			if err := tx.StoredEntriesMatch(); err != nil {
				t.Error(err)
			}
			return tx.Operations(func(op *catalog.Operation) bool { note = op.Note; return false })
		}); err != nil {
			t.Fatal(err)
		}
		return res, note
	}
	for _, move := range []bool{false, true} {
		t.Run(fmt.Sprintf("move=%v", move), func(t *testing.T) {
			want, wnote := run(t, false, move)
			got, gnote := run(t, true, move)
			show := func(r *importer.Result) string {
				return fmt.Sprintf("files %d lines %d entries %d duplicates %d added %d moved %d unchanged %d missing %q warnings %v digest %s -> %s generation %d",
					r.Files, r.Lines, r.Entries, r.Duplicates, r.Added, r.Moved, r.Unchanged, r.Missing, r.Warnings, r.DigestBefore.Short(), r.DigestAfter.Short(), r.Generation)
			}
			if show(got) != show(want) || gnote != wnote {
				t.Errorf("bulk:   %s, note %q\nupdate: %s, note %q", show(got), gnote, show(want), wnote)
			}
			if want.Duplicates == 0 || len(want.Warnings) == 0 {
				t.Errorf("no duplicates or warnings to compare: %s", show(want))
			}
		})
	}
}
