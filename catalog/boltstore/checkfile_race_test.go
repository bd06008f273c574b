package boltstore

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCheckFileWhileAWriterGrowsIt: checkFile, which every open runs, never
// calls a healthy catalog damaged while another handle commits in place and
// grows the file. It read the file's size before the meta pages, so a
// commit between the two (the file grown, then a meta page naming the new
// high-water mark) read as "the file is truncated".
func TestCheckFileWhileAWriterGrowsIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var done atomic.Bool
	writes := make(chan error, 1)
	go func() {
		defer done.Store(true)
		val := bytes.Repeat([]byte{'x'}, 64<<10)
		for i := range 400 {
			err := db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("b"))
				if err != nil {
					return err
				}
				return b.Put([]byte(fmt.Sprint(i)), val)
			})
			if err != nil {
				writes <- err
				return
			}
		}
		writes <- nil
	}()
	checks := 0
	for !done.Load() {
		if err := checkFile(path); err != nil {
			t.Fatalf("check %d while a writer grows the file: %v", checks, err)
		}
		checks++
	}
	if err := <-writes; err != nil {
		t.Fatal(err)
	}
	if checks < 10 {
		t.Fatalf("only %d checks ran beside the writer", checks)
	}
	t.Logf("%d checks beside 400 growing commits", checks)
}

// TestCheckFileMetaZeroTorn: a catalog whose meta page 0 does not check
// out (what a read beside a commit that is writing it can see) but whose
// meta page 1 does is healthy, as bbolt itself reads it: checkFile finds
// page 1 at the page size it names, which page 0 can no longer tell. Both
// pages garbled stay "not a bbolt database".
func TestCheckFileMetaZeroTorn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte(fmt.Sprint(i)), []byte("v"))
		}); err != nil {
			t.Fatal(err)
		}
	}
	pageSize := db.Info().PageSize
	db.Close()
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const checksum = 16 + 56 // the meta's checksum, after the page header
	content[checksum] ^= 0xff
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkFile(path); err != nil {
		t.Fatalf("meta page 0 torn, page 1 whole: %v", err)
	}
	content[pageSize+checksum] ^= 0xff
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkFile(path); err == nil || !strings.Contains(err.Error(), "not a bbolt database") {
		t.Fatalf("both meta pages torn: %v, want not a bbolt database", err)
	}
}
