package etcdstore

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/metactl/metactl/catalog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
)

// The listing: the handles of the live files, in listShards keys
// list/<shard, 2 hex digits> (a shard holds the handles whose FNV-1a hash
// falls in it), each 'z' + the handles sorted and joined by '\n', deflated.
// A writer keeps it in the same published change as the files (only the
// shards whose handles changed state), and says so in the current key
// (Listing, the shard count); a reader of a generation that says so lists
// the live files in one range read instead of every file's header. A
// generation without it (written by an older metactl) is listed from the
// headers, and the next write builds it. An empty shard has no key.
const (
	relList    = "list/"
	listShards = 256
	tagListing = 'z'
)

func listShard(handle string) int {
	h := fnv.New32a()
	h.Write([]byte(handle))
	return int(h.Sum32() % listShards)
}

func listRel(shard int) string { return fmt.Sprintf("%s%02x", relList, shard) }

// encodeShard returns the value of a shard holding handles (sorted).
func encodeShard(handles []string) []byte {
	var b bytes.Buffer
	b.WriteByte(tagListing)
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	for _, h := range handles {
		io.WriteString(w, h)
		w.Write([]byte{'\n'})
	}
	w.Close()
	return b.Bytes()
}

// decodeShard returns the handles a shard value holds.
func (s *Store) decodeShard(rel string, v []byte) ([]string, error) {
	var d shardDecoder
	return d.decode(s, rel, v)
}

// shardDecoder inflates listing shards with one flate reader and one
// buffer, reused from shard to shard: a new reader per shard allocates
// its window every time, which cost about as much as the inflating.
type shardDecoder struct {
	r   io.ReadCloser
	src bytes.Reader
	buf bytes.Buffer
}

// decode returns the handles of the shard value v of key rel, in handle
// order; they share one string, the shard's.
func (d *shardDecoder) decode(s *Store, rel string, v []byte) ([]string, error) {
	if len(v) == 0 || v[0] != tagListing {
		return nil, fmt.Errorf("read %s: listing key %s: unknown value tag: %w", s.URL(), rel, catalog.ErrCorrupt)
	}
	d.src.Reset(v[1:])
	if d.r == nil {
		d.r = flate.NewReader(&d.src)
	} else if err := d.r.(flate.Resetter).Reset(&d.src, nil); err != nil {
		return nil, fmt.Errorf("read %s: listing key %s: %w: %v", s.URL(), rel, catalog.ErrCorrupt, err)
	}
	d.buf.Reset()
	if _, err := d.buf.ReadFrom(d.r); err != nil {
		return nil, fmt.Errorf("read %s: listing key %s: %w: %v", s.URL(), rel, catalog.ErrCorrupt, err)
	}
	raw := d.buf.String()
	if len(raw) == 0 {
		return nil, nil
	}
	if raw[len(raw)-1] != '\n' {
		return nil, fmt.Errorf("read %s: listing key %s: truncated: %w", s.URL(), rel, catalog.ErrCorrupt)
	}
	hs := strings.Split(raw[:len(raw)-1], "\n")
	if !slices.IsSorted(hs) {
		// Every writer sorts a shard; a reader does not rely on it.
		slices.Sort(hs)
	}
	return hs, nil
}

