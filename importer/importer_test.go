package importer_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/cleanup"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/storage"
)

const sampleFiles = 96 // testdata/sample: see its README

func importSample(t *testing.T, db catalog.DB, dir string) *importer.Result {
	t.Helper()
	src, err := storage.NewLocal(filepath.Join("..", "testdata", dir))
	if err != nil {
		t.Fatal(err)
	}
	res, err := importer.FromStorage(t.Context(), db, src, importer.Options{Source: "local-fs:" + dir})
	if err != nil {
		t.Fatalf("import %s: %v", dir, err)
	}
	return res
}

func TestFromStorageSamplePlainAndGzip(t *testing.T) {
	plain := newCatalog(t)
	res := importSample(t, plain, "sample")
	if res.Files != sampleFiles || res.Lines != sampleFiles || res.Added != sampleFiles || res.Moved != 0 || res.Unchanged != 0 {
		t.Errorf("plain: %+v", res)
	}
	if !res.Changed || res.Generation != 1 || res.DigestBefore == res.DigestAfter {
		t.Errorf("plain: changed %v, generation %d, digests %s -> %s", res.Changed, res.Generation, res.DigestBefore.Short(), res.DigestAfter.Short())
	}
	var view *aptos.View
	if err := plain.View(t.Context(), func(tx catalog.Tx) (err error) { view, err = tx.View(); return err }); err != nil {
		t.Fatal(err)
	}
	// Every line but identity.meta's is an entry, none repeated.
	if res.Entries != view.Len() || res.Entries != sampleFiles-1 || res.Duplicates != 0 {
		t.Errorf("entries %d, view %d, duplicates %d", res.Entries, view.Len(), res.Duplicates)
	}
	if view.Identity == nil {
		t.Error("identity not recorded")
	}

	zipped := newCatalog(t)
	zres := importSample(t, zipped, "sample-gzip")
	if zres.Added != sampleFiles || zres.DigestAfter != res.DigestAfter {
		t.Errorf("gzip: added %d, digest %s, want %d, %s", zres.Added, zres.DigestAfter.Short(), sampleFiles, res.DigestAfter.Short())
	}

	// The catalog holds decompressed content: the gzip copy of the same
	// storage is the same files.
	before := catalogtest.Bytes(t, plain)
	again := importSample(t, plain, "sample-gzip")
	if again.Changed || again.Unchanged != sampleFiles || again.Generation != 1 || again.Duplicates != sampleFiles-1 {
		t.Errorf("gzip over plain: %+v", again)
	}
	assertUnchanged(t, plain, before)
}

func TestReimportIsNoOp(t *testing.T) {
	db := newCatalog(t)
	s := newStorage(t).
		put("metadata/identity.meta", identity(7)).
		put("metadata/transaction_0-9.meta", txn(0, 9, "t0/transaction.manifest")).
		putGzip("metadata/transaction_10-19.meta", txn(10, 19, "t10/transaction.manifest")).
		put("metadata_backup/transaction_0-4.meta", txn(0, 4, "old/transaction.manifest"))
	first := mustImport(t, db, s, importer.Options{})
	if first.Added != 4 || first.Generation != 1 || !first.Changed {
		t.Fatalf("first import: %+v", first)
	}
	before := catalogtest.Bytes(t, db)
	second := mustImport(t, db, s, importer.Options{})
	if second.Changed || second.Generation != 1 || second.Unchanged != 4 || second.Added != 0 || second.Moved != 0 {
		t.Errorf("second import: %+v", second)
	}
	if second.DigestBefore != first.DigestAfter || second.DigestAfter != first.DigestAfter || second.Entries != 2 {
		t.Errorf("second import digests %s -> %s, entries %d", second.DigestBefore.Short(), second.DigestAfter.Short(), second.Entries)
	}
	assertUnchanged(t, db, before)
	if g := catalogtest.Generation(t, db); g != 1 {
		t.Errorf("generation %d, want 1", g)
	}
}

