package export_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/internal/catalogtest"
	"golang.org/x/sys/unix"
)

func TestToDirRoundTrip(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			files := catalogtest.CompactedStorage()
			db := catalogtest.Open(t)
			catalogtest.Put(t, db, files...)
			dir := filepath.Join(t.TempDir(), "storage")
			var calls [][2]int
			res, err := toDir(t.Context(), db, dir, dirOptions{Gzip: gz, Progress: func(d, n int) { calls = append(calls, [2]int{d, n}) }})
			if err != nil {
				t.Fatal(err)
			}
			want := counts{Generation: 1, Written: len(files)}
			if !equalResult(res, &want) {
				t.Errorf("result %+v, want %+v", res, want)
			}
			checkExact(t, db, dir, gz)
			if len(calls) != len(files) || calls[len(calls)-1] != [2]int{len(files), len(files)} {
				t.Errorf("progress calls %v, want %d ending at (%d, %d)", calls, len(files), len(files), len(files))
			}
			if gz {
				// Deterministic gzip: MTIME 0, no name (FLG 0), OS Unix.
				b, err := os.ReadFile(filepath.Join(dir, "metadata", "identity.meta"))
				if err != nil {
					t.Fatal(err)
				}
				if hdr := b[:10]; hdr[3] != 0 || !bytes.Equal(hdr[4:8], []byte{0, 0, 0, 0}) || hdr[9] != 3 {
					t.Errorf("gzip header % x: want FLG 0, MTIME 0, OS 3", hdr)
				}
			}
		})
	}
}

// mtimes returns the modification time of every file under the two
// metadata folders.
func mtimes(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	for _, folder := range []string{"metadata", "metadata_backup"} {
		ents, _ := os.ReadDir(filepath.Join(dir, folder))
		for _, e := range ents {
			info, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			out[folder+"/"+e.Name()] = info.ModTime()
		}
	}
	return out
}

func TestToDirSecondExportWritesNothing(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			files := catalogtest.CompactedStorage()
			db := catalogtest.Open(t)
			catalogtest.Put(t, db, files...)
			dir := t.TempDir()
			if _, err := toDir(t.Context(), db, dir, dirOptions{Gzip: gz}); err != nil {
				t.Fatal(err)
			}
			// Age every file, so a rewrite would show whatever the
			// filesystem's timestamp granularity.
			old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
			for p := range mtimes(t, dir) {
				if err := os.Chtimes(filepath.Join(dir, p), old, old); err != nil {
					t.Fatal(err)
				}
			}
			before := mtimes(t, dir)
			res, err := toDir(t.Context(), db, dir, dirOptions{Gzip: gz})
			if err != nil {
				t.Fatal(err)
			}
			want := counts{Generation: 1, Unchanged: len(files)}
			if !equalResult(res, &want) {
				t.Errorf("second export: %+v, want %+v", res, want)
			}
			after := mtimes(t, dir)
			for p, m := range before {
				if !after[p].Equal(m) {
					t.Errorf("%s was rewritten (mtime %v, was %v)", p, after[p], m)
				}
			}
			checkExact(t, db, dir, gz)

			// Switching compression rewrites every file once.
			res, err = toDir(t.Context(), db, dir, dirOptions{Gzip: !gz})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Written) != len(files) {
				t.Errorf("export with gzip=%v after gzip=%v wrote %d files, want %d", !gz, gz, len(res.Written), len(files))
			}
			checkExact(t, db, dir, !gz)
		})
	}
}

