package boltstore

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

// TestChunkedStorage: a file over maxInline is stored as a version 2
// record and chunks of at most chunkSize, and raw access (another
// backend's view) sees a version 1 record and no chunks bucket.
func TestChunkedStorage(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() <= maxInline; i++ {
		m := aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: uint64(i) * 10, LastVersion: uint64(i)*10 + 9, Manifest: "transaction_x/transaction.manifest"})
		b.Write(aptos.EncodeLine(&m))
	}
	content := []byte(b.String())
	path := filepath.Join(t.TempDir(), "c.db")
	cdb, err := catalog.Open(context.Background(), path, &catalog.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cdb.Close()
	if v := schemaOf(t, cdb.(*boltDB)); v != schemaBase {
		t.Errorf("a new catalog has schema version %d, want %d", v, schemaBase)
	}
	const handle = "metadata/transaction_big.meta"
	if _, err := cdb.Update(t.Context(), "import", func(tx catalog.WriteTx) error {
		_, err := tx.PutFile(catalog.NewFile{Handle: handle, Content: content, State: catalog.Live, Source: "test"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db := cdb.(*boltDB)
	if v := schemaOf(t, db); v != schemaChunks {
		t.Errorf("after a chunked file the schema version is %d, want %d (a metactl without chunks must refuse it as newer)", v, schemaChunks)
	}
	chunks := 0
	err = db.view(func(btx *bolt.Tx) error {
		if v := btx.Bucket(bucketFiles).Get([]byte(handle)); !isChunked(v) || len(v) > 200 {
			t.Errorf("record: version %d, %d bytes; want a chunked header", v[0], len(v))
		}
		return btx.Bucket(bucketChunks).ForEach(func(k, v []byte) error {
			chunks++
			if len(v) > chunkSize {
				t.Errorf("chunk %x: %d bytes", k, len(v))
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (len(content) + chunkSize - 1) / chunkSize; chunks != want {
		t.Errorf("%d chunks, want %d", chunks, want)
	}
	err = db.ForEachRaw(func(kv RawKV) error {
		switch kv.Bucket {
		case string(bucketChunks):
			t.Errorf("raw access lists the chunks bucket")
		case string(bucketFiles):
			f, err := DecodeFileRecord(string(kv.Key), kv.Value, true)
			if err != nil || string(f.Content) != string(content) {
				t.Errorf("raw record: %v, content equal %v", err, err == nil && string(f.Content) == string(content))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A delete leaves no chunk behind.
	if _, err := cdb.Update(t.Context(), "cleanup", func(tx catalog.WriteTx) error { return tx.DeleteFile(handle) }); err != nil {
		t.Fatal(err)
	}
	_ = db.view(func(btx *bolt.Tx) error {
		if k, _ := btx.Bucket(bucketChunks).Cursor().First(); k != nil {
			t.Errorf("chunk %x left after the delete", k)
		}
		return nil
	})
}

func schemaOf(t *testing.T, db *boltDB) uint32 {
	t.Helper()
	var v uint32
	if err := db.view(func(btx *bolt.Tx) error {
		v = binary.BigEndian.Uint32(btx.Bucket(bucketMeta).Get(keySchemaVersion))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}