func TestMovedFiles(t *testing.T) {
	db := newCatalog(t)
	s := newStorage(t).
		put("metadata/transaction_compacted_0-19.meta", txn(0, 9, "t0/m")+txn(10, 19, "t10/m")).
		put("metadata_backup/transaction_0-9.meta", txn(0, 9, "t0/m")).
		putGzip("metadata_backup/transaction_10-19.meta", txn(10, 19, "t10/m"))
	res := mustImport(t, db, s, importer.Options{})
	if res.Added != 3 || res.Files != 3 || res.Lines != 4 || res.Entries != 2 || res.Duplicates != 0 {
		t.Errorf("result: %+v", res)
	}
	want := map[string]catalog.State{
		"metadata/transaction_compacted_0-19.meta": catalog.Live,
		"metadata/transaction_0-9.meta":            catalog.Moved,
		"metadata/transaction_10-19.meta":          catalog.Moved,
	}
	if got := catalogtest.States(t, db); !maps.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
}

// TestSyncFollowsStorage imports a storage, lets Aptos compact and clean it
// up as its tools do, and imports again.
func TestSyncFollowsStorage(t *testing.T) {
	db := newCatalog(t)
	s := newStorage(t).
		put("metadata/identity.meta", identity(1)).
		put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m")).
		put("metadata/transaction_10-19.meta", txn(10, 19, "t10/m"))
	mustImport(t, db, s, importer.Options{})

	// Compaction: a compacted file appears, the originals are moved, and
	// an operator deletes identity.meta by hand.
	s.put("metadata/transaction_compacted_0-19.meta", txn(0, 9, "t0/m")+txn(10, 19, "t10/m")).
		move("transaction_0-9.meta").move("transaction_10-19.meta").
		remove("metadata/identity.meta")
	res := mustImport(t, db, s, importer.Options{})
	if res.Added != 1 || res.Moved != 2 || res.Unchanged != 0 || !res.Changed || res.Generation != 2 {
		t.Errorf("result: %+v", res)
	}
	if !slices.Equal(res.Missing, []string{"metadata/identity.meta"}) {
		t.Errorf("missing %q", res.Missing)
	}
	if res.DigestBefore != res.DigestAfter || res.Entries != 2 || res.Duplicates != 2 {
		t.Errorf("digest %s -> %s, entries %d, duplicates %d", res.DigestBefore.Short(), res.DigestAfter.Short(), res.Entries, res.Duplicates)
	}
	want := map[string]catalog.State{
		"metadata/identity.meta":                   catalog.Live, // kept, never deleted
		"metadata/transaction_compacted_0-19.meta": catalog.Live,
		"metadata/transaction_0-9.meta":            catalog.Moved,
		"metadata/transaction_10-19.meta":          catalog.Moved,
	}
	if got := catalogtest.States(t, db); !maps.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}

	// Aptos's cleanup deletes the moved files: they stay in the catalog,
	// reported as missing.
	s.remove("metadata_backup/transaction_0-9.meta")
	res = mustImport(t, db, s, importer.Options{})
	if res.Changed || res.Unchanged != 2 {
		t.Errorf("after cleanup: %+v", res)
	}
	if want := []string{"metadata/identity.meta", "metadata_backup/transaction_0-9.meta"}; !slices.Equal(res.Missing, want) {
		t.Errorf("missing %q, want %q", res.Missing, want)
	}
}

// movedUnlisted is a source that cannot list metadata_backup/, as a command
// adapter config without list_metadata_backup_files.
type movedUnlisted struct{ storage.Source }

func (m movedUnlisted) List(ctx context.Context) (storage.Listing, error) {
	l, err := m.Source.List(ctx)
	return storage.Listing{Live: l.Live, Moved: []string{}}, err
}

