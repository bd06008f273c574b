package etcdstore

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// shortLeases returns how many leases of a TTL of at most 1 s etcd has
// granted: the bucket le="1" of etcd_debugging_lease_ttl_total, the TTL
// a lease got after etcd raised it to its minimum, read from member 0's
// /metrics. The test members' minimum is 1 s (elections of 500 ms), so
// the releasing lease counts there; a writer's lock lease (10 s) does
// not. etcd's lease metrics are one set per process: every member this
// test process runs counts in them, and this package's tests do not run
// in parallel.
func shortLeases(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(cluster.Members[0].ClientURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), `etcd_debugging_lease_ttl_total_bucket{le="1"} `); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("/metrics: %q: %v", sc.Text(), err)
			}
			return n
		}
	}
	t.Fatalf("/metrics of %s has no etcd_debugging_lease_ttl_total_bucket{le=\"1\"} (%v)", cluster.Members[0].ClientURL, sc.Err())
	return 0
}

// bulkPut puts transaction files from..to-1 in one UpdateBulk (one
// writable open).
func bulkPut(t *testing.T, loc string, from, to uint64) (*catalog.Operation, error) {
	t.Helper()
	db := open(t, loc, catalog.Options{})
	defer db.Close()
	return db.UpdateBulk(context.Background(), "import", func(tx catalog.BulkWriteTx) error {
		for i := from; i < to; i++ {
			if _, err := tx.PutFile(txnFile(i).NewFile("test")); err != nil {
				return err
			}
		}
		return nil
	})
}

// noLeasedKeys fails the test if a key of the catalog at loc is attached
// to a lease (none is once its writers closed): the releasing lease must
// carry nothing that its expiry would delete.
func noLeasedKeys(t *testing.T, loc string) {
	t.Helper()
	s := open(t, loc, catalog.Options{ReadOnly: true}).s
	resp, err := s.cli.Get(context.Background(), s.key(""), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		if kv.Lease != 0 {
			t.Errorf("key %s is attached to lease %x", kv.Key, kv.Lease)
		}
	}
}

// TestReleaseAfterBulkWrite: a write that writes at least
// releaseAfterKeys keys (a bulk import of 600 files, a staged Update of
// 600, a copy of a 600-file catalog file) is followed by one lease of
// etcd's minimum TTL, a write of a few keys (10 files by Update, 1 by
// UpdateBulk) by none; the writes' results are what they would be
// without it and no key is attached to a lease.
func TestReleaseAfterBulkWrite(t *testing.T) {
	ctx := context.Background()
	loc := location(t, cluster, "")
	base := shortLeases(t)
	leases := func(what string, want int) {
		t.Helper()
		if got := shortLeases(t) - base; got != want {
			t.Fatalf("after %s: %d releasing leases granted in all, want %d", what, got, want)
		}
	}
	if op := putFiles(t, loc, catalog.Options{}, 0, 10); op.Generation != 1 {
		t.Fatalf("first write: generation %d", op.Generation)
	}
	leases("a write of 10 files", 0)
	if _, err := bulkPut(t, loc, 10, 11); err != nil {
		t.Fatal(err)
	}
	leases("a bulk write of 1 file", 0)
	op, err := bulkPut(t, loc, 11, 611)
	if err != nil {
		t.Fatal(err)
	}
	leases("a bulk write of 600 files", 1)
	if op.Generation != 3 || op.Entries != 611 {
		t.Fatalf("the bulk write's operation: generation %d, %d entries; want 3, 611", op.Generation, op.Entries)
	}
	if gen, files := readAll(t, loc); gen != 3 || files != 611 {
		t.Fatalf("after the bulk write: generation %d with %d files, want 3 with 611", gen, files)
	}
	// Update, staged: more than one transaction holds.
	if op := putFiles(t, loc, catalog.Options{}, 611, 1211); op.Generation != 4 || op.Entries != 1211 {
		t.Fatalf("the staged write's operation: generation %d, %d entries; want 4, 1211", op.Generation, op.Entries)
	}
	leases("a staged write of 600 files", 2)
	if gen, files := readAll(t, loc); gen != 4 || files != 1211 {
		t.Fatalf("after the staged write: generation %d with %d files, want 4 with 1211", gen, files)
	}
	noLeasedKeys(t, loc)

	// The copy of a catalog file into etcd (metactl copy).
	path := catalogFile(t, 600, nil)
	to := strings.Replace(loc, "/test/", "/test/copy_", 1)
	if gen, err := catalog.Load(ctx, to, path, &catalog.Options{}); err != nil || gen != 1 {
		t.Fatalf("copy: generation %d, %v", gen, err)
	}
	leases("a copy of 600 files", 3)
	if gen, files := readAll(t, to); gen != 1 || files != 600 {
		t.Fatalf("after the copy: generation %d with %d files, want 1 with 600", gen, files)
	}
	noLeasedKeys(t, to)
}

