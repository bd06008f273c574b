package etcdstore

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/metactl/metactl/catalog"
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