func TestMissingNeedsAListing(t *testing.T) {
	db := newCatalog(t)
	s := newStorage(t).
		put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m")).
		put("metadata/transaction_10-19.meta", txn(10, 19, "t10/m")).
		put("metadata_backup/transaction_0-4.meta", txn(0, 4, "t0old/m"))
	mustImport(t, db, s, importer.Options{})
	s.remove("metadata/transaction_10-19.meta")
	res, err := importer.FromStorage(t.Context(), db, movedUnlisted{s.source()}, importer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The moved file is not reported: the source could not look for it.
	if !slices.Equal(res.Missing, []string{"metadata/transaction_10-19.meta"}) || res.Changed {
		t.Errorf("missing %q, changed %v", res.Missing, res.Changed)
	}
}

func TestKeptMoved(t *testing.T) {
	db := newCatalog(t)
	s := newStorage(t).put("metadata_backup/transaction_0-9.meta", txn(0, 9, "t0/m"))
	mustImport(t, db, s, importer.Options{})

	// Aptos's move was a copy that did not finish its delete, or someone
	// copied the file back: the catalog keeps it moved.
	s.put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m"))
	res := mustImport(t, db, s, importer.Options{})
	if res.Changed || !slices.Equal(res.KeptMoved, []string{"metadata/transaction_0-9.meta"}) || res.Unchanged != 0 {
		t.Errorf("both folders: %+v", res)
	}
	s.remove("metadata_backup/transaction_0-9.meta")
	res = mustImport(t, db, s, importer.Options{})
	if res.Changed || !slices.Equal(res.KeptMoved, []string{"metadata/transaction_0-9.meta"}) || len(res.Missing) != 0 {
		t.Errorf("live only: %+v", res)
	}
	if got := catalogtest.States(t, db)["metadata/transaction_0-9.meta"]; got != catalog.Moved {
		t.Errorf("state %v, want moved", got)
	}
}

func TestSameNameInBothFolders(t *testing.T) {
	db := newCatalog(t)
	s := newStorage(t).
		put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m")).
		putGzip("metadata_backup/transaction_0-9.meta", txn(0, 9, "t0/m"))
	res := mustImport(t, db, s, importer.Options{})
	if res.Files != 2 || res.Added != 1 || res.Entries != 1 {
		t.Errorf("result: %+v", res)
	}
	if got := catalogtest.States(t, db)["metadata/transaction_0-9.meta"]; got != catalog.Live {
		t.Errorf("state %v, want live (live wins)", got)
	}

	before := catalogtest.Bytes(t, db)
	s.put("metadata_backup/transaction_0-9.meta", txn(0, 9, "other/m"))
	_, err := importDir(t.Context(), db, s, importer.Options{})
	want := "import metadata/transaction_0-9.meta: content (sha256 4f8c45b1be8ac8c2) differs from that of metadata_backup/transaction_0-9.meta (sha256 36024701ae1f09b5), the same name: conflict"
	checkInputError(t, err, want)
	if !errors.Is(err, catalog.ErrConflict) {
		t.Errorf("not ErrConflict: %v", err)
	}
	assertUnchanged(t, db, before)
}

func TestConflictWithCatalog(t *testing.T) {
	db := newCatalog(t)
	s := newStorage(t).put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m"))
	mustImport(t, db, newStorage(t).put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m")), importer.Options{Source: "local-fs:/first"})
	before := catalogtest.Bytes(t, db)
	s.put("metadata/transaction_0-9.meta", txn(0, 9, "t0/other"))
	s.put("metadata/transaction_10-19.meta", txn(10, 19, "t10/m"))
	_, err := importDir(t.Context(), db, s, importer.Options{Source: "local-fs:/second"})
	want := "import metadata/transaction_0-9.meta: content (sha256 2b4cbd323c0b7330, from local-fs:/second) differs from the catalog's live file of the same name (sha256 4f8c45b1be8ac8c2, from local-fs:/first, imported 2024-05-06T07:08:09Z); a file's content never changes: conflict"
	checkInputError(t, err, want)
	if !errors.Is(err, catalog.ErrConflict) || !errors.Is(err, aptos.ErrInvalid) {
		t.Errorf("errors.Is conflict %v, invalid %v", errors.Is(err, catalog.ErrConflict), errors.Is(err, aptos.ErrInvalid))
	}
	assertUnchanged(t, db, before)
}

func TestIdentityConflicts(t *testing.T) {
	db := newCatalog(t)
	mustImport(t, db, newStorage(t).put("metadata/identity.meta", identity(0x11)), importer.Options{})
	before := catalogtest.Bytes(t, db)

	s := newStorage(t).
		put("metadata/identity.meta", identity(0x11)).
		put("metadata_backup/identity.meta", identity(0x11)).
		put("metadata/other.meta", identity(0x22)+identity(0x11)+identity(0x33))
	_, err := importDir(t.Context(), db, s, importer.Options{})
	id := func(b string) string { return strings.Repeat(b, 32) }
	want := strings.Join([]string{
		"import metadata/other.meta:1: identity " + id("22") + " differs from identity " + id("11") + " in metadata/identity.meta:1 (two chains in one storage): conflict",
		"import metadata/other.meta:1: identity " + id("22") + " differs from the catalog's identity " + id("11") + ": conflict",
		"import metadata/other.meta:3: identity " + id("33") + " differs from identity " + id("11") + " in metadata/identity.meta:1 (two chains in one storage): conflict",
		"import metadata/other.meta:3: identity " + id("33") + " differs from the catalog's identity " + id("11") + ": conflict",
	}, "\n")
	checkInputError(t, err, want)
	if !errors.Is(err, catalog.ErrConflict) {
		t.Errorf("not ErrConflict: %v", err)
	}
	assertUnchanged(t, db, before)

	// Into an empty catalog, only the disagreement within the import.
	_, err = importDir(t.Context(), newCatalog(t), newStorage(t).
		put("metadata/a-identity.meta", identity(0xaa)).
		put("metadata/b-identity.meta", identity(0xbb)), importer.Options{})
	checkInputError(t, err, "import metadata/b-identity.meta:1: identity "+id("bb")+" differs from identity "+id("aa")+" in metadata/a-identity.meta:1 (two chains in one storage): conflict")
}

// checkInputError fails unless err is an *InputError with exactly the text
// want.
func checkInputError(t *testing.T, err error, want string) *importer.InputError {
	t.Helper()
	var ie *importer.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T), want an *InputError", err, err)
	}
	if got := err.Error(); got != want {
		t.Errorf("error text:\n%s\nwant:\n%s", got, want)
	}
	if !errors.Is(err, aptos.ErrInvalid) {
		t.Errorf("not ErrInvalid")
	}
	return ie
}

