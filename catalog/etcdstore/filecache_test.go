package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
	"github.com/metactl/metactl/internal/catalogtest"
)

// sameAsReadFiles checks that the cache answers handles as ReadFiles of
// a handle without it does, at the generation want.
func sameAsReadFiles(t *testing.T, what string, fc *FileCache, db *DB, handles []string, want uint64) {
	t.Helper()
	ctx := context.Background()
	got, gotGen, err := fc.ReadFiles(ctx, handles)
	if err != nil {
		t.Fatalf("%s: cached ReadFiles: %v", what, err)
	}
	plain, plainGen, err := db.ReadFiles(ctx, handles)
	if err != nil {
		t.Fatalf("%s: ReadFiles: %v", what, err)
	}
	if gotGen != want || plainGen != want {
		t.Errorf("%s: generation %d cached, %d without the cache; want %d", what, gotGen, plainGen, want)
	}
	for i, h := range handles {
		if fmt.Sprintf("%+v", got[i]) != fmt.Sprintf("%+v", plain[i]) {
			t.Errorf("%s: %s: cached %+v, without the cache %+v", what, h, got[i], plain[i])
		}
	}
}

// TestFileCacheSeesWrites: a cache filled at one generation never answers
// from it after a write from another client (another process): a new
// file, a move (header only), a content replaced under the same handle, a
// delete; each read after a write equals ReadFiles without the cache at
// the write's generation, and the cache is filled again at it. Between
// writes, reads are answered from the cache.
func TestFileCacheSeesWrites(t *testing.T) {
	ctx := context.Background()
	loc := location(t, cluster, "")
	op := putFiles(t, loc, catalog.Options{}, 1, 4)
	db := open(t, loc, catalog.Options{ReadOnly: true})
	fc := db.FileCache(DefaultFileCacheBytes)
	fc.fillAfter = 1
	a, b, c, d := txnFile(1), txnFile(2), txnFile(3), txnFile(4)
	handles := []string{a.Handle(), b.Handle(), c.Handle(), d.Handle(), aptos.LiveHandle("transaction_none.meta")}

	sameAsReadFiles(t, "first read", fc, db, handles, op.Generation)
	sameAsReadFiles(t, "second read", fc, db, handles, op.Generation)
	if fc.fills != 1 || fc.hits != 2 {
		t.Fatalf("after two reads: %d fills, %d hits; want 1 fill and both reads from it", fc.fills, fc.hits)
	}
	hits, fills := fc.hits, fc.fills
	// Each write goes through a writer of its own: another etcd client,
	// as another process would be.
	write := func(what string, fn func(tx catalog.WriteTx) error) *catalog.Operation {
		t.Helper()
		w := open(t, loc, catalog.Options{})
		defer w.Close()
		op, err := w.Update(ctx, "import", fn)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return op
	}
	steps := []struct {
		what string
		fn   func(tx catalog.WriteTx) error
		// check checks the cached answer of the write's handle.
		check func(f *catalog.File) error
	}{
		{"a new file", func(tx catalog.WriteTx) error { _, err := tx.PutFile(d.NewFile("test")); return err },
			func(f *catalog.File) error {
				if f == nil || string(f.Content) != string(d.Content()) {
					return fmt.Errorf("the new file: %+v", f)
				}
				return nil
			}},
		{"a move", func(tx catalog.WriteTx) error { return tx.SetState(a.Handle(), catalog.Moved) },
			func(f *catalog.File) error {
				if f == nil || f.State != catalog.Moved {
					return fmt.Errorf("the moved file: %+v", f)
				}
				return nil
			}},
		{"content replaced", func(tx catalog.WriteTx) error {
			if err := tx.DeleteFile(b.Handle()); err != nil {
				return err
			}
			other := b
			other.Lines = append(append([]aptos.Metadata(nil), b.Lines...), catalogtest.Transaction(900, 999, "transaction_900-.aa/transaction.manifest"))
			_, err := tx.PutFile(other.NewFile("test"))
			return err
		}, func(f *catalog.File) error {
			if f == nil || string(f.Content) == string(b.Content()) {
				return fmt.Errorf("the replaced file still has its old content: %+v", f)
			}
			return nil
		}},
		{"a delete", func(tx catalog.WriteTx) error { return tx.DeleteFile(c.Handle()) },
			func(f *catalog.File) error {
				if f != nil {
					return fmt.Errorf("the deleted file is answered: %+v", f)
				}
				return nil
			}},
	}
	for i, st := range steps {
		op := write(st.what, st.fn)
		// The first read after the write: not from the old cache.
		fs, gen, err := fc.ReadFiles(ctx, handles)
		if err != nil || gen != op.Generation {
			t.Fatalf("%s: read at generation %d, %v; want %d", st.what, gen, err, op.Generation)
		}
		if err := st.check(fs[[]int{3, 0, 1, 2}[i]]); err != nil {
			t.Errorf("%s: %v", st.what, err)
		}
		sameAsReadFiles(t, st.what, fc, db, handles, op.Generation)
		if fc.fills != fills+1 || fc.hits != hits+2 {
			t.Errorf("%s: %d fills, %d hits; want %d and %d (filled again at the write's generation)", st.what, fc.fills, fc.hits, fills+1, hits+2)
		}
		hits, fills = fc.hits, fc.fills
	}
}

