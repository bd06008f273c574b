package export_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog"
)

// testFile is a metadata file to put in a test catalog.
type testFile struct {
	name  string
	state catalog.State
	lines []catalog.Metadata
}

func (f testFile) content() []byte {
	var b []byte
	for i := range f.lines {
		b = append(b, catalog.EncodeLine(&f.lines[i])...)
	}
	return b
}

func ee(first, last, fv, lv uint64, m string) catalog.Metadata {
	return catalog.NewEpochEnding(catalog.EpochEndingBackup{FirstEpoch: first, LastEpoch: last, FirstVersion: fv, LastVersion: lv, Manifest: m})
}

func txn(first, last uint64, m string) catalog.Metadata {
	return catalog.NewTransaction(catalog.TransactionBackup{FirstVersion: first, LastVersion: last, Manifest: m})
}

func snap(epoch, version uint64, m string) catalog.Metadata {
	return catalog.NewStateSnapshot(catalog.StateSnapshotBackup{Epoch: epoch, Version: version, Manifest: m})
}

func u64p(v uint64) *uint64 { return &v }

// compactedStorage is the state after an Aptos compaction with factor 2
// whose originals have expired: compacted files live, originals moved.
func compactedStorage() []testFile {
	var id catalog.HashValue
	for i := range id {
		id[i] = byte(i * 7)
	}
	e0 := ee(0, 0, 0, 0, "epoch_ending_0-.a1b2/epoch_ending.manifest")
	e1 := ee(1, 1, 1, 14, "epoch_ending_1-.00ff/epoch_ending.manifest")
	t0 := txn(0, 14, "transaction_0-.3c4d/transaction.manifest")
	t1 := txn(15, 29, "transaction_15-.9e8f/transaction.manifest")
	s1 := snap(1, 14, "state_epoch_1_ver_14.77aa/state.manifest")
	return []testFile{
		{"identity.meta", catalog.Live, []catalog.Metadata{catalog.NewIdentity(id)}},
		{"epoch_ending_0-0.meta", catalog.Moved, []catalog.Metadata{e0}},
		{"epoch_ending_1-1.meta", catalog.Moved, []catalog.Metadata{e1}},
		{"epoch_ending_compacted_0-1.meta", catalog.Live, []catalog.Metadata{e0, e1}},
		{"transaction_0-14.meta", catalog.Moved, []catalog.Metadata{t0}},
		{"transaction_15-29.meta", catalog.Moved, []catalog.Metadata{t1}},
		{"transaction_compacted_0-29.meta", catalog.Live, []catalog.Metadata{t0, t1}},
		{"state_snapshot_ver_14.meta", catalog.Live, []catalog.Metadata{s1}},
		{"compaction_timestamps_1700000000.meta", catalog.Live, []catalog.Metadata{catalog.NewCompactionTimestamps(catalog.CompactionTimestamps{
			FileCompactedAt: 1700000000,
			Timestamps: map[string]*uint64{
				"metadata/identity.meta":              nil,
				"metadata/state_snapshot_ver_14.meta": u64p(1700000000),
			},
		})}},
	}
}

// openCatalog opens (creating) a catalog in a fresh temporary folder.
func openCatalog(t testing.TB, path string) *catalog.DB {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "catalog.db")
	}
	db, err := catalog.Open(context.Background(), path, &catalog.Options{NoSync: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// put writes files into db in one transaction, each in its given state.
func put(t testing.TB, db *catalog.DB, files []testFile) {
	t.Helper()
	_, err := db.Update(context.Background(), "import", func(tx *catalog.Tx) error {
		for _, f := range files {
			if _, err := tx.PutFile(catalog.NewFile{Handle: catalog.MetadataHandle(f.name), Content: f.content(), State: f.state, Source: "test"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// setState changes the state of the named files in one transaction.
func setState(t testing.TB, db *catalog.DB, s catalog.State, names ...string) {
	t.Helper()
	_, err := db.Update(context.Background(), "compact", func(tx *catalog.Tx) error {
		for _, n := range names {
			if err := tx.SetState(catalog.MetadataHandle(n), s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// catalogFiles returns the catalog's files by name, with content.
func catalogFiles(t testing.TB, db *catalog.DB) map[string]*catalog.File {
	t.Helper()
	out := map[string]*catalog.File{}
	err := db.View(func(tx *catalog.Tx) error {
		return tx.ForEachFile(true, func(f *catalog.File) error {
			out[f.Name()] = f
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readFolder returns the regular files of dir by name (nil map entries
// never: a missing folder gives an empty map). Non-regular entries fail.
func readFolder(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			t.Fatalf("%s: %s is not a regular file (%v)", dir, e.Name(), e.Type())
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func gunzip(t testing.TB, name string, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: not gzip: %v", name, err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: bad gzip: %v", name, err)
	}
	return out
}

// checkExact asserts that dir's metadata/ holds exactly the live files and
// metadata_backup/ exactly the moved ones, each equal to its catalog
// content (after gunzip when gz), and that no staging folder is left.
func checkExact(t testing.TB, db *catalog.DB, dir string, gz bool) {
	t.Helper()
	want := map[catalog.State]map[string][]byte{catalog.Live: {}, catalog.Moved: {}}
	for name, f := range catalogFiles(t, db) {
		want[f.State][name] = f.Content
	}
	for _, c := range []struct {
		folder string
		state  catalog.State
	}{{"metadata", catalog.Live}, {"metadata_backup", catalog.Moved}} {
		have := readFolder(t, filepath.Join(dir, c.folder))
		if got, exp := sortedKeys(have), sortedKeys(want[c.state]); !equalStrings(got, exp) {
			t.Errorf("%s holds %q, want %q", c.folder, got, exp)
			continue
		}
		for name, b := range have {
			if gz {
				b = gunzip(t, name, b)
			}
			if !bytes.Equal(b, want[c.state][name]) {
				t.Errorf("%s/%s = %q, want %q", c.folder, name, b, want[c.state][name])
			}
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, ".metactl-staging")); !os.IsNotExist(err) {
		t.Errorf("staging folder left behind (%v)", err)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// snapshotTree records every path under dir with its content or link
// target, to prove a refused export wrote nothing there.
func snapshotTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link:" + target
		case d.IsDir():
			out[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = "file:" + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
