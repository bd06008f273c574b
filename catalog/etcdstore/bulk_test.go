package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// bigContent returns the content of a file of about n bytes: transaction
// lines from first on.
func bigContent(first uint64, n int) []byte {
	var b []byte
	for i := first; len(b) < n; i++ {
		b = append(b, txnFile(i).Content()...)
	}
	return b
}

// bulkWrites are the writes of TestUpdateBulkMatchesUpdate, after a
// first one that every catalog gets by Update: new files, files in
// chunks (bbolt's, over 4 MiB) added, moved, moved back and deleted, a
// small file moved and one deleted.
var bulkWrites = []func(tx catalog.WriteTx) error{
	func(tx catalog.WriteTx) error {
		for i := uint64(20); i < 400; i++ {
			if _, err := tx.PutFile(txnFile(i).NewFile("test")); err != nil {
				return err
			}
		}
		if _, err := tx.PutFile(catalog.NewFile{Handle: "metadata/big_y.meta", Content: bigContent(200000, 6<<20), Source: "test", State: catalog.Live}); err != nil {
			return err
		}
		if err := tx.SetState(txnFile(3).Handle(), catalog.Moved); err != nil {
			return err
		}
		if err := tx.SetState("metadata/big_x.meta", catalog.Moved); err != nil {
			return err
		}
		return tx.DeleteFile(txnFile(5).Handle())
	},
	func(tx catalog.WriteTx) error {
		if err := tx.DeleteFile("metadata/big_y.meta"); err != nil {
			return err
		}
		if err := tx.SetState("metadata/big_x.meta", catalog.Live); err != nil {
			return err
		}
		_, err := tx.PutFile(txnFile(400).NewFile("test"))
		return err
	},
}

// TestUpdateBulkMatchesUpdate: the same writes through Update on one
// catalog and UpdateBulk (checkpoints every 64 KiB, so its runs are 1 MiB)
// on another leave the same keys and values in etcd, generation after
// generation, staged (small transaction limits) or in one transaction
// (the defaults), and the same answers to readers.
func TestUpdateBulkMatchesUpdate(t *testing.T) {
	for _, tc := range []struct{ name, query string }{
		{"staged", "?txn-ops=16&txn-bytes=16384&value-size=4096&compact=off"},
		{"defaults", "?compact=off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
			o := catalog.Options{Now: func() time.Time { return now }, Command: "test", CheckpointBytes: 64 << 10}
			loc := location(t, cluster, tc.query)
			one, bulk := strings.Replace(loc, "/test/", "/test/one_", 1), strings.Replace(loc, "/test/", "/test/bulk_", 1)
			for _, loc := range []string{one, bulk} {
				db := open(t, loc, o)
				if _, err := db.Update(ctx, "import", func(tx catalog.WriteTx) error {
					for i := uint64(0); i < 20; i++ {
						if _, err := tx.PutFile(txnFile(i).NewFile("test")); err != nil {
							return err
						}
					}
					_, err := tx.PutFile(catalog.NewFile{Handle: "metadata/big_x.meta", Content: bigContent(100000, 5<<20), Source: "test", State: catalog.Live})
					return err
				}); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			for i, w := range bulkWrites {
				a := open(t, one, o)
				opA, err := a.Update(ctx, "import", w)
				if err != nil {
					t.Fatal(err)
				}
				a.Close()
				b := open(t, bulk, o)
				opB, err := b.UpdateBulk(ctx, "import", func(tx catalog.BulkWriteTx) error { return w(tx) })
				if err != nil {
					t.Fatal(err)
				}
				b.Close()
				if fmt.Sprint(*opA) != fmt.Sprint(*opB) {
					t.Fatalf("write %d: Update's operation %+v, UpdateBulk's %+v", i, *opA, *opB)
				}
				da, db := dumpKeys(t, open(t, one, catalog.Options{ReadOnly: true}).s), dumpKeys(t, open(t, bulk, catalog.Options{ReadOnly: true}).s)
				if diff := diffDumps(da, db); diff != "" {
					t.Fatalf("write %d: etcd keys differ (Update -, UpdateBulk +):\n%s", i, diff)
				}
				ga, na := readAll(t, one)
				gb, nb := readAll(t, bulk)
				if ga != gb || na != nb {
					t.Fatalf("write %d: Update's catalog at generation %d with %d files, UpdateBulk's %d with %d", i, ga, na, gb, nb)
				}
			}
		})
	}
}

// dumpKeys returns every key of the catalog (relative) and its value,
// but for the lock's, the holder's and the history anchors (revisions).
func dumpKeys(t testing.TB, s *Store) map[string][]byte {
	t.Helper()
	resp, err := s.cli.Get(context.Background(), s.cfg.Prefix+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, kv := range resp.Kvs {
		rel := strings.TrimPrefix(string(kv.Key), s.cfg.Prefix+"/")
		if strings.HasPrefix(rel, relLock) || strings.HasPrefix(rel, relHolder) || rel == relRevs {
			continue
		}
		out[rel] = kv.Value
	}
	return out
}

func diffDumps(a, b map[string][]byte) string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			out = append(out, fmt.Sprintf("- %s (%d bytes)", k, len(v)))
		} else if !bytes.Equal(v, w) {
			out = append(out, fmt.Sprintf("~ %s (%d bytes, %d bytes)", k, len(v), len(w)))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("+ %s (%d bytes)", k, len(v)))
		}
	}
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("... %d more", len(out)-20))
	}
	return strings.Join(out, "\n")
}

// TestCreateLeavesNothingOnFailure: catalog.Create on etcd (a bulk write
// on a new catalog) that fails leaves no catalog, as on a file; one that
// writes nothing leaves the empty generation 0; one that writes publishes
// generation 1.
func TestCreateLeavesNothingOnFailure(t *testing.T) {
	ctx := context.Background()
	loc := location(t, cluster, "?txn-ops=16&txn-bytes=16384&value-size=4096")
	o := &catalog.Options{Timeout: 5 * time.Second}
	bad := errors.New("bad input")
	_, err := catalog.Create(ctx, loc, o, "import", func(tx catalog.BulkWriteTx) error {
		for i := uint64(0); i < 50; i++ {
			if _, err := tx.PutFile(txnFile(i).NewFile("test")); err != nil {
				return err
			}
		}
		return bad
	})
	if !errors.Is(err, bad) {
		t.Fatalf("Create: %v, want %v", err, bad)
	}
	if _, err := catalog.Open(ctx, loc, &catalog.Options{ReadOnly: true}); !errors.Is(err, catalog.ErrNoCatalog) {
		t.Fatalf("after a failed Create, a read-only open gives %v, want ErrNoCatalog", err)
	}
	cfg, err := ParseURL(loc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(cfg, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, k := range keys(t, s, "/") {
		if !strings.HasPrefix(k, "/"+relLock) && !strings.HasPrefix(k, "/"+relHolder) {
			t.Errorf("a failed Create left key %s", k)
		}
	}
	op, err := catalog.Create(ctx, loc, o, "import", func(tx catalog.BulkWriteTx) error { return nil })
	if err != nil || op.Changed() {
		t.Fatalf("Create of nothing: %+v, %v", op, err)
	}
	if g, n := readAll(t, loc); g != 0 || n != 0 {
		t.Fatalf("Create of nothing: generation %d with %d files", g, n)
	}
	if _, err := catalog.Create(ctx, loc, o, "import", func(tx catalog.BulkWriteTx) error { return nil }); !errors.Is(err, catalog.ErrExist) {
		t.Fatalf("Create on an existing catalog: %v, want ErrExist", err)
	}
}
