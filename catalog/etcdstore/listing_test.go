package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// benchHandles returns n handles shaped as a backup's: a quarter
// epoch-ending, an eighth state snapshots, the rest transactions.
func benchHandles(n int) []string {
	hs := make([]string, 0, n)
	for i := 0; len(hs) < n; i++ {
		hs = append(hs, fmt.Sprintf("metadata/epoch_ending_%d-%d.meta", i, i))
		if i%2 == 0 {
			hs = append(hs, fmt.Sprintf("metadata/state_snapshot_ver_%d.meta", i*1000+999))
		}
		hs = append(hs, fmt.Sprintf("metadata/transaction_%d-%d.meta", i*1000, i*1000+999),
			fmt.Sprintf("metadata/transaction_%d-%d.meta", i*1000+500, i*1000+999))
	}
	return hs[:n]
}

// shardValues returns the listing shards of handles, as a writer stores
// them: their keys and values in key order.
func shardValues(handles []string) (rels []string, vals [][]byte) {
	shards := make([][]string, listShards)
	for _, h := range handles {
		shards[listShard(h)] = append(shards[listShard(h)], h)
	}
	for i, hs := range shards {
		if len(hs) > 0 {
			slices.Sort(hs)
			rels, vals = append(rels, listRel(i)), append(vals, encodeShard(hs))
		}
	}
	return rels, vals
}

// TestListingDecodeAndMerge: the shards, decoded on several goroutines
// and merged, give every handle once in handle order; a shard stored
// unsorted is sorted; a damaged shard is an error naming its key.
func TestListingDecodeAndMerge(t *testing.T) {
	s := &Store{cfg: Config{Endpoints: []string{"127.0.0.1:2379"}, Prefix: "/t"}}
	for _, n := range []int{0, 1, 2, 255, 1000, 20000} {
		hs := benchHandles(n)
		rels, vals := shardValues(hs)
		shards, err := s.decodeShards(rels, vals)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := mergeSorted(shards, func(h string) error { got = append(got, h); return nil }); err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(hs)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%d handles: merged listing differs (%d handles)", n, len(got))
		}
	}

	unsorted := encodeShard([]string{"metadata/c", "metadata/a", "metadata/b"})
	shards, err := s.decodeShards([]string{listRel(1)}, [][]byte{unsorted})
	if err != nil || !slices.Equal(shards[0], []string{"metadata/a", "metadata/b", "metadata/c"}) {
		t.Errorf("unsorted shard: %q, %v", shards, err)
	}

	rels, vals := shardValues(benchHandles(5000))
	vals[7] = vals[7][:len(vals[7])/2]
	if _, err := s.decodeShards(rels, vals); err == nil || !errors.Is(err, catalog.ErrCorrupt) {
		t.Errorf("truncated shard: %v, want ErrCorrupt", err)
	}
	_, vals = shardValues(benchHandles(5000))
	vals[3] = append([]byte{'x'}, vals[3][1:]...)
	want := fmt.Sprintf("read etcd://127.0.0.1:2379/t: listing key %s: unknown value tag: catalog file is damaged", rels[3])
	if _, err := s.decodeShards(rels, vals); err == nil || err.Error() != want {
		t.Errorf("bad tag: %v, want %q", err, want)
	}
}

// BenchmarkListing decodes and merges the listing of 100,000 files, the
// client's work in the bridge's list_metadata_files.
func BenchmarkListing(b *testing.B) {
	s := &Store{cfg: Config{Endpoints: []string{"127.0.0.1:2379"}, Prefix: "/t"}}
	rels, vals := shardValues(benchHandles(100000))
	for b.Loop() {
		shards, err := s.decodeShards(rels, vals)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		mergeSorted(shards, func(string) error { n++; return nil })
		if n != 100000 {
			b.Fatal(n)
		}
	}
}

// TestLoadInPagesAndContentRanges: a load (the local copy a whole-catalog
// read or a writer makes) of more files than one page of headers, one
// batch of content and one flush of queued headers holds, with a file
// chunked over several keys and content keys of no file among the
// others (a writer's leftovers), copies every file with its content.
func TestLoadInPagesAndContentRanges(t *testing.T) {
	defer func(b int) { contentRunBytes = b }(contentRunBytes)
	contentRunBytes = 64 << 10 // several flushes of queued headers
	loc := location(t, cluster, "?value-size=4096")
	ctx := context.Background()
	putFiles(t, loc, catalog.Options{}, 0, 5000)
	var lines []aptos.Metadata
	for i := range 100 {
		lines = append(lines, catalogtest.Transaction(900000+uint64(i)*10, 900000+uint64(i)*10+9, fmt.Sprintf("big/transaction_%d.manifest", i)))
	}
	big := catalogtest.File{Name: "transaction_900000-900999.meta", State: catalog.Live, Lines: lines}
	db := open(t, loc, catalog.Options{})
	if _, err := db.Update(ctx, "import", func(tx catalog.WriteTx) error {
		_, err := tx.PutFile(big.NewFile("test"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if n := len(big.Content()); n <= 4096 {
		t.Fatalf("the big file has %d bytes, not more than one value", n)
	}
	// Leftover content keys: before the first file, among them, last.
	s := open(t, loc, catalog.Options{ReadOnly: true}).s
	for _, h := range []string{"metadata/a.meta", txnFile(77).Handle() + "x", "metadata/zz.meta"} {
		if _, err := s.cli.Put(ctx, s.key(kvRel(contentBucket, []byte(h))), "vleftover"); err != nil {
			t.Fatal(err)
		}
	}
	if _, files := readAll(t, loc); files != 5001 {
		t.Fatalf("%d files, want 5001", files)
	}
	// The content of the local copy is each file's, the chunked one's
	// too.
	r := open(t, loc, catalog.Options{ReadOnly: true})
	err := r.View(ctx, func(tx catalog.Tx) error {
		full, err := tx.(*lazyTx).full()
		if err != nil {
			return err
		}
		return full.View(ctx, func(ft catalog.Tx) error {
			for _, f := range []catalogtest.File{txnFile(0), txnFile(77), txnFile(4096), txnFile(4999), big} {
				got, err := ft.File(f.Handle())
				if err != nil {
					return err
				}
				if !bytes.Equal(got.Content, f.Content()) {
					t.Errorf("%s: content %q, want %q", f.Handle(), got.Content, f.Content())
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestScanShrinksPagesOverReceiveLimit: a page larger than the client
// accepts is asked again in smaller pages, and the scan still gives every
// key once, in order.
func TestScanShrinksPagesOverReceiveLimit(t *testing.T) {
	ctx := context.Background()
	cfg, err := ParseURL(location(t, cluster, ""))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + cluster.Endpoints()}, DialTimeout: 5 * time.Second,
		Logger: zap.NewNop(), MaxCallRecvMsgSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	value := strings.Repeat("v", 1000)
	var want []string
	for i := range 600 {
		k := s.key(fmt.Sprintf("scan/%04d", i))
		if _, err := cli.Put(ctx, k, value); err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	small := *s
	small.cli = cli
	var got []string
	err = small.scan(ctx, s.key("scan/"), s.key(prefixEnd("scan/")), 0, scanCap(1000), func(k string, v []byte) error {
		got = append(got, k)
		return nil
	})
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("scan: %d keys, %v; want %d keys", len(got), err, len(want))
	}
}
