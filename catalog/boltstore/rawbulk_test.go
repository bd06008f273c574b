package boltstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
	"github.com/metactl/metactl/internal/catalogtest"
)

// linesContent returns a metadata file of about n bytes of transaction
// lines from version first*100 on.
func linesContent(first uint64, n int) []byte {
	var b []byte
	for i := first; len(b) < n; i++ {
		b = append(b, catalogtest.Content(catalogtest.Transaction(i*100, i*100+99, fmt.Sprintf("t_%d/transaction.manifest", i)))...)
	}
	return b
}

// TestDiffBulkMatchesDiff: DiffBulk (checkpoints, and runs of 1 MiB read
// between two mappings of the files) reports the same changes as Diff of
// the same write in one transaction, a file in chunks with its header
// alone and its content read in pieces, and leaves the same catalog;
// ScanRaw lists a bucket as ForEachRaw does.
func TestDiffBulkMatchesDiff(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	o := catalog.Options{NoSync: true, Now: func() time.Time { return now }, CheckpointBytes: 64 << 10}
	seed := filepath.Join(dir, "seed.db")
	db, err := catalog.Open(ctx, seed, &o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Update(ctx, "import", func(tx catalog.WriteTx) error {
		for i, size := range []int{100, 5 << 20, 6 << 20, 200} {
			nf := catalog.NewFile{Handle: fmt.Sprintf("metadata/seed_%d.meta", i), Content: linesContent(uint64(i)*1_000_000, size), Source: "test", State: catalog.Live}
			if _, err := tx.PutFile(nf); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	open := func(name string) boltstore.RawBulkDB {
		path := filepath.Join(dir, name)
		if err := boltstore.CopyFile(seed, path); err != nil {
			t.Fatal(err)
		}
		db, err := catalog.Open(ctx, path, &o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db.(boltstore.RawBulkDB)
	}
	write := func(tx catalog.WriteTx) error {
		for i := range 300 {
			nf := catalog.NewFile{Handle: fmt.Sprintf("metadata/new_%03d.meta", i), Content: linesContent(uint64(10_000_000+i*1000), 8<<10), Source: "test", State: catalog.Live}
			if _, err := tx.PutFile(nf); err != nil {
				return err
			}
		}
		if _, err := tx.PutFile(catalog.NewFile{Handle: "metadata/new_big.meta", Content: linesContent(50_000_000, 7<<20), Source: "test", State: catalog.Live}); err != nil {
			return err
		}
		if err := tx.SetState("metadata/seed_1.meta", catalog.Moved); err != nil {
			return err
		}
		if err := tx.DeleteFile("metadata/seed_2.meta"); err != nil {
			return err
		}
		return tx.DeleteFile("metadata/seed_3.meta")
	}
	// describe prints one reported change whole: a file's record as its
	// header, content size and digest, however it was reported.
	describe := func(kv boltstore.RawKV) (string, error) {
		rec := func(v []byte, headerOnly bool, size int, content func(func([]byte) error) error) (string, error) {
			if v == nil {
				return "none", nil
			}
			if kv.Bucket != "files" {
				return fmt.Sprintf("%x", sha256.Sum256(v)), nil
			}
			n := boltstore.FileRecordHeaderLen(v)
			h, c := v[:n], v[n:]
			switch {
			case content != nil:
				var b []byte
				if err := content(func(p []byte) error { b = append(b, p...); return nil }); err != nil {
					return "", err
				}
				c = b
			case headerOnly:
				return fmt.Sprintf("%x %d", h, size), nil
			}
			return fmt.Sprintf("%x %d %x", h, len(c), sha256.Sum256(c)), nil
		}
		nv, err := rec(kv.Value, false, kv.ContentSize, kv.Content)
		if err != nil {
			return "", err
		}
		ov, err := rec(kv.Old, kv.OldHeaderOnly, kv.OldContentSize, nil)
		return fmt.Sprintf("%s %x: %s <- %s", kv.Bucket, kv.Key, nv, ov), err
	}
	var one, bulk []string
	a, b := open("a.db"), open("b.db")
	if err := a.Diff(ctx, func() error { _, err := a.Update(ctx, "import", write); return err }, func(kv boltstore.RawKV) error {
		s, err := describe(kv)
		if kv.Bucket == "files" && kv.Old != nil {
			// Diff gives old records whole; DiffBulk a chunked one's
			// header alone: compare what both give.
			if n := boltstore.FileRecordHeaderLen(kv.Old); len(kv.Old)-n > 4<<20 {
				kv.Old, kv.OldHeaderOnly, kv.OldContentSize = kv.Old[:n], true, len(kv.Old)-n
				s, err = describe(kv)
			}
		}
		one = append(one, s)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	streamed := 0
	op, err := b.DiffBulk(ctx, "import", func(tx catalog.BulkWriteTx) error { return write(tx) }, func(kv boltstore.RawKV) error {
		if kv.Content != nil {
			streamed++
		}
		s, err := describe(kv)
		bulk = append(bulk, s)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !op.Changed() || streamed != 2 {
		t.Fatalf("DiffBulk: changed %v, %d files streamed, want 2 (one added, one moved)", op.Changed(), streamed)
	}
	if got, want := strings.Join(bulk, "\n"), strings.Join(one, "\n"); got != want {
		t.Fatalf("DiffBulk reported %d changes, Diff %d:\n%s\nwant\n%s", len(bulk), len(one), got, want)
	}
	dump := func(db boltstore.RawDB) string {
		var s strings.Builder
		db.ForEachRaw(func(kv boltstore.RawKV) error {
			fmt.Fprintf(&s, "%s %x %x\n", kv.Bucket, kv.Key, sha256.Sum256(kv.Value))
			return nil
		})
		return s.String()
	}
	if dump(a) != dump(b) {
		t.Fatal("DiffBulk left another catalog than Update")
	}
	var scanned, listed bytes.Buffer
	if err := b.ScanRaw(ctx, "entries", func(k, v []byte) error { fmt.Fprintf(&scanned, "%x %x\n", k, v); return nil }); err != nil {
		t.Fatal(err)
	}
	a.ForEachRaw(func(kv boltstore.RawKV) error {
		if kv.Bucket == "entries" {
			fmt.Fprintf(&listed, "%x %x\n", kv.Key, kv.Value)
		}
		return nil
	})
	if scanned.String() != listed.String() || scanned.Len() < 2<<20 {
		t.Fatalf("ScanRaw listed %d bytes of entries, ForEachRaw %d (want the same, over 2 MiB)", scanned.Len(), listed.Len())
	}
}