func TestBadLinesInThreeFiles(t *testing.T) {
	db := newCatalog(t)
	mustImport(t, db, newStorage(t).put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m")), importer.Options{})
	before := catalogtest.Bytes(t, db)
	s := newStorage(t).
		put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m")).
		put("metadata/transaction_compacted_10-39.meta", txn(10, 19, "t10/m")+txn(20, 29, "t20/m")+`{"TransactionBackup":{"first_version":30,"last_version":39}}`+"\n").
		putGzip("metadata/epoch_ending_0-0.meta", `{"EpochEndingBackup":{"first_epoch":0,"last_epoch":0,"first_version":0,"last_version":0,"manifest":"../etc/passwd"}}`+"\n").
		put("metadata_backup/transaction_40-49.meta", txn(40, 49, "t40/m")+"\n")
	_, err := importDir(t.Context(), db, s, importer.Options{})
	want := strings.Join([]string{
		`import metadata/epoch_ending_0-0.meta:1: manifest "../etc/passwd" has a ".." segment`,
		"import metadata/transaction_compacted_10-39.meta:3:59: missing field `manifest`",
		"import metadata_backup/transaction_40-49.meta:2:1: EOF while parsing a value",
	}, "\n")
	ie := checkInputError(t, err, want)
	if len(ie.Problems) != 3 || ie.More != 0 || ie.Problems[1].Line != 3 || ie.Problems[1].Handle != "metadata/transaction_compacted_10-39.meta" {
		t.Errorf("problems %+v", ie.Problems)
	}
	var se *aptos.SyntaxError
	if !errors.As(ie.Problems[1].Err, &se) {
		t.Errorf("problem 2 is %T, want a *aptos.SyntaxError", ie.Problems[1].Err)
	}
	assertUnchanged(t, db, before)
}

func TestMaxProblems(t *testing.T) {
	db := newCatalog(t)
	before := catalogtest.Bytes(t, db)
	bad := strings.Repeat("{}\n", 7) // every line bad
	s := newStorage(t).
		put("metadata/a.meta", bad).
		put("metadata/b.meta", txn(0, 1, "ok/m")+bad).
		put("metadata/c.meta", "\n")
	_, err := importDir(t.Context(), db, s, importer.Options{MaxProblems: 3})
	want := strings.Join([]string{
		"import metadata/a.meta:1:2: expected exactly one variant key",
		"import metadata/a.meta:2:2: expected exactly one variant key",
		"import metadata/a.meta:3:2: expected exactly one variant key",
		"... and 12 more",
	}, "\n")
	ie := checkInputError(t, err, want)
	if ie.More != 12 {
		t.Errorf("more %d", ie.More)
	}
	assertUnchanged(t, db, before)
}

func TestStrayEntries(t *testing.T) {
	stray := func(t *testing.T) *storageDir {
		s := newStorage(t).
			put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m")).
			put("metadata/.DS_Store", "\x00\x01binary").
			put("metadata/README", "not metadata\n").
			put("metadata/x.meta.tmp", txn(0, 9, "t0/m")[:20]).
			put("metadata/.hidden.meta", txn(0, 9, "t0/m")).
			put("metadata/x.meta~", "").
			put("metadata_backup/notes.txt", "hello\n")
		for _, d := range []string{"metadata/subdir", "metadata/dir.meta"} {
			if err := os.Mkdir(filepath.Join(s.dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink("transaction_0-9.meta", filepath.Join(s.dir, "metadata/link.meta")); err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Run("skipped", func(t *testing.T) {
		db := newCatalog(t)
		res := mustImport(t, db, stray(t), importer.Options{})
		want := []string{"metadata/.DS_Store", "metadata/.hidden.meta", "metadata/README", "metadata/dir.meta",
			"metadata/link.meta", "metadata/subdir", "metadata/x.meta.tmp", "metadata/x.meta~", "metadata_backup/notes.txt"}
		if !slices.Equal(res.Skipped, want) {
			t.Errorf("skipped %q\nwant %q", res.Skipped, want)
		}
		if res.Added != 1 || res.Files != 1 {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("strict", func(t *testing.T) {
		db := newCatalog(t)
		before := catalogtest.Bytes(t, db)
		_, err := importDir(t.Context(), db, stray(t), importer.Options{Strict: true})
		dot := `stray entry: not a metadata file name: a dotfile (a name starting with ".")`
		notMeta := `stray entry: not a metadata file name: it does not end in ".meta"`
		want := strings.Join([]string{
			"import metadata/.DS_Store: " + dot,
			"import metadata/.hidden.meta: " + dot,
			"import metadata/README: " + notMeta,
			"import metadata/dir.meta: stray entry: not a regular file: it is a sub-folder (never followed or read)",
			"import metadata/link.meta: stray entry: not a regular file: it is a symbolic link (never followed or read)",
			"import metadata/subdir: " + notMeta,
			"import metadata/x.meta.tmp: " + notMeta,
			"import metadata/x.meta~: " + notMeta,
			"import metadata_backup/notes.txt: " + notMeta,
		}, "\n")
		checkInputError(t, err, want)
		if !errors.Is(err, importer.ErrStray) || !errors.Is(err, storage.ErrNotRegular) {
			t.Errorf("errors.Is stray %v, not regular %v", errors.Is(err, importer.ErrStray), errors.Is(err, storage.ErrNotRegular))
		}
		assertUnchanged(t, db, before)
	})
}

func TestFileSizeLimit(t *testing.T) {
	db := newCatalog(t)
	before := catalogtest.Bytes(t, db)
	line := txn(0, 9, "t0/"+strings.Repeat("m", 1000))
	s := newStorage(t).
		put("metadata/plain.meta", line).
		putGzip("metadata_backup/zipped.meta", strings.Repeat(line, 2)).
		put("metadata/small.meta", txn(0, 9, "t0/m"))
	_, err := importDir(t.Context(), db, s, importer.Options{MaxFileSize: 1 << 10})
	want := "import metadata/plain.meta: file is larger than 1 KiB\nimport metadata_backup/zipped.meta: file is larger than 1 KiB"
	checkInputError(t, err, want)
	if !errors.Is(err, storage.ErrTooLarge) {
		t.Errorf("not ErrTooLarge")
	}
	assertUnchanged(t, db, before)
}

// TestLongLine reads a 10 MiB line whole: the refusal is the manifest
// length rule, not a reader's line limit.
func TestLongLine(t *testing.T) {
	db := newCatalog(t)
	manifest := strings.Repeat("a", 10<<20)
	s := newStorage(t).putGzip("metadata/transaction_0-9.meta", txn(0, 9, manifest))
	_, err := importDir(t.Context(), db, s, importer.Options{})
	checkInputError(t, err, "import metadata/transaction_0-9.meta:1: manifest is 10485760 bytes, more than 4096")
}

func TestCorruptGzip(t *testing.T) {
	db := newCatalog(t)
	s := newStorage(t).putGzip("metadata/transaction_0-9.meta", txn(0, 9, "t0/m"))
	path := filepath.Join(s.dir, "metadata/transaction_0-9.meta")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)-5], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = importDir(t.Context(), db, s, importer.Options{})
	checkInputError(t, err, `import metadata/transaction_0-9.meta: read "metadata/transaction_0-9.meta": corrupt gzip stream: unexpected EOF`)
	if !errors.Is(err, storage.ErrCorrupt) {
		t.Errorf("not storage.ErrCorrupt")
	}
}

// vanishing is a source whose files are all gone after the listing, as
// when a compactor moves them meanwhile.
type vanishing struct{ storage.Source }

func (v vanishing) ReadFile(ctx context.Context, handle string, max int64) ([]byte, error) {
	return nil, &os.PathError{Op: "open", Path: handle, Err: os.ErrNotExist}
}

func TestSourceErrors(t *testing.T) {
	db := newCatalog(t)
	before := catalogtest.Bytes(t, db)
	s := newStorage(t).put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m"))
	_, err := importer.FromStorage(t.Context(), db, vanishing{s.source()}, importer.Options{})
	want := "import: metadata/transaction_0-9.meta was listed but is gone (moved or deleted meanwhile, perhaps by a compactor; run the import again): open metadata/transaction_0-9.meta: file does not exist"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	var ie *importer.InputError
	if errors.As(err, &ie) || errors.Is(err, aptos.ErrInvalid) {
		t.Errorf("a source failure is not invalid input: %v", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := importDir(ctx, db, s, importer.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	assertUnchanged(t, db, before)
}

func TestProgress(t *testing.T) {
	db := newCatalog(t)
	s := newStorage(t)
	for i := range uint64(50) {
		s.put("metadata/transaction_"+strconv.FormatUint(i, 10)+".meta", txn(i*10, i*10+9, "t/m"))
	}
	var got []importer.Progress
	res := mustImport(t, db, s, importer.Options{Progress: func(p importer.Progress) { got = append(got, p) }, Concurrency: 3})
	if res.Added != 50 {
		t.Fatalf("added %d", res.Added)
	}
	phases := []string{}
	for i, p := range got {
		if p.Total != 50 || p.Done < 0 || p.Done > p.Total {
			t.Errorf("report %d: %+v", i, p)
		}
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
			if p.Done != 0 {
				t.Errorf("phase %s starts at %d", p.Phase, p.Done)
			}
		}
		if i+1 == len(got) || got[i+1].Phase != p.Phase {
			if p.Done != p.Total {
				t.Errorf("phase %s ends at %d/%d", p.Phase, p.Done, p.Total)
			}
		}
	}
	if want := []string{importer.PhaseRead, importer.PhaseValidate, importer.PhaseCommit}; !slices.Equal(phases, want) {
		t.Errorf("phases %q, want %q", phases, want)
	}
	// Throttled: far fewer than one report per file and phase.
	if len(got) > 12 {
		t.Errorf("%d reports", len(got))
	}
}

func TestCommandAdapter(t *testing.T) {
	s := newStorage(t).
		putGzip("metadata/transaction_0-9.meta", txn(0, 9, "t0/m")).
		putGzip("metadata/transaction_10-19.meta", txn(10, 19, "t10/m")).
		putGzip("metadata_backup/transaction_0-4.meta", txn(0, 4, "t0old/m"))
	cfg := storage.CommandAdapterConfig{
		EnvVars: []storage.EnvVar{{Key: "FOLDER", Value: s.dir}},
		Commands: storage.Commands{
			CreateBackup: "false", CreateForWrite: "false", SaveMetadataLine: "false",
			OpenForRead:             `cat "$FOLDER/$FILE_HANDLE"`,
			ListMetadataFiles:       `cd "$FOLDER" && ls metadata | sed 's#^#metadata/#'`,
			ListMetadataBackupFiles: `ls "$FOLDER/metadata_backup"`,
		},
	}
	ca, err := storage.NewCommandAdapter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := newCatalog(t)
	res, err := importer.FromStorage(t.Context(), db, ca, importer.Options{Source: "command-adapter:test"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 3 || res.Entries != 2 {
		t.Errorf("result %+v", res)
	}
	// The same storage read from its folder is the same catalog.
	res, err = importDir(t.Context(), db, s, importer.Options{})
	if err != nil || res.Changed {
		t.Errorf("local after adapter: %+v, %v", res, err)
	}
}

// TestCleanedUpFilesStayDeleted: a drop-in sync after a cleanup finds the
// deleted moved files still in metadata_backup/ (nothing pruned them). The
// catalog's decision stands: they are listed, not imported again.
func TestCleanedUpFilesStayDeleted(t *testing.T) {
	now := clock
	db := catalogtest.OpenWith(t, catalogtest.Options{Command: "importer test", Now: func() time.Time { return now }, Verify: true})
	s := newStorage(t).
		put("metadata/transaction_compacted_0-19.meta", txn(0, 9, "t0/m")+txn(10, 19, "t10/m")).
		put("metadata_backup/transaction_0-9.meta", txn(0, 9, "t0/m")).
		putGzip("metadata_backup/transaction_10-19.meta", txn(10, 19, "t10/m"))
	mustImport(t, db, s, importer.Options{})
	now = now.Add(48 * time.Hour)
	cl, err := cleanup.Run(t.Context(), db, cleanup.Options{OlderThan: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.Deleted) != 2 {
		t.Fatalf("cleanup deleted %v, want the 2 moved files", cl.Deleted)
	}
	res := mustImport(t, db, s, importer.Options{})
	want := []string{"metadata/transaction_0-9.meta", "metadata/transaction_10-19.meta"}
	if res.Added != 0 || res.Changed || !slices.Equal(res.DeletedInStorage, want) {
		t.Fatalf("re-import: added %d, changed %v, deleted in storage %v; want 0, false, %v",
			res.Added, res.Changed, res.DeletedInStorage, want)
	}
	if got := catalogtest.States(t, db); len(got) != 1 {
		t.Errorf("states %v, want only the compacted file", got)
	}
	// Other content under a deleted name is not the deleted file: a
	// conflict-free add, as for any new file.
	s.remove("metadata_backup/transaction_0-9.meta").
		put("metadata_backup/transaction_0-9.meta", txn(0, 9, "other/m"))
	res = mustImport(t, db, s, importer.Options{})
	if res.Added != 1 || !slices.Equal(res.DeletedInStorage, want[1:]) {
		t.Fatalf("changed content: added %d, deleted in storage %v", res.Added, res.DeletedInStorage)
	}
}
