package etcdstore

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strings"

	"github.com/metactl/metactl/catalog"
	clientv3 "go.etcd.io/etcd/client/v3"
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
	if len(v) == 0 || v[0] != tagListing {
		return nil, fmt.Errorf("read %s: listing key %s: unknown value tag: %w", s.URL(), rel, catalog.ErrCorrupt)
	}
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(v[1:])))
	if err != nil {
		return nil, fmt.Errorf("read %s: listing key %s: %w: %v", s.URL(), rel, catalog.ErrCorrupt, err)
	}
	if len(raw) == 0 {
		return nil, nil
	}
	if raw[len(raw)-1] != '\n' {
		return nil, fmt.Errorf("read %s: listing key %s: truncated: %w", s.URL(), rel, catalog.ErrCorrupt)
	}
	return strings.Split(string(raw[:len(raw)-1]), "\n"), nil
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
	var all []string
	err := tx.s.iterate(tx.ctx, tx.snap, relList, prefixEnd(relList), func(rel string, v []byte) error {
		hs, err := tx.s.decodeShard(rel, v)
		all = append(all, hs...)
		return err
	})
	if err != nil {
		return err
	}
	slices.Sort(all)
	for _, h := range all {
		if err := fn(h); err != nil {
			return err
		}
	}
	return nil
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