// decodeShards decodes the listing shards vals (of keys rels) on up to
// GOMAXPROCS goroutines: inflating is most of a listing's work.
func (s *Store) decodeShards(rels []string, vals [][]byte) ([][]string, error) {
	out := make([][]string, len(vals))
	var next atomic.Int64
	var g errgroup.Group
	for range min(runtime.GOMAXPROCS(0), 8, len(vals)) {
		g.Go(func() error {
			var d shardDecoder // one per worker, reused from shard to shard
			for i := int(next.Add(1) - 1); i < len(vals); i = int(next.Add(1) - 1) {
				hs, err := d.decode(s, rels[i], vals[i])
				if err != nil {
					return err
				}
				out[i] = hs
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// mergeSorted calls fn with every string of the sorted lists ls, in
// order. The lists are cut at a few splitters into key ranges, merged on
// a goroutine each, and the ranges handed to fn one after the other.
// ls is consumed.
func mergeSorted(ls [][]string, fn func(string) error) error {
	n := 0
	for _, l := range ls {
		n += len(l)
	}
	parts := min(runtime.GOMAXPROCS(0), 8)
	if n < 4096 {
		parts = 1
	}
	// Splitters: quantiles of a sample taken evenly from every list.
	var sample []string
	for _, l := range ls {
		for j := 1; j < 4*parts; j++ {
			if i := len(l) * j / (4 * parts); i < len(l) {
				sample = append(sample, l[i])
			}
		}
	}
	slices.Sort(sample)
	var cuts []string
	for j := 1; j < parts && len(sample) > 0; j++ {
		cuts = append(cuts, sample[len(sample)*j/parts])
	}
	// Part j holds the strings in [cuts[j-1], cuts[j]).
	out := make([][]string, len(cuts)+1)
	var wg sync.WaitGroup
	for j := range out {
		sub := make([][]string, len(ls))
		size := 0
		for i, l := range ls {
			lo, hi := 0, len(l)
			if j > 0 {
				lo, _ = slices.BinarySearch(l, cuts[j-1])
			}
			if j < len(cuts) {
				hi, _ = slices.BinarySearch(l, cuts[j])
			}
			sub[i] = l[lo:hi]
			size += hi - lo
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[j] = make([]string, 0, size)
			mergeTree(sub, func(h string) { out[j] = append(out[j], h) })
		}()
	}
	wg.Wait()
	for _, part := range out {
		for _, h := range part {
			if err := fn(h); err != nil {
				return err
			}
		}
	}
	return nil
}

// mergeTree calls fn with every string of the sorted lists ls in order,
// through a tree of losers: one comparison per level, log2(len(ls)) a
// string. ls is consumed.
func mergeTree(ls [][]string, fn func(string)) {
	k := len(ls)
	if k == 0 {
		return
	}
	less := func(a, b int) bool { // an exhausted list comes last
		return len(ls[a]) > 0 && (len(ls[b]) == 0 || ls[a][0] < ls[b][0])
	}
	// tree[0] is the winner; tree[1:] the losers of the inner nodes, the
	// leaves (the lists) being the nodes k..2k-1.
	tree := make([]int, k)
	win := make([]int, 2*k)
	for i := range k {
		win[k+i] = i
	}
	for n := k - 1; n >= 1; n-- {
		a, b := win[2*n], win[2*n+1]
		if less(b, a) {
			a, b = b, a
		}
		win[n], tree[n] = a, b
	}
	tree[0] = win[1]
	if k == 1 {
		tree[0] = 0
	}
	for w := tree[0]; len(ls[w]) > 0; tree[0] = w {
		fn(ls[w][0])
		ls[w] = ls[w][1:]
		for n := (w + k) / 2; n >= 1; n /= 2 {
			if less(tree[n], w) {
				tree[n], w = w, tree[n]
			}
		}
	}
}

// listingOps returns the ops that bring the listing from base's to the
// generation the local copy c now holds, given live: the files whose
// liveness the write changed (true: live now). If base has a listing,
// only the shards of those files are read (at base's revision) and
// rewritten; otherwise the whole listing is built from c. It returns the
// shard count to record in the current key, 0 when a shard would exceed
// the value size (readers then list from the headers).
func (s *Store) listingOps(ctx context.Context, base *Snapshot, c catalog.DB, live map[string]bool) ([]op, int, error) {
	if base.Current != nil && base.Current.Listing == listShards {
		return s.patchListing(ctx, base, live)
	}
	shards := make([][]string, listShards)
	err := c.View(ctx, func(tx catalog.Tx) error {
		return tx.ForEachFile(false, func(f *catalog.File) error {
			if f.State == catalog.Live {
				i := listShard(f.Handle)
				shards[i] = append(shards[i], f.Handle)
			}
			return nil
		})
	})
	if err != nil {
		return nil, 0, err
	}
	// Keys an older writer left would be stale: delete them.
	stale, err := s.listingKeys(ctx, base)
	if err != nil {
		return nil, 0, err
	}
	var ops []op
	for i, hs := range shards {
		if len(hs) == 0 {
			if stale[listRel(i)] {
				ops = append(ops, op{rel: listRel(i)})
			}
			continue
		}
		v := encodeShard(hs)
		if len(v) > s.cfg.ValueSize {
			return nil, 0, nil
		}
		ops = append(ops, op{rel: listRel(i), val: v})
	}
	return ops, listShards, nil
}

// patchListing rewrites the shards of the files in live.
func (s *Store) patchListing(ctx context.Context, base *Snapshot, live map[string]bool) ([]op, int, error) {
	if len(live) == 0 {
		return nil, listShards, nil
	}
	touched := map[int][]string{}
	for h := range live {
		i := listShard(h)
		touched[i] = append(touched[i], h)
	}
	old := make(map[int][]string, len(touched))
	read := func(rel string, v []byte) error {
		var i int
		if _, err := fmt.Sscanf(rel, relList+"%02x", &i); err != nil || listRel(i) != rel {
			return fmt.Errorf("read %s: unexpected listing key %q: %w", s.URL(), rel, catalog.ErrCorrupt)
		}
		if _, ok := touched[i]; !ok {
			return nil
		}
		hs, err := s.decodeShard(rel, v)
		old[i] = hs
		return err
	}
	if len(touched) <= 8 {
		for i := range touched {
			v, err := s.get(ctx, base, listRel(i))
			if err != nil {
				return nil, 0, err
			}
			if v != nil {
				if err := read(listRel(i), v); err != nil {
					return nil, 0, err
				}
			}
		}
	} else if err := s.iterate(ctx, base, relList, prefixEnd(relList), read); err != nil {
		return nil, 0, err
	}
	var ops []op
	for _, i := range sortedKeys(touched) {
		set := make(map[string]bool, len(old[i])+len(touched[i]))
		for _, h := range old[i] {
			set[h] = true
		}
		for _, h := range touched[i] {
			if live[h] {
				set[h] = true
			} else {
				delete(set, h)
			}
		}
		if len(set) == 0 {
			ops = append(ops, op{rel: listRel(i)})
			continue
		}
		hs := make([]string, 0, len(set))
		for h := range set {
			hs = append(hs, h)
		}
		slices.Sort(hs)
		v := encodeShard(hs)
		if len(v) > s.cfg.ValueSize {
			return nil, 0, nil
		}
		ops = append(ops, op{rel: listRel(i), val: v})
	}
	return ops, listShards, nil
}

func sortedKeys(m map[int][]string) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// LiveHandles calls fn with the handle of every live file, in handle
// order: from the listing keys if the generation has them (one range
// read), else from the files' headers.
func (tx *lazyTx) LiveHandles(fn func(handle string) error) error {
	if tx.snap.Legacy != nil || tx.copy != nil || tx.snap.Current.Listing != listShards {
		return catalog.LiveHandlesOf(tx.ForEachFile, fn)
	}
	var rels []string
	var vals [][]byte
	err := tx.s.iterate(tx.ctx, tx.snap, relList, prefixEnd(relList), func(rel string, v []byte) error {
		rels, vals = append(rels, rel), append(vals, v)
		return nil
	})
	if err != nil {
		return err
	}
	shards, err := tx.s.decodeShards(rels, vals)
	if err != nil {
		return err
	}
	// Each shard is sorted: merge them.
	return mergeSorted(shards, fn)
}

// listingKeys returns the listing keys there are at sn's revision.
func (s *Store) listingKeys(ctx context.Context, sn *Snapshot) (map[string]bool, error) {
	out := map[string]bool{}
	if sn.Revision == 0 {
		return out, nil
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.cli.Get(rctx, s.key(relList), clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithRev(sn.Revision))
	if err != nil {
		return nil, s.readErr(ctx, err)
	}
	for _, kv := range resp.Kvs {
		out[string(kv.Key[len(s.key("")):])] = true
	}
	return out, nil
}