// TestReleaseFailureKeepsWrite: when the releasing lease cannot be
// granted (the member stopped, or the write's context cancelled, right
// after the write was published), the bulk write still returns its
// operation and no error, and its generation is there once the member is
// back. That no lease was granted shows the grant really failed.
func TestReleaseFailureKeepsWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		// fail runs where the grant is about to be sent.
		fail func(c *etcdtest.Cluster, cancel context.CancelFunc)
	}{
		{"member stopped", func(c *etcdtest.Cluster, _ context.CancelFunc) { c.StopMember(0) }},
		{"context cancelled", func(_ *etcdtest.Cluster, cancel context.CancelFunc) { cancel() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A member of its own, which this test stops.
			dir, err := os.MkdirTemp("", "etcdstore-release-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			c, err := etcdtest.Start(dir, 1, etcdtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Stop()
			loc := location(t, c, "")
			putFiles(t, loc, catalog.Options{}, 0, 1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			reached := false
			base := shortLeases(t)
			beforeRelease = func() { reached = true; tc.fail(c, cancel) }
			defer func() { beforeRelease = nil }()
			db := open(t, loc, catalog.Options{})
			op, err := db.UpdateBulk(ctx, "import", func(tx catalog.BulkWriteTx) error {
				for i := uint64(1); i < 601; i++ {
					if _, err := tx.PutFile(txnFile(i).NewFile("test")); err != nil {
						return err
					}
				}
				return nil
			})
			beforeRelease = nil
			if !reached {
				t.Fatal("the bulk write of 600 files did not try to grant the releasing lease")
			}
			if err != nil {
				t.Fatalf("the write failed because its release failed: %v", err)
			}
			if op.Generation != 2 || op.Entries != 601 {
				t.Fatalf("the write's operation: generation %d, %d entries; want 2, 601", op.Generation, op.Entries)
			}
			if got := shortLeases(t) - base; got != 0 {
				t.Fatalf("%d releasing leases granted: the grant did not fail", got)
			}
			if err := c.RestartMember(0); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if gen, files := readAll(t, loc); gen != 2 || files != 601 {
				t.Fatalf("after the write: generation %d with %d files, want 2 with 601", gen, files)
			}
		})
	}
}

// TestKeysWrittenCountsDeletes: a transaction's puts count one key each,
// a range delete the keys it deleted (each one an entry of etcd's key
// bucket, as a put is).
func TestKeysWrittenCountsDeletes(t *testing.T) {
	ctx := context.Background()
	db := open(t, location(t, cluster, ""), catalog.Options{})
	s := db.s
	from := s.written.Load()
	if err := s.txn(ctx, db.lock, "put", nil, []op{{rel: "x/1", val: []byte("a")}, {rel: "x/2", val: []byte("b")}, {rel: "x/3", val: []byte("c")}}); err != nil {
		t.Fatal(err)
	}
	if n := s.written.Load() - from; n != 3 {
		t.Fatalf("3 puts: %d keys written", n)
	}
	if err := s.txn(ctx, db.lock, "delete", nil, []op{{rel: "x/", end: prefixEnd("x/")}, {rel: "x/none"}}); err != nil {
		t.Fatal(err)
	}
	if n := s.written.Load() - from; n != 6 {
		t.Fatalf("3 puts and a range delete of 3 keys: %d keys written, want 6", n)
	}
}