func TestToDirMovesAndRevives(t *testing.T) {
	files := catalogtest.CompactedStorage()
	// Generation 1: everything live (before compaction moved anything).
	db := catalogtest.Open(t)
	all := slices.Clone(files)
	var moved []string
	for i := range all {
		if all[i].State == catalog.Moved {
			moved = append(moved, all[i].Name)
			all[i].State = catalog.Live
		}
	}
	catalogtest.Put(t, db, all...)
	dir := t.TempDir()
	if _, err := toDir(t.Context(), db, dir, dirOptions{}); err != nil {
		t.Fatal(err)
	}
	checkExact(t, db, dir, false)

	// Generation 2: compaction moved the originals.
	catalogtest.SetState(t, db, catalog.Moved, moved...)
	res, err := toDir(t.Context(), db, dir, dirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A move is reported once, as a move, though a Dir writes the copy in
	// metadata_backup/ before it removes the original.
	want := counts{Generation: 2, Written: 0, Moved: len(moved), Unchanged: len(files) - len(moved)}
	if !equalResult(res, &want) {
		t.Errorf("after moves: %+v, want %+v", res, want)
	}
	checkExact(t, db, dir, false)

	// Generation 3: one file revived; its backup copy goes.
	catalogtest.SetState(t, db, catalog.Live, moved[0])
	res, err = toDir(t.Context(), db, dir, dirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = counts{Generation: 3, Written: 0, Moved: 1, Unchanged: len(files) - 1}
	if !equalResult(res, &want) {
		t.Errorf("after revive: %+v, want %+v", res, want)
	}
	checkExact(t, db, dir, false)
}

// newMeta is what the backup coordinator writes next: a valid metadata
// file the catalog does not know.
const newMeta = `{"TransactionBackup":{"first_version":99000000,"last_version":99999999,"manifest":"transaction_99000000-.1234/transaction.manifest"}}` + "\n"

// cleanupDelete deletes the moved file name from db as cleanup does, so
// the journal records it as deleted.
func cleanupDelete(t *testing.T, db catalog.DB, name string) {
	t.Helper()
	_, err := db.Update(t.Context(), "cleanup", func(tx catalog.WriteTx) error {
		return tx.DeleteFile(aptos.LiveHandle(name))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestExportKeepsWhatItDoesNotOwn is issue 8's first case: a file under
// metadata/ or metadata_backup/ that the catalog does not know is never
// removed or changed, with or without --prune; a valid metadata file is
// reported as new (run import); --prune removes only files the catalog
// records as deleted by cleanup.
func TestExportKeepsWhatItDoesNotOwn(t *testing.T) {
	files := catalogtest.CompactedStorage()
	db := catalogtest.Open(t)
	catalogtest.Put(t, db, files...)
	dir := t.TempDir()
	if _, err := toDir(t.Context(), db, dir, dirOptions{}); err != nil {
		t.Fatal(err)
	}
	// Cleanup deletes one moved file; its copy stays in metadata_backup/.
	const gone = "epoch_ending_0-0.meta"
	cleanupDelete(t, db, gone)

	outside := t.TempDir()
	target := filepath.Join(outside, "precious")
	mustWrite(t, target, "keep me")
	mustMkdir(t, filepath.Join(dir, "metadata", "sub"))
	mustWrite(t, filepath.Join(dir, "metadata", "stray.txt"), "x")
	mustWrite(t, filepath.Join(dir, "metadata", ".hidden"), "x")
	mustWrite(t, filepath.Join(dir, "metadata", "transaction_99000000-99999999.meta"), newMeta)
	mustWrite(t, filepath.Join(dir, "metadata_backup", "epoch_ending_9-99.meta"), "x")
	if err := os.Symlink(target, filepath.Join(dir, "metadata", "link.meta")); err != nil {
		t.Fatal(err)
	}
	kept := []string{
		"metadata/.hidden not-metadata",
		"metadata/link.meta not-metadata",
		"metadata/stray.txt not-metadata",
		"metadata/sub not-metadata",
		"metadata/transaction_99000000-99999999.meta new",
		"metadata_backup/epoch_ending_9-99.meta not-metadata",
	}
	live := len(files) - 1

	// Without --prune: nothing at all is removed.
	before := snapshotTree(t, dir)
	res, err := toDir(t.Context(), db, dir, dirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := counts{Generation: 2, Unchanged: live, Kept: append([]string{"metadata_backup/" + gone + " deleted"}, kept...)}
	slices.Sort(want.Kept)
	if !equalResult(res, &want) {
		t.Errorf("without prune:\n got %+v\nwant %+v", countsOf(res), want)
	}
	if after := snapshotTree(t, dir); !maps.Equal(after, before) {
		t.Errorf("export without --prune changed the folder")
	}
	for _, k := range res.Kept {
		if k.Path == "metadata/transaction_99000000-99999999.meta" {
			if got, want := k.Message(), "new in the storage, not in the catalog: run import"; got != want {
				t.Errorf("message for a new file: %q, want %q", got, want)
			}
		}
	}

	// With --prune: only the file cleanup deleted goes.
	res, err = toDir(t.Context(), db, dir, dirOptions{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	want = counts{Generation: 2, Unchanged: live, Removed: []string{"metadata_backup/" + gone}, Kept: kept}
	if !equalResult(res, &want) {
		t.Errorf("with prune:\n got %+v\nwant %+v", countsOf(res), want)
	}
	after := snapshotTree(t, dir)
	delete(before, "metadata_backup/"+gone)
	if !maps.Equal(after, before) {
		t.Errorf("export --prune changed more than the deleted file:\n got %v\nwant %v", after, before)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "metadata", "transaction_99000000-99999999.meta")); err != nil || string(b) != newMeta {
		t.Errorf("new metadata file after prune: %q, %v", b, err)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "keep me" {
		t.Errorf("link target after prune: %q, %v", b, err)
	}
}

// TestExportDryRunChangesNothing: export --dry-run lists every write, move
// and removal a real run then does, and leaves the folder byte for byte
// as it was, mtimes included.
func TestExportDryRunChangesNothing(t *testing.T) {
	db := catalogtest.Open(t)
	originals, compacted := splitStorage(t, db)
	dir := t.TempDir()
	if _, err := toDir(t.Context(), db, dir, dirOptions{}); err != nil {
		t.Fatal(err)
	}
	compact(t, db, originals, compacted)
	cleanupDelete(t, db, originals[0].Name)
	mustWrite(t, filepath.Join(dir, "metadata", "transaction_99000000-99999999.meta"), newMeta)
	mustWrite(t, filepath.Join(dir, ".metactl-staging", "identity.meta.1.tmp"), "partial")
	// Age everything so any write shows in the mtimes.
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	filepath.WalkDir(dir, func(p string, _ fs.DirEntry, _ error) error { return os.Chtimes(p, old, old) })
	before := treeWithTimes(t, dir)

	dry, err := toDir(t.Context(), db, dir, dirOptions{DryRun: true, Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	if after := treeWithTimes(t, dir); !maps.Equal(after, before) {
		t.Errorf("dry run changed the folder:\n got %v\nwant %v", after, before)
	}
	if !dry.DryRun || len(dry.Written) == 0 || len(dry.Moved) == 0 || len(dry.Removed) != 1 || dry.LeftoversRemoved != 1 {
		t.Errorf("dry run result %+v: want writes, moves, one removal and one leftover", countsOf(dry))
	}
	real, err := toDir(t.Context(), db, dir, dirOptions{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	real.DryRun = false
	dry.DryRun = false
	if !reflect.DeepEqual(dry, real) {
		t.Errorf("dry run said\n%+v\nthe real run did\n%+v", dry, real)
	}

	// A dry run into a folder that does not exist creates nothing.
	missing := filepath.Join(t.TempDir(), "new")
	res, err := toDir(t.Context(), db, missing, dirOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(missing); !os.IsNotExist(err) {
		t.Errorf("dry run created %s (%v)", missing, err)
	}
	if len(res.Written) != len(originals)+len(compacted)-1 {
		t.Errorf("dry run into a missing folder would write %d files, want %d", len(res.Written), len(originals)+len(compacted)-1)
	}
}

// treeWithTimes maps every path under dir to its type, content and mtime.
func treeWithTimes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		v := info.Mode().String() + " " + info.ModTime().UTC().Format(time.RFC3339Nano)
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustMkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, p, s string) {
	t.Helper()
	mustMkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestToDirRefuses(t *testing.T) {
	files := catalogtest.CompactedStorage()
	db := catalogtest.Open(t)
	catalogtest.Put(t, db, files...)
	pid := strconv.Itoa(os.Getpid())
	// The first file written is the first live file in handle order.
	firstLive := "compaction_timestamps_1700000000.meta"

	tests := []struct {
		name string
		// setup prepares dir; outside is a folder outside it that links
		// may point to.
		link   string // path under dir made a symbolic link to outside
		mkdir  string // path under dir made a directory
		file   string // path under dir made a regular file
		errIs  error
		errFmt string // expected error, %[1]s = dir
	}{
		{name: "metadata is a symlink", link: "metadata", errIs: export.ErrSymlink,
			errFmt: "export: %[1]s/metadata is a symbolic link (refusing to follow it)"},
		{name: "metadata_backup is a symlink", link: "metadata_backup", errIs: export.ErrSymlink,
			errFmt: "export: %[1]s/metadata_backup is a symbolic link (refusing to follow it)"},
		{name: "staging is a symlink", link: ".metactl-staging", errIs: export.ErrSymlink,
			errFmt: "export: %[1]s/.metactl-staging is a symbolic link (refusing to follow it)"},
		{name: "live target is a symlink", link: "metadata/identity.meta", errIs: export.ErrSymlink,
			errFmt: "export: %[1]s/metadata/identity.meta is a symbolic link (refusing to follow it)"},
		{name: "moved file in metadata is a symlink", link: "metadata/transaction_0-14.meta", errIs: export.ErrSymlink,
			errFmt: "export: %[1]s/metadata/transaction_0-14.meta is a symbolic link (refusing to follow it)"},
		{name: "backup target is a symlink", link: "metadata_backup/epoch_ending_0-0.meta", errIs: export.ErrSymlink,
			errFmt: "export: %[1]s/metadata_backup/epoch_ending_0-0.meta is a symbolic link (refusing to follow it)"},
		{name: "temp name is a symlink", link: ".metactl-staging/" + firstLive + "." + pid + ".tmp", errIs: export.ErrSymlink,
			errFmt: "export: %[1]s/.metactl-staging/" + firstLive + "." + pid + ".tmp is a symbolic link (refusing to follow it)"},
		{name: "live target is a directory", mkdir: "metadata/identity.meta", errIs: export.ErrNotRegular,
			errFmt: "export: %[1]s/metadata/identity.meta is not a regular file (a directory; refusing to replace it)"},
		{name: "metadata is a file", file: "metadata", errIs: export.ErrNotDir,
			errFmt: "export: %[1]s/metadata is not a directory (a regular file)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			outside := t.TempDir()
			mustWrite(t, filepath.Join(outside, "identity.meta"), "outside")
			switch {
			case tc.link != "":
				// A folder links to a folder, a file name to a file.
				to := filepath.Join(outside, "identity.meta")
				if filepath.Dir(tc.link) == "." {
					to = outside
				}
				mustMkdir(t, filepath.Dir(filepath.Join(dir, tc.link)))
				if err := os.Symlink(to, filepath.Join(dir, tc.link)); err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(tc.link, export.StagingDir+"/") {
					// Files get temporary names only in an existing
					// storage (a new one is staged as whole folders).
					mustMkdir(t, filepath.Join(dir, "metadata"))
				}
			case tc.mkdir != "":
				mustMkdir(t, filepath.Join(dir, tc.mkdir))
			case tc.file != "":
				mustWrite(t, filepath.Join(dir, tc.file), "not a folder")
			}
			before, beforeOut := snapshotTree(t, dir), snapshotTree(t, outside)
			res, err := toDir(t.Context(), db, dir, dirOptions{})
			if err == nil {
				t.Fatalf("export succeeded: %+v", res)
			}
			if !errors.Is(err, tc.errIs) {
				t.Errorf("error %v does not wrap %v", err, tc.errIs)
			}
			if want := fmt.Sprintf(tc.errFmt, dir); err.Error() != want {
				t.Errorf("error:\n got %s\nwant %s", err, want)
			}
			if after := snapshotTree(t, outside); !maps.Equal(after, beforeOut) {
				t.Errorf("outside folder changed: %v, was %v", after, beforeOut)
			}
			// Inside dir, folders may have been created, but no file: a
			// refusal in the preflight writes none, and a refusal while
			// writing (the temp name) comes before any rename, and the
			// temporary files other writers finished are removed.
			after := snapshotTree(t, dir)
			for p, v := range after {
				if before[p] != v && v != "dir" {
					t.Errorf("%s appeared or changed: %q", p, v)
				}
			}
		})
	}
}

func TestToDirRefusesInvalidName(t *testing.T) {
	// The catalog never stores such a name (PutFile validates it), so
	// build the snapshot by hand, as a damaged catalog could yield.
	s := &export.Snapshot{Generation: 1, Files: []*catalog.File{
		{Handle: "metadata/ok.meta", State: catalog.Live, Content: []byte("x\n")},
		{Handle: "metadata/-rf", State: catalog.Live, Content: []byte("x\n")},
	}}
	dir := filepath.Join(t.TempDir(), "storage")
	_, err := s.Publish(t.Context(), &export.Dir{Path: dir}, export.Options{})
	if !errors.Is(err, aptos.ErrInvalid) {
		t.Fatalf("error %v, want one wrapping aptos.ErrInvalid", err)
	}
	if want := `export: catalog file "metadata/-rf": illegal file name "-rf"`; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("error %q, want prefix %q", err, want)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("export dir was created (%v)", err)
	}
}

func TestToDirRemovesLeftovers(t *testing.T) {
	files := catalogtest.CompactedStorage()
	db := catalogtest.Open(t)
	catalogtest.Put(t, db, files...)
	dir := t.TempDir()
	staging := filepath.Join(dir, ".metactl-staging")
	// Two temp files of crashed exports, and one that collides with the
	// name this process will use for its first write.
	mustWrite(t, filepath.Join(staging, "identity.meta.999999.tmp"), `{"Identity":`)
	mustWrite(t, filepath.Join(staging, "transaction_0-14.meta.1.tmp"), "")
	mustWrite(t, filepath.Join(staging, "compaction_timestamps_1700000000.meta."+strconv.Itoa(os.Getpid())+".tmp"), "partial")
	res, err := toDir(t.Context(), db, dir, dirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := counts{Generation: 1, Written: len(files), Leftovers: 3}
	if !equalResult(res, &want) {
		t.Errorf("%+v, want %+v", res, want)
	}
	checkExact(t, db, dir, false)

	// Leftovers alone (nothing to write) are cleaned too.
	mustWrite(t, filepath.Join(staging, "identity.meta.999999.tmp"), "")
	res, err = toDir(t.Context(), db, dir, dirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = counts{Generation: 1, Unchanged: len(files), Leftovers: 1}
	if !equalResult(res, &want) {
		t.Errorf("%+v, want %+v", res, want)
	}
	checkExact(t, db, dir, false)
}

func TestToDirBusy(t *testing.T) {
	db := catalogtest.Open(t)
	catalogtest.Put(t, db, catalogtest.CompactedStorage()...)
	dir := t.TempDir()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	_, err = toDir(t.Context(), db, dir, dirOptions{})
	if !errors.Is(err, export.ErrBusy) {
		t.Fatalf("error %v, want ErrBusy", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("busy export wrote %v", ents)
	}
}

func TestToDirEmptyCatalog(t *testing.T) {
	db := catalogtest.Open(t)
	dir := t.TempDir()
	res, err := toDir(t.Context(), db, dir, dirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (counts{}); !equalResult(res, &want) {
		t.Errorf("%+v, want %+v", res, want)
	}
	checkExact(t, db, dir, false)
}

func TestToDirCanceled(t *testing.T) {
	db := catalogtest.Open(t)
	catalogtest.Put(t, db, catalogtest.CompactedStorage()...)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := toDir(ctx, db, t.TempDir(), dirOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// TestPruneKeepsSameNameOtherContent: a file cleanup deleted is removed by
// --prune only where the storage's copy has the deleted content; a file of
// the same name with other content (a valid new backup, here) is kept.
func TestPruneKeepsSameNameOtherContent(t *testing.T) {
	files := catalogtest.CompactedStorage()
	db := catalogtest.Open(t)
	catalogtest.Put(t, db, files...)
	dir := t.TempDir()
	if _, err := toDir(t.Context(), db, dir, dirOptions{}); err != nil {
		t.Fatal(err)
	}
	const gone = "epoch_ending_0-0.meta"
	cleanupDelete(t, db, gone)
	other := `{"EpochEndingBackup":{"first_epoch":0,"last_epoch":0,"first_version":0,"last_version":9,"manifest":"epoch_ending_0-.other/epoch_ending.manifest"}}` + "\n"
	mustWrite(t, filepath.Join(dir, "metadata_backup", gone), other)
	res, err := toDir(t.Context(), db, dir, dirOptions{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	want := counts{Generation: 2, Unchanged: len(files) - 1, Kept: []string{"metadata_backup/" + gone + " new"}}
	if !equalResult(res, &want) {
		t.Errorf("%+v, want %+v", countsOf(res), want)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "metadata_backup", gone)); err != nil || string(b) != other {
		t.Errorf("prune removed or changed a file with other content: %q, %v", b, err)
	}
}
