package boltstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
	"github.com/metactl/metactl/internal/catalogtest"
)

// TestDiffReportsChangedKeys: Diff reports exactly the keys a write
// changed, with their old values; PutRaw of those changes on a copy taken
// before the write gives the same catalog.
func TestDiffReportsChangedKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func(name string) boltstore.RawDB {
		db, err := catalog.Open(ctx, filepath.Join(dir, name), &catalog.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db.(boltstore.RawDB)
	}
	file := func(i uint64) catalog.NewFile {
		m := catalogtest.Transaction(i*100, i*100+99, fmt.Sprintf("t_%d/transaction.manifest", i))
		return catalogtest.File{Name: m.Name(), State: catalog.Live, Lines: []aptos.Metadata{m}}.NewFile("test")
	}
	a, b := open("a.db"), open("b.db")
	put := func(db catalog.DB, from, to uint64) error {
		_, err := db.Update(ctx, "import", func(tx catalog.WriteTx) error {
			for i := from; i < to; i++ {
				if _, err := tx.PutFile(file(i)); err != nil {
					return err
				}
			}
			return nil
		})
		return err
	}
	var copyKVs []boltstore.RawKV
	if err := a.Diff(ctx, func() error { return put(a, 0, 500) }, func(kv boltstore.RawKV) error {
		copyKVs = append(copyKVs, boltstore.RawKV{Bucket: kv.Bucket, Key: append([]byte(nil), kv.Key...), Value: append([]byte(nil), kv.Value...)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.PutRaw(copyKVs); err != nil {
		t.Fatal(err)
	}
	var changed []string
	if err := a.Diff(ctx, func() error { return put(a, 500, 501) }, func(kv boltstore.RawKV) error {
		changed = append(changed, kv.Bucket)
		v := append([]byte(nil), kv.Value...)
		if kv.Value == nil {
			v = nil
		}
		return b.PutRaw([]boltstore.RawKV{{Bucket: kv.Bucket, Key: append([]byte(nil), kv.Key...), Value: v}})
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("a one-file write changed keys in %v", changed)
	if len(changed) > 16 {
		t.Errorf("a one-file write reported %d keys", len(changed))
	}
	dump := func(db boltstore.RawDB) string {
		var s string
		db.ForEachRaw(func(kv boltstore.RawKV) error {
			if kv.Bucket != "meta" || string(kv.Key) != "created" { // b was created at another time
				s += fmt.Sprintf("%s %x %x\n", kv.Bucket, kv.Key, kv.Value)
			}
			return nil
		})
		return s
	}
	if da, db := dump(a), dump(b); da != db {
		t.Fatalf("replaying the diffs did not give the same catalog:\n%.2000s\n---\n%.2000s", da, db)
	}
}
