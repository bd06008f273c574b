package workflow_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/compaction"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/storage"
	"github.com/metactl/metactl/workflow"
)

// fileCatalog is a catalog file as a workflow.Catalog, the least a
// caller implements.
type fileCatalog struct{ path string }

func (c fileCatalog) Location() string { return c.path }
func (c fileCatalog) Options(readOnly bool, command string) *catalog.Options {
	return &catalog.Options{ReadOnly: readOnly, Timeout: -1, Command: command}
}
func (c fileCatalog) CheckWrite() error { return nil }
func (c fileCatalog) Exists() bool {
	_, err := os.Lstat(c.path)
	return err == nil
}
func (c fileCatalog) OpenRead(ctx context.Context, command string) (catalog.DB, func(), error) {
	db, err := catalog.Open(ctx, c.path, c.Options(true, command))
	if err != nil {
		return nil, nil, err
	}
	return db, func() { db.Close() }, nil
}
func (c fileCatalog) OpenWrite(ctx context.Context, command string) (catalog.DB, error) {
	return catalog.Open(ctx, c.path, c.Options(false, command))
}
func (c fileCatalog) OpenExisting(ctx context.Context, command string) (catalog.DB, error) {
	if !c.Exists() {
		return nil, catalog.ErrNoCatalog
	}
	return c.OpenWrite(ctx, command)
}
func (c fileCatalog) RemoveIfFresh(existed bool) {
	if !existed {
		catalog.RemoveIfEmpty(context.Background(), c.path, time.Second)
	}
}

// sample copies testdata/sample, a LocalFs storage, into a new folder.
func sample(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "storage")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "testdata", "sample"))); err != nil {
		t.Fatal(err)
	}
	return dir
}

func names(t *testing.T, dir string) []string {
	es, err := os.ReadDir(filepath.Join(dir, "metadata"))
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range es {
		ns = append(ns, e.Name())
	}
	return ns
}

// TestImportThenDropIn runs the workflows as a library caller does: a
// first (streamed) import, a second (batch) one that changes nothing, a
// dry-run drop-in that changes neither the catalog nor the storage, then
// the drop-in itself.
func TestImportThenDropIn(t *testing.T) {
	ctx := context.Background()
	dir := sample(t)
	cat := fileCatalog{filepath.Join(t.TempDir(), "metactl.db")}
	src, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	first, err := workflow.Import(ctx, cat, "import", src, importer.Options{Source: "sample"})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Changed || first.Added == 0 {
		t.Fatalf("first import: changed %v, %d added", first.Changed, first.Added)
	}
	again, err := workflow.Import(ctx, cat, "import", src, importer.Options{Source: "sample"})
	if err != nil || again.Changed || again.Unchanged != first.Added {
		t.Fatalf("second import: %+v, %v; want nothing changed", again, err)
	}

	opts := compaction.Options{EpochEndingFactor: 100, StateSnapshotFactor: 100, TransactionFactor: 100, RemoveCompactedFileAfter: 0}
	before := names(t, dir)
	dry, err := workflow.DropIn(ctx, cat, workflow.DropInOptions{Compaction: opts, DryRun: true, Target: &export.Dir{Path: dir, Existing: true}})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Op != nil || dry.Synced != nil || dry.Published == nil || !dry.Published.DryRun || len(dry.Plan.Write) == 0 {
		t.Fatalf("dry run: op %v, synced %v, published %+v, %d writes", dry.Op, dry.Synced, dry.Published, len(dry.Plan.Write))
	}
	if after := names(t, dir); len(after) != len(before) {
		t.Fatalf("dry run changed the storage: %d files, then %d", len(before), len(after))
	}

	res, err := workflow.DropIn(ctx, cat, workflow.DropInOptions{Compaction: opts, Target: &export.Dir{Path: dir, Existing: true}, Source: src, Import: importer.Options{Source: "sample"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Op == nil || !res.Op.Changed() || res.Synced == nil || res.Synced.Changed || res.Published == nil {
		t.Fatalf("drop-in: op %v, synced %+v, published %+v", res.Op, res.Synced, res.Published)
	}
	if len(res.Published.Written) != len(dry.Published.Written) {
		t.Errorf("drop-in wrote %d files, its dry run predicted %d", len(res.Published.Written), len(dry.Published.Written))
	}
	for _, w := range res.Plan.Write {
		if _, err := os.Stat(filepath.Join(dir, w.Handle)); err != nil {
			t.Errorf("compacted file not published: %v", err)
		}
	}
}

// TestDropInNeedsACatalog: without a storage the drop-in compacts the
// catalog only, and a missing catalog is refused, not created.
func TestDropInNeedsACatalog(t *testing.T) {
	cat := fileCatalog{filepath.Join(t.TempDir(), "metactl.db")}
	_, err := workflow.DropIn(context.Background(), cat, workflow.DropInOptions{Compaction: compaction.Options{EpochEndingFactor: 1, StateSnapshotFactor: 1, TransactionFactor: 1}})
	if err != catalog.ErrNoCatalog {
		t.Fatalf("got %v, want %v", err, catalog.ErrNoCatalog)
	}
	if cat.Exists() {
		t.Fatal("a refused drop-in created the catalog")
	}
}
