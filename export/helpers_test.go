package export_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/internal/catalogtest"
)

// splitStorage puts the originals of catalogtest.CompactedStorage (its
// moved files) into db, all live (generation 1), and returns the originals
// (made live) and the compacted files.
func splitStorage(t *testing.T, db catalog.DB) (originals, compacted []catalogtest.File) {
	t.Helper()
	for _, f := range catalogtest.CompactedStorage() {
		if f.State == catalog.Moved {
			f.State = catalog.Live
			originals = append(originals, f)
		} else {
			compacted = append(compacted, f)
		}
	}
	catalogtest.Put(t, db, originals...)
	return originals, compacted
}

// compact does to db what the Aptos compaction of splitStorage's files
// does (generations 2 and 3): it puts the compacted files and moves the
// originals.
func compact(t *testing.T, db catalog.DB, originals, compacted []catalogtest.File) {
	t.Helper()
	catalogtest.Put(t, db, compacted...)
	var names []string
	for _, f := range originals {
		names = append(names, f.Name)
	}
	catalogtest.SetState(t, db, catalog.Moved, names...)
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
func checkExact(t testing.TB, db catalog.DB, dir string, gz bool) {
	t.Helper()
	want := map[catalog.State]map[string][]byte{catalog.Live: {}, catalog.Moved: {}}
	for name, f := range catalogtest.FilesByName(t, db) {
		want[f.State][name] = f.Content
	}
	for _, c := range []struct {
		folder string
		state  catalog.State
	}{{"metadata", catalog.Live}, {"metadata_backup", catalog.Moved}} {
		have := readFolder(t, filepath.Join(dir, c.folder))
		if got, exp := sortedKeys(have), sortedKeys(want[c.state]); !slices.Equal(got, exp) {
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

// dirOptions are the options of an export to a folder: the Dir's and
// Publish's in one, for short test calls.
type dirOptions struct {
	Gzip, Prune, DryRun bool
	Workers             int
	Progress            func(done, total int)
}

// toDir publishes db's current generation to the folder dir.
func toDir(ctx context.Context, db catalog.DB, dir string, o dirOptions) (*export.Result, error) {
	return export.Publish(ctx, db, &export.Dir{Path: dir, Gzip: o.Gzip, Workers: o.Workers},
		export.Options{Prune: o.Prune, DryRun: o.DryRun, Progress: o.Progress})
}

// counts is what a test expects of a Result: the number of paths in each
// list, and the kept and removed paths themselves.
type counts struct {
	Generation                           uint64
	Written, Moved, Unchanged, Leftovers int
	Removed                              []string
	Kept                                 []string // "path reason"
}

func countsOf(r *export.Result) counts {
	c := counts{Generation: r.Generation, Written: len(r.Written), Moved: len(r.Moved), Unchanged: r.Unchanged,
		Leftovers: r.LeftoversRemoved, Removed: r.Removed}
	for _, k := range r.Kept {
		c.Kept = append(c.Kept, k.Path+" "+k.Reason)
	}
	return c
}

func equalResult(r *export.Result, want *counts) bool {
	got := countsOf(r)
	return got.Generation == want.Generation && got.Written == want.Written && got.Moved == want.Moved &&
		got.Unchanged == want.Unchanged && got.Leftovers == want.Leftovers &&
		slices.Equal(got.Removed, want.Removed) && slices.Equal(got.Kept, want.Kept)
}
