package export_test

import (
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/storage"
)

// localAdapter loads testdata/local-gzip.yaml with FOLDER set to folder.
// With noBackup, the backup_metadata_file command is dropped (as in the
// stale sample configs).
func localAdapter(t *testing.T, folder string, noBackup bool) *export.Adapter {
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
	return &export.Adapter{CA: ca, Config: "local-gzip.yaml"}
}

func TestToCommandAdapter(t *testing.T) {
	folder := t.TempDir()
	ca := localAdapter(t, folder, false)
	db := catalogtest.Open(t)
	originals, compacted := splitStorage(t, db)
	// The remote holds generation 1 as the sample configs store it
	// (gzip), plus files the catalog does not know.
	if _, err := toDir(t.Context(), db, folder, dirOptions{Gzip: true}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(folder, "metadata", "stray.meta"), "x")
	mustWrite(t, filepath.Join(folder, "metadata_backup", "old.meta"), "x")
	compact(t, db, originals, compacted)

	var calls int
	res, err := export.Publish(t.Context(), db, ca, export.Options{Progress: func(done, total int) {
		calls++
		if done != calls || total != len(originals)+len(compacted) {
			t.Errorf("progress (%d, %d) at call %d", done, total, calls)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := counts{Generation: 3, Written: len(compacted), Moved: len(originals),
		Kept: []string{"metadata/stray.meta not-metadata", "metadata_backup/old.meta not-metadata"}}
	if !equalResult(res, &want) {
		t.Errorf("%+v, want %+v", res, want)
	}
	os.Remove(filepath.Join(folder, "metadata", "stray.meta"))
	os.Remove(filepath.Join(folder, "metadata_backup", "old.meta"))
	checkExact(t, db, folder, true)

	// A second export finds everything in place.
	res, err = export.Publish(t.Context(), db, ca, export.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want = counts{Generation: 3, Unchanged: len(originals) + len(compacted)}
	if !equalResult(res, &want) {
		t.Errorf("second export: %+v, want %+v", res, want)
	}
}

func TestToCommandAdapterEmptyRemote(t *testing.T) {
	folder := t.TempDir()
	ca := localAdapter(t, folder, false)
	db := catalogtest.Open(t)
	originals, compacted := splitStorage(t, db)
	compact(t, db, originals, compacted)
	res, err := export.Publish(t.Context(), db, ca, export.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Moved files the remote never had need nothing: Aptos does not see
	// them, and the adapter cannot write into metadata_backup/.
	want := counts{Generation: 3, Written: len(compacted), Unchanged: len(originals)}
	if !equalResult(res, &want) {
		t.Errorf("%+v, want %+v", res, want)
	}
	live := readFolder(t, filepath.Join(folder, "metadata"))
	for _, f := range compacted {
		if got := gunzip(t, f.Name, live[f.Name]); string(got) != string(f.Content()) {
			t.Errorf("%s = %q, want %q", f.Name, got, f.Content())
		}
	}
	if len(live) != len(compacted) {
		t.Errorf("remote metadata/ holds %v", sortedKeys(live))
	}
}

func TestToCommandAdapterNoBackupCommand(t *testing.T) {
	folder := t.TempDir()
	ca := localAdapter(t, folder, true)
	db := catalogtest.Open(t)
	originals, compacted := splitStorage(t, db)
	if _, err := toDir(t.Context(), db, folder, dirOptions{Gzip: true}); err != nil {
		t.Fatal(err)
	}
	compact(t, db, originals, compacted)
	before := snapshotTree(t, folder)
	_, err := export.Publish(t.Context(), db, ca, export.Options{})
	if !errors.Is(err, storage.ErrNoBackupCommand) {
		t.Fatalf("error %v, want one wrapping storage.ErrNoBackupCommand", err)
	}
	if after := snapshotTree(t, folder); !maps.Equal(after, before) {
		t.Errorf("remote changed although the export was refused")
	}
}

// TestToCommandAdapterConcurrent publishes with several commands at once
// (--concurrent-downloads): the same result and the same remote as one at a
// time, and progress still counts every command once, in order.
func TestToCommandAdapterConcurrent(t *testing.T) {
	folder := t.TempDir()
	ca := localAdapter(t, folder, false)
	ca.Concurrency = 4
	db := catalogtest.Open(t)
	originals, compacted := splitStorage(t, db)
	if _, err := toDir(t.Context(), db, folder, dirOptions{Gzip: true}); err != nil {
		t.Fatal(err)
	}
	compact(t, db, originals, compacted)
	last := 0
	res, err := export.Publish(t.Context(), db, ca, export.Options{Progress: func(done, total int) {
		if done != last+1 {
			t.Errorf("progress %d after %d", done, last)
		}
		last = done
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := counts{Generation: 3, Written: len(compacted), Moved: len(originals)}
	if !equalResult(res, &want) || last != len(originals)+len(compacted) {
		t.Errorf("%+v (progress %d), want %+v", countsOf(res), last, want)
	}
	checkExact(t, db, folder, true)
}

// TestAdapterDryRunChangesNothing: a dry run through the command adapter
// lists the remote and reads its unknown files, runs no save or move
// command, and reports exactly what the real run then does.
func TestAdapterDryRunChangesNothing(t *testing.T) {
	folder := t.TempDir()
	ca := localAdapter(t, folder, false)
	db := catalogtest.Open(t)
	originals, compacted := splitStorage(t, db)
	if _, err := toDir(t.Context(), db, folder, dirOptions{Gzip: true}); err != nil {
		t.Fatal(err)
	}
	compact(t, db, originals, compacted)
	// The coordinator writes through the same config: gzip objects.
	var gz storage.Gzipper
	mustWrite(t, filepath.Join(folder, "metadata", "transaction_99000000-99999999.meta"), string(gz.Compress([]byte(newMeta))))
	before := snapshotTree(t, folder)
	dry, err := export.Publish(t.Context(), db, ca, export.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if after := snapshotTree(t, folder); !maps.Equal(after, before) {
		t.Fatal("adapter dry run changed the remote")
	}
	want := counts{Generation: 3, Written: len(compacted), Moved: len(originals),
		Kept: []string{"metadata/transaction_99000000-99999999.meta new"}}
	if !equalResult(dry, &want) || !dry.DryRun {
		t.Errorf("dry run %+v, want %+v", countsOf(dry), want)
	}
	real, err := export.Publish(t.Context(), db, ca, export.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !equalResult(real, &want) || !slices.Equal(real.Written, dry.Written) || !slices.Equal(real.Moved, dry.Moved) {
		t.Errorf("real run %+v, the dry run said %+v", countsOf(real), countsOf(dry))
	}
}
