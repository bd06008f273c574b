package importer_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/storage"
)

// clock is the fixed time every test catalog sees.
var clock = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// newCatalog opens a fresh catalog in a temporary folder, with the clock
// clock. Cleanup runs bbolt's check and the catalog's own consistency
// check (catalogtest.Verify), then closes it.
func newCatalog(t *testing.T) catalog.DB {
	t.Helper()
	return catalogtest.OpenWith(t, catalogtest.Options{Command: "importer test", Now: func() time.Time { return clock }, Verify: true})
}

// assertUnchanged fails if the catalog file differs from before (its
// catalogtest.Bytes).
func assertUnchanged(t *testing.T, db catalog.DB, before []byte) {
	t.Helper()
	if !bytes.Equal(catalogtest.Bytes(t, db), before) {
		t.Errorf("catalog file changed")
	}
}

// storageDir is a LocalFs storage under construction.
type storageDir struct {
	t   *testing.T
	dir string
}

func newStorage(t *testing.T) *storageDir {
	t.Helper()
	s := &storageDir{t: t, dir: t.TempDir()}
	for _, d := range []string{aptos.MetadataDir, aptos.MetadataBackupDir} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// put writes handle ("metadata/x.meta") with content.
func (s *storageDir) put(handle, content string) *storageDir {
	s.t.Helper()
	if err := os.WriteFile(filepath.Join(s.dir, handle), []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return s
}

// putGzip writes handle with content gzip-compressed, as bucket copies are.
func (s *storageDir) putGzip(handle, content string) *storageDir {
	s.t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(content)); err != nil {
		s.t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		s.t.Fatal(err)
	}
	return s.put(handle, b.String())
}

// move moves a file from metadata/ to metadata_backup/, as Aptos does.
func (s *storageDir) move(name string) *storageDir {
	s.t.Helper()
	if err := os.Rename(filepath.Join(s.dir, "metadata", name), filepath.Join(s.dir, "metadata_backup", name)); err != nil {
		s.t.Fatal(err)
	}
	return s
}

func (s *storageDir) remove(handle string) *storageDir {
	s.t.Helper()
	if err := os.Remove(filepath.Join(s.dir, handle)); err != nil {
		s.t.Fatal(err)
	}
	return s
}

func (s *storageDir) source() storage.Source {
	s.t.Helper()
	src, err := storage.NewLocal(s.dir)
	if err != nil {
		s.t.Fatal(err)
	}
	return src
}

func (s *storageDir) label() string { return "local-fs:" + s.dir }

// importDir imports s into db.
func importDir(ctx context.Context, db catalog.DB, s *storageDir, opts importer.Options) (*importer.Result, error) {
	if opts.Source == "" {
		opts.Source = "test"
	}
	return importer.FromStorage(ctx, db, s.source(), opts)
}

// mustImport imports s into db and fails the test on error.
func mustImport(t *testing.T, db catalog.DB, s *storageDir, opts importer.Options) *importer.Result {
	t.Helper()
	res, err := importDir(t.Context(), db, s, opts)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return res
}

func txn(first, last uint64, manifest string) string {
	m := aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: first, LastVersion: last, Manifest: manifest})
	return string(aptos.EncodeLine(&m))
}

func epoch(first, last uint64, manifest string) string {
	m := aptos.NewEpochEnding(aptos.EpochEndingBackup{FirstEpoch: first, LastEpoch: last, FirstVersion: first * 10, LastVersion: last * 10, Manifest: manifest})
	return string(aptos.EncodeLine(&m))
}

func identity(b byte) string {
	var id aptos.HashValue
	for i := range id {
		id[i] = b
	}
	m := aptos.NewIdentity(id)
	return string(aptos.EncodeLine(&m))
}
