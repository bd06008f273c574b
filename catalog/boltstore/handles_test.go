package boltstore_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/metactl/metactl/catalog"
)

// TestForEachHandle: the handles ForEachHandle lists in a state are
// ForEachFile's files in that state, in the same order, and a record
// ForEachFile refuses it refuses with the same error.
func TestForEachHandle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db := openRW(t, path)
	put(t, db, map[string][]byte{
		"metadata/transaction_0-9.meta":   txnLine(0, 9, "t0/m"),
		"metadata/transaction_10-19.meta": txnLine(10, 19, "t10/m"),
		"metadata/transaction_20-29.meta": txnLine(20, 29, "t20/m"),
	}, catalog.Live)
	put(t, db, map[string][]byte{"metadata/transaction_5-14.meta": txnLine(5, 14, "t5/m")}, catalog.Moved)
	if err := db.View(t.Context(), func(tx catalog.Tx) error {
		hl, ok := tx.(catalog.HandleLister)
		if !ok {
			t.Fatal("a bbolt transaction is not a catalog.HandleLister")
		}
		for _, state := range []catalog.State{catalog.Live, catalog.Moved} {
			var want, got []string
			if err := tx.ForEachFile(false, func(f *catalog.File) error {
				if f.State == state {
					want = append(want, f.Handle)
				}
				return nil
			}); err != nil {
				return err
			}
			if err := hl.ForEachHandle(state, func(h string) error { got = append(got, h); return nil }); err != nil {
				return err
			}
			if !slices.Equal(got, want) || len(got) == 0 {
				t.Errorf("state %v: ForEachHandle listed %q, ForEachFile %q", state, got, want)
			}
		}
		stop := errors.New("stop")
		n := 0
		if err := hl.ForEachHandle(catalog.Live, func(string) error { n++; return stop }); err != stop || n != 1 {
			t.Errorf("fn's error: got %v after %d calls, want it after 1", err, n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestForEachHandleCorruptRecord(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(rec []byte) []byte
	}{
		{"unknown state", func(rec []byte) []byte { rec[1] = 7; return rec }},
		{"truncated", func(rec []byte) []byte { return rec[:20] }},
		{"unknown version", func(rec []byte) []byte { rec[0] = 99; return rec }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.db")
			db := openRW(t, path)
			put(t, db, map[string][]byte{
				"metadata/transaction_0-9.meta":   txnLine(0, 9, "t0/m"),
				"metadata/transaction_10-19.meta": txnLine(10, 19, "t10/m"),
			}, catalog.Live)
			db.Close()
			bdb, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := bdb.Update(func(tx *bolt.Tx) error {
				bk := tx.Bucket([]byte("files"))
				k := []byte("metadata/transaction_10-19.meta")
				return bk.Put(k, tc.damage(slices.Clone(bk.Get(k))))
			}); err != nil {
				t.Fatal(err)
			}
			bdb.Close()
			db = openRW(t, path)
			if err := db.View(t.Context(), func(tx catalog.Tx) error {
				want := tx.ForEachFile(false, func(*catalog.File) error { return nil })
				got := tx.(catalog.HandleLister).ForEachHandle(catalog.Live, func(string) error { return nil })
				if want == nil || got == nil || got.Error() != want.Error() || !errors.Is(got, catalog.ErrCorrupt) {
					t.Errorf("ForEachHandle: %v; ForEachFile: %v", got, want)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
