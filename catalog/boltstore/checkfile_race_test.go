package boltstore

import (
	"bytes"
	"fmt"
	"path/filepath"
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