// TestFileCacheFillsAfterMisses: without a threshold of its own, the cache
// fills only after 16 reads answered without it, so a one-off read never
// pays for a scan of the catalog; once filled, reads come from it.
func TestFileCacheFillsAfterMisses(t *testing.T) {
	ctx := context.Background()
	loc := location(t, cluster, "")
	putFiles(t, loc, catalog.Options{}, 1, 3)
	db := open(t, loc, catalog.Options{ReadOnly: true})
	fc := db.FileCache(DefaultFileCacheBytes)
	h := txnFile(1).Handle()
	for i := 0; i < 15; i++ {
		if _, _, ok, err := fc.ReadFile(ctx, h); !ok || err != nil {
			t.Fatalf("read %d: ok %v, %v", i, ok, err)
		}
	}
	if fc.fills != 0 || fc.hits != 0 {
		t.Fatalf("after 15 reads: %d fills, %d hits; want none", fc.fills, fc.hits)
	}
	for i := 0; i < 2; i++ {
		if f, _, ok, err := fc.ReadFile(ctx, h); !ok || err != nil || string(f.Content) != string(txnFile(1).Content()) {
			t.Fatalf("read %d: %+v, ok %v, %v", 15+i, f, ok, err)
		}
	}
	if fc.fills != 1 || fc.hits != 2 {
		t.Fatalf("after 17 reads: %d fills, %d hits; want 1 fill at the 16th read, then answered from it", fc.fills, fc.hits)
	}
}

// TestFileCacheBound: a catalog larger than the bound is not cached (the
// fill is abandoned, and the cache stays off), and every read is still
// answered as ReadFiles answers it; one within the bound is cached and
// counted within it.
func TestFileCacheBound(t *testing.T) {
	ctx := context.Background()
	loc := location(t, cluster, "?value-size=4096")
	op := putFiles(t, loc, catalog.Options{}, 1, 21)
	big := bigFile() // chunked: never cached, declined as ReadFiles declines it
	w := open(t, loc, catalog.Options{})
	op, err := w.Update(ctx, "import", func(tx catalog.WriteTx) error { _, err := tx.PutFile(big.NewFile("test")); return err })
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	db := open(t, loc, catalog.Options{ReadOnly: true})
	var handles []string
	for i := uint64(1); i < 21; i++ {
		handles = append(handles, txnFile(i).Handle())
	}
	handles = append(handles, big.Handle())

	small := db.FileCache(2000)
	small.fillAfter = 1
	for i := 0; i < 3; i++ {
		sameAsReadFiles(t, "over the bound", small, db, handles, op.Generation)
	}
	if !small.off || small.fills != 0 || small.hits != 0 || small.files != nil {
		t.Errorf("a 2000-byte cache of 20 files: off %v, %d fills, %d hits, %d files held; want off, none", small.off, small.fills, small.hits, len(small.files))
	}

	fc := db.FileCache(1 << 20)
	fc.fillAfter = 1
	sameAsReadFiles(t, "within the bound", fc, db, handles, op.Generation)
	sameAsReadFiles(t, "within the bound", fc, db, handles, op.Generation)
	if fc.off || fc.fills != 1 || fc.hits != 2 || len(fc.files) != 20 || fc.size > 1<<20 {
		t.Errorf("a 1 MiB cache of 20 small files and a chunked one: off %v, %d fills, %d hits, %d files, %d bytes; want 20 files cached",
			fc.off, fc.fills, fc.hits, len(fc.files), fc.size)
	}
}

