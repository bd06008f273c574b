package importer_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/internal/catalogtest"
)

// An archive imports through the importer like any other source (issue 7):
// these tests are the former Import tests of package archive, unchanged
// in what they accept and refuse.

// source is the source label of the archived catalog's files.
const source = "local:/srv/backup"

// importArchive reads the archive in data and commits it into db.
func importArchive(t testing.TB, db catalog.DB, data []byte) (*importer.Result, error) {
	t.Helper()
	a, err := importer.ReadArchive(context.Background(), bytes.NewReader(data), importer.Options{Source: "archive:test.mcar"})
	if err != nil {
		return nil, err
	}
	return a.Commit(context.Background(), db)
}

func TestArchiveImportRoundTrip(t *testing.T) {
	src := catalogtest.Open(t)
	catalogtest.PutFrom(t, src, source, catalogtest.CompactedStorage()...)
	data, h := catalogtest.Archive(t, src)

	dst := catalogtest.Open(t)
	res, err := importArchive(t, dst, data)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != h.Files || res.Moved != 0 || res.Unchanged != 0 || !res.Changed {
		t.Errorf("result %+v, want %d added", res, h.Files)
	}
	if got, want := catalogtest.SummaryOf(t, dst), catalogtest.SummaryOf(t, src); got.Digest != want.Digest || got.Entries != want.Entries || got.Gen != 1 {
		t.Errorf("imported catalog %+v, source %+v", got, want)
	}
	sf, df := catalogtest.Files(t, src), catalogtest.Files(t, dst)
	if len(sf) != len(df) {
		t.Fatalf("imported %d files, want %d", len(df), len(sf))
	}
	for i := range sf {
		if sf[i].Handle != df[i].Handle || sf[i].State != df[i].State || !bytes.Equal(sf[i].Content, df[i].Content) {
			t.Errorf("file %d: %+v, want %+v", i, df[i], sf[i])
		}
		if want := "archive:" + sf[i].Source; df[i].Source != want {
			t.Errorf("%s: source %q, want %q", df[i].Handle, df[i].Source, want)
		}
	}
	var op catalog.Operation
	dst.View(t.Context(), func(tx catalog.Tx) error {
		return tx.Operations(func(o *catalog.Operation) bool { op = *o; return false })
	})
	if op.Kind != "import" || op.Added.Count != h.Files {
		t.Errorf("journal: %+v", op)
	}

	// Importing it again changes nothing.
	res, err = importArchive(t, dst, data)
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged != h.Files || res.Changed || catalogtest.SummaryOf(t, dst).Gen != 1 {
		t.Errorf("re-import: %+v (generation %d)", res, catalogtest.SummaryOf(t, dst).Gen)
	}

	// The imported catalog archives to the same view.
	_, h2 := catalogtest.Archive(t, dst)
	if h2.ViewDigest != h.ViewDigest || h2.Entries != h.Entries || h2.Files != h.Files || h2.Identity != h.Identity {
		t.Errorf("archive of the import: %+v, want view of %+v", h2, h)
	}
}

func TestArchiveImportIntoPartialCatalog(t *testing.T) {
	// A catalog that holds some of the archive's files, one in another
	// state, takes the rest and ends with the archive's view.
	src := catalogtest.Open(t)
	catalogtest.PutFrom(t, src, source, catalogtest.CompactedStorage()...)
	data, h := catalogtest.Archive(t, src)
	dst := catalogtest.Open(t)
	part := catalogtest.CompactedStorage()[:4]
	part[1].State = catalog.Live // epoch_ending_0-0: moved in the archive
	catalogtest.PutFrom(t, dst, source, part...)
	res, err := importArchive(t, dst, data)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != h.Files-4 || res.Moved != 1 || res.Unchanged != 3 {
		t.Errorf("result %+v", res)
	}
	if got := catalogtest.SummaryOf(t, dst); got.Digest != h.ViewDigest {
		t.Errorf("digest %s, want %s", got.Digest, h.ViewDigest)
	}
}

func TestArchiveImportRefusals(t *testing.T) {
	src := catalogtest.Open(t)
	catalogtest.PutFrom(t, src, source, catalogtest.CompactedStorage()...)
	data, _ := catalogtest.Archive(t, src)

	t.Run("conflict", func(t *testing.T) {
		dst := catalogtest.Open(t)
		other := catalogtest.CompactedStorage()[7] // state_snapshot_ver_14.meta
		other.Lines = []aptos.Metadata{aptos.NewStateSnapshot(aptos.StateSnapshotBackup{Epoch: 1, Version: 14, Manifest: "state_epoch_1_ver_14.ffff/state.manifest"})}
		catalogtest.PutFrom(t, dst, source, other)
		before := catalogtest.SummaryOf(t, dst)
		_, err := importArchive(t, dst, data)
		if !errors.Is(err, catalog.ErrConflict) {
			t.Fatalf("error %v, want one wrapping catalog.ErrConflict", err)
		}
		if !strings.Contains(err.Error(), "import metadata/state_snapshot_ver_14.meta: content") {
			t.Errorf("error %q does not name the file", err)
		}
		if after := catalogtest.SummaryOf(t, dst); after != before {
			t.Errorf("catalog changed: %+v, was %+v", after, before)
		}
	})
	t.Run("other live files", func(t *testing.T) {
		dst := catalogtest.Open(t)
		catalogtest.PutFrom(t, dst, source, catalogtest.File{Name: "transaction_30-44.meta", State: catalog.Live, Lines: []aptos.Metadata{aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: 30, LastVersion: 44, Manifest: "transaction_30-.0001/transaction.manifest"})}})
		before := catalogtest.SummaryOf(t, dst)
		_, err := importArchive(t, dst, data)
		if !errors.Is(err, archive.ErrViewMismatch) {
			t.Fatalf("error %v, want one wrapping ErrViewMismatch", err)
		}
		if after := catalogtest.SummaryOf(t, dst); after != before {
			t.Errorf("catalog changed: %+v, was %+v", after, before)
		}
	})
	t.Run("other identity", func(t *testing.T) {
		dst := catalogtest.Open(t)
		var id aptos.HashValue
		id[0] = 0xee
		catalogtest.PutFrom(t, dst, source, catalogtest.File{Name: "identity_other.meta", State: catalog.Moved, Lines: []aptos.Metadata{aptos.NewIdentity(id)}})
		_, err := importArchive(t, dst, data)
		if !errors.Is(err, catalog.ErrConflict) {
			t.Fatalf("error %v, want one wrapping catalog.ErrConflict", err)
		}
		if got := catalogtest.SummaryOf(t, dst).Gen; got != 1 {
			t.Errorf("generation %d, want 1", got)
		}
	})
}
