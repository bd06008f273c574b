package boltstore_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
)

// TestPutFileEncodedStoresTheSame: a timestamps file put with
// NewFile.Encoded (its stored line copied from Content) leaves the catalog
// byte for byte as one put without it (the line encoded again), and the
// stored line is the file's, with its map in sorted order.
func TestPutFileEncodedStoresTheSame(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	ts := aptos.CompactionTimestamps{FileCompactedAt: 1_700_000_000, Timestamps: map[string]*uint64{}}
	for i := range 50 {
		ts.Timestamps[fmt.Sprintf("metadata/transaction_%d-%d.meta", 10*i, 10*i+9)] = u(1_699_999_000 + uint64(i))
	}
	ts.Timestamps["metadata/identity.meta"] = nil
	m := aptos.NewCompactionTimestamps(ts)
	line := aptos.EncodeLine(&m)
	handle := aptos.LiveHandle(m.Name())
	dump := func(encoded bool) string {
		db, err := catalog.Open(t.Context(), filepath.Join(t.TempDir(), "c.db"), fixedOpts())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		content := append([]byte(nil), line...)
		if _, err := db.Update(t.Context(), "test", func(tx catalog.WriteTx) error {
			_, err := tx.PutFile(catalog.NewFile{Handle: handle, Content: content, State: catalog.Live, Source: "test",
				Lines: []aptos.Metadata{m}, Encoded: encoded})
			clear(content) // PutFile keeps no reference to Content
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := db.View(t.Context(), func(tx catalog.Tx) error {
			got, h, err := tx.LatestTimestamps()
			if err != nil || h != handle || got.FileCompactedAt != ts.FileCompactedAt || len(got.Timestamps) != len(ts.Timestamps) {
				t.Errorf("encoded %v: LatestTimestamps = %+v, %q, %v", encoded, got, h, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		d, err := boltstore.Dump(db)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if a, b := dump(false), dump(true); a != b {
		t.Errorf("a timestamps file put with Encoded left another catalog (%d vs %d bytes of dump)", len(b), len(a))
	}
}