// TestFileCacheNeverServesAStage: while current names a staged write (a
// write too large for one transaction, swapped in and being folded), the
// cache answers nothing, as ReadFiles answers nothing (View reads it),
// and a fold's keys put under kv/ meanwhile are never read as settled;
// once current is settled again, the cache is filled at it.
func TestFileCacheNeverServesAStage(t *testing.T) {
	ctx := context.Background()
	loc := location(t, cluster, "")
	op := putFiles(t, loc, catalog.Options{}, 1, 3)
	db := open(t, loc, catalog.Options{ReadOnly: true})
	fc := db.FileCache(DefaultFileCacheBytes)
	fc.fillAfter = 1
	a := txnFile(1)
	handles := []string{a.Handle(), txnFile(2).Handle()}
	sameAsReadFiles(t, "settled", fc, db, handles, op.Generation)
	if fc.fills != 1 {
		t.Fatalf("%d fills, want 1", fc.fills)
	}
	// A staged write's swap, as stage() makes it: current names the
	// stage; then a fold's put of a header under kv/ (here: the file
	// moved), as fold() makes it while the stage is open.
	s := db.s
	sn, err := s.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	staged := *sn.Current
	staged.Generation++
	staged.Stage = staged.Generation
	b, _ := json.Marshal(staged)
	if _, err := s.cli.Put(ctx, s.key(relCurrent), string(b)); err != nil {
		t.Fatal(err)
	}
	hk := s.key(kvRel(boltstore.RawBucketFiles, []byte(a.Handle())))
	resp, err := s.cli.Get(ctx, hk)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("header of %s: %v", a.Handle(), err)
	}
	h := append([]byte(nil), resp.Kvs[0].Value...)
	h[9+1] = byte(catalog.Moved) // the record header's state
	if _, err := s.cli.Put(ctx, hk, string(h)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		fs, _, err := fc.ReadFiles(ctx, handles)
		if err != nil || fs[0] != nil || fs[1] != nil {
			t.Fatalf("read %d with a stage open: %+v, %v; want nothing (read through a View)", i, fs, err)
		}
	}
	if fc.fills != 1 || fc.files != nil {
		t.Fatalf("with a stage open: %d fills, %d files held; want no fill", fc.fills, len(fc.files))
	}
	// The fold's last transaction: the stage cleared.
	staged.Stage = 0
	b, _ = json.Marshal(staged)
	if _, err := s.cli.Put(ctx, s.key(relCurrent), string(b)); err != nil {
		t.Fatal(err)
	}
	sameAsReadFiles(t, "settled again", fc, db, handles, staged.Generation)
	if f, _, ok, err := fc.ReadFile(ctx, a.Handle()); err != nil || !ok || f.State != catalog.Moved {
		t.Fatalf("after the fold: %+v, ok %v, %v; want the file moved", f, ok, err)
	}
	if fc.fills != 2 {
		t.Errorf("%d fills, want a second at the settled generation", fc.fills)
	}
}
