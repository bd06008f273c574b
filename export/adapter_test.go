package export_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/storage"
)

// localAdapter loads testdata/local-gzip.yaml with FOLDER set to folder.
// With noBackup, the backup_metadata_file command is dropped (as in the
// stale sample configs).
func localAdapter(t *testing.T, folder string, noBackup bool) *storage.CommandAdapter {
	t.Helper()
	for _, tool := range []string{"bash", "gzip", "sed", "ls", "mv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
	}
	ca, err := storage.LoadCommandAdapter(filepath.Join("testdata", "local-gzip.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := ca.Config()
	cfg.EnvVars = append(cfg.EnvVars, storage.EnvVar{Key: "FOLDER", Value: folder})
	if noBackup {
		cfg.Commands.BackupMetadataFile = ""
	}
	ca, err = storage.NewCommandAdapter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// splitStorage puts the originals of compactedStorage into db, all live
// (generation 1), and returns the originals' and compacted files' names.
func splitStorage(t *testing.T, db *catalog.DB) (originals, compacted []testFile) {
	t.Helper()
	for _, f := range compactedStorage() {
		if f.state == catalog.Moved {
			f.state = catalog.Live
			originals = append(originals, f)
		} else {
			compacted = append(compacted, f)
		}
	}
	put(t, db, originals)
	return originals, compacted
}

func compact(t *testing.T, db *catalog.DB, originals, compacted []testFile) {
	t.Helper()
	put(t, db, compacted)
	var names []string
	for _, f := range originals {
		names = append(names, f.name)
	}
	setState(t, db, catalog.Moved, names...)
}

func TestToCommandAdapter(t *testing.T) {
	folder := t.TempDir()
	ca := localAdapter(t, folder, false)
	db := openCatalog(t, "")
	originals, compacted := splitStorage(t, db)
	// The remote holds generation 1 as the sample configs store it
	// (gzip), plus files the catalog does not know.
	if _, err := export.ToDir(t.Context(), db, folder, export.DirOptions{Gzip: true}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(folder, "metadata", "stray.meta"), "x")
	mustWrite(t, filepath.Join(folder, "metadata_backup", "old.meta"), "x")
	compact(t, db, originals, compacted)

	var calls int
	res, err := export.ToCommandAdapter(t.Context(), db, ca, export.AdapterOptions{Progress: func(done, total int) {
		calls++
		if done != calls || total != len(originals)+len(compacted) {
			t.Errorf("progress (%d, %d) at call %d", done, total, calls)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := export.AdapterResult{Generation: 3, Saved: len(compacted), Moved: len(originals),
		Unknown: []string{"metadata/stray.meta", "metadata_backup/old.meta"}}
	if !equalAdapterResult(res, &want) {
		t.Errorf("%+v, want %+v", res, want)
	}
	os.Remove(filepath.Join(folder, "metadata", "stray.meta"))
	os.Remove(filepath.Join(folder, "metadata_backup", "old.meta"))
	checkExact(t, db, folder, true)

	// A second export finds everything in place.
	res, err = export.ToCommandAdapter(t.Context(), db, ca, export.AdapterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = export.AdapterResult{Generation: 3, Unchanged: len(originals) + len(compacted)}
	if !equalAdapterResult(res, &want) {
		t.Errorf("second export: %+v, want %+v", res, want)
	}
}

func TestToCommandAdapterEmptyRemote(t *testing.T) {
	folder := t.TempDir()
	ca := localAdapter(t, folder, false)
	db := openCatalog(t, "")
	originals, compacted := splitStorage(t, db)
	compact(t, db, originals, compacted)
	res, err := export.ToCommandAdapter(t.Context(), db, ca, export.AdapterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Moved files the remote never had need nothing: Aptos does not see
	// them, and the adapter cannot write into metadata_backup/.
	want := export.AdapterResult{Generation: 3, Saved: len(compacted), Unchanged: len(originals)}
	if !equalAdapterResult(res, &want) {
		t.Errorf("%+v, want %+v", res, want)
	}
	live := readFolder(t, filepath.Join(folder, "metadata"))
	for _, f := range compacted {
		if got := gunzip(t, f.name, live[f.name]); string(got) != string(f.content()) {
			t.Errorf("%s = %q, want %q", f.name, got, f.content())
		}
	}
	if len(live) != len(compacted) {
		t.Errorf("remote metadata/ holds %v", sortedKeys(live))
	}
}

func TestToCommandAdapterNoBackupCommand(t *testing.T) {
	folder := t.TempDir()
	ca := localAdapter(t, folder, true)
	db := openCatalog(t, "")
	originals, compacted := splitStorage(t, db)
	if _, err := export.ToDir(t.Context(), db, folder, export.DirOptions{Gzip: true}); err != nil {
		t.Fatal(err)
	}
	compact(t, db, originals, compacted)
	before := snapshotTree(t, folder)
	_, err := export.ToCommandAdapter(t.Context(), db, ca, export.AdapterOptions{})
	if !errors.Is(err, storage.ErrNoBackupCommand) {
		t.Fatalf("error %v, want one wrapping storage.ErrNoBackupCommand", err)
	}
	if after := snapshotTree(t, folder); !equalTree(after, before) {
		t.Errorf("remote changed although the export was refused")
	}
}

func equalAdapterResult(a, b *export.AdapterResult) bool {
	return a.Generation == b.Generation && a.Saved == b.Saved && a.Moved == b.Moved &&
		a.Unchanged == b.Unchanged && slices.Equal(a.Unknown, b.Unknown)
}
