package etcdstore

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
)

// The view index (the file backend's entries bucket: one key per distinct
// line of the live files, the value its live count) is, from layout
// version 3, kept in indexShards keys ix/<shard, 3 hex digits> rather
// than one key per entry: a shard holds the entries whose FNV-1a hash
// falls in it, sorted, as 'z' + deflate(uvarint key length, key, uvarint
// value length, value ...), chunked under kc/ix/ like any value over the
// value size. Only the file backend's code reads the index (on a local
// copy), so nothing needs one entry alone; a write that changes many
// entries (a compaction adding copies of every line) then sends their
// shards, compressed, not a key per entry twice over (staged and folded).
// A write rewrites only the shards its changed entries fall in, read at
// its base revision. A version-2 catalog (kv/entries/) is converted by
// its first write.
const (
	relIndex    = "ix/"
	indexBucket = "ix" // the chunk folder of the shards: kc/ix/
	indexShards = 1024
)

func indexShard(key []byte) int {
	h := fnv.New32a()
	h.Write(key)
	return int(h.Sum32() % indexShards)
}

func indexKey(shard int) string { return fmt.Sprintf("%03x", shard) }

func indexRel(shard int) string { return relIndex + indexKey(shard) }

// indexedSnapshot reports whether sn keeps its view index in ix/.
func indexedSnapshot(sn *Snapshot) bool { return sn.Current != nil && sn.Current.Version >= 3 }

type indexKV struct {
	key string
	val []byte
}

// appendIndexKV appends one entry to a shard's raw (uncompressed) form.
func appendIndexKV(b []byte, key string, val []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(val)))
	return append(b, val...)
}

func deflate(raw []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(tagListing)
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	w.Write(raw)
	w.Close()
	return b.Bytes()
}

// decodeIndexShard returns the entries of a shard value (chunks joined).
func (s *Store) decodeIndexShard(shard string, v []byte) ([]indexKV, error) {
	bad := func(why string) error {
		return fmt.Errorf("read %s: index shard %s: %s: %w", s.URL(), shard, why, catalog.ErrCorrupt)
	}
	if len(v) == 0 || v[0] != tagListing {
		return nil, bad("unknown value tag")
	}
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(v[1:])))
	if err != nil {
		return nil, bad(err.Error())
	}
	var out []indexKV
	for len(raw) > 0 {
		n, k := binary.Uvarint(raw)
		if k <= 0 || uint64(len(raw)-k) < n {
			return nil, bad("truncated")
		}
		key := string(raw[k : k+int(n)])
		raw = raw[k+int(n):]
		n, k = binary.Uvarint(raw)
		if k <= 0 || uint64(len(raw)-k) < n {
			return nil, bad("truncated")
		}
		out = append(out, indexKV{key, raw[k : k+int(n) : k+int(n)]})
		raw = raw[k+int(n):]
	}
	return out, nil
}

// readIndex calls fn for every shard of sn's index (only those in only,
// if not nil) with its entries and the length of its stored value, in
// shard order. A few shards are read one by one, more in one range.
func (s *Store) readIndex(ctx context.Context, sn *Snapshot, only map[int]bool, fn func(shard int, kvs []indexKV, size int) error) error {
	one := func(i int, v []byte) error {
		key := indexKey(i)
		full, err := s.decodeValue(ctx, sn, indexBucket, []byte(key), v)
		if err != nil {
			return err
		}
		kvs, err := s.decodeIndexShard(key, full)
		if err != nil {
			return err
		}
		return fn(i, kvs, len(full))
	}
	if only != nil && len(only) <= 16 {
		for _, i := range slices.Sorted(maps.Keys(only)) {
			v, err := s.get(ctx, sn, indexRel(i))
			if err != nil {
				return err
			}
			if v != nil {
				if err := one(i, v); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return s.iterate(ctx, sn, relIndex, prefixEnd(relIndex), func(rel string, v []byte) error {
		key := rel[len(relIndex):]
		var i int
		if _, err := fmt.Sscanf(key, "%03x", &i); err != nil || indexKey(i) != key {
			return fmt.Errorf("read %s: unexpected index key %q: %w", s.URL(), rel, catalog.ErrCorrupt)
		}
		if only != nil && !only[i] {
			return nil
		}
		return one(i, v)
	})
}

// loadIndex puts sn's index into the local catalog's entries bucket, in
// key order.
func (s *Store) loadIndex(ctx context.Context, sn *Snapshot, dst boltstore.RawDB) error {
	var all []indexKV
	err := s.readIndex(ctx, sn, nil, func(_ int, kvs []indexKV, _ int) error {
		all = append(all, kvs...)
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(all, func(a, b indexKV) int { return strings.Compare(a.key, b.key) })
	batch := make([]boltstore.RawKV, 0, 4096)
	for i, kv := range all {
		batch = append(batch, boltstore.RawKV{Bucket: boltstore.RawBucketEntries, Key: []byte(kv.key), Value: kv.val})
		if len(batch) == cap(batch) || i == len(all)-1 {
			if err := dst.PutRaw(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

// indexOps returns the ops that bring the index from base's to what the
// local copy c holds, given changed: the entries the write changed (nil
// value: deleted). A base of version 3 has its touched shards read and
// rewritten; any other (a new catalog, a copy, a version-2 catalog) gets
// every shard built from c, and its kv/entries/ keys deleted.
func (s *Store) indexOps(ctx context.Context, base *Snapshot, c boltstore.RawDB, changed map[string][]byte, all bool) ([]op, error) {
	enc := encoder{valueSize: s.cfg.ValueSize}
	if indexedSnapshot(base) && !all {
		if len(changed) == 0 {
			return nil, nil
		}
		touched := map[int]bool{}
		for k := range changed {
			touched[indexShard([]byte(k))] = true
		}
		old := map[int][]indexKV{}
		oldLen := map[int]int{}
		err := s.readIndex(ctx, base, touched, func(i int, kvs []indexKV, size int) error {
			old[i], oldLen[i] = kvs, size
			return nil
		})
		if err != nil {
			return nil, err
		}
		byShard := map[int][]string{}
		for k := range changed {
			i := indexShard([]byte(k))
			byShard[i] = append(byShard[i], k)
		}
		for _, i := range slices.Sorted(maps.Keys(touched)) {
			m := make(map[string][]byte, len(old[i])+len(byShard[i]))
			for _, kv := range old[i] {
				m[kv.key] = kv.val
			}
			for _, k := range byShard[i] {
				if v := changed[k]; v != nil {
					m[k] = v
				} else {
					delete(m, k)
				}
			}
			keys := slices.Sorted(maps.Keys(m))
			var raw []byte
			for _, k := range keys {
				raw = appendIndexKV(raw, k, m[k])
			}
			var v []byte
			if len(keys) > 0 {
				v = deflate(raw)
			}
			enc.valueAt(indexRel(i), indexBucket, []byte(indexKey(i)), v, oldLen[i])
		}
		return enc.ops, nil
	}
	// Build: the entries bucket is in key order, so each shard's run is.
	raws := make([][]byte, indexShards)
	err := c.ForEachRaw(func(kv boltstore.RawKV) error {
		if kv.Bucket == boltstore.RawBucketEntries {
			i := indexShard(kv.Key)
			raws[i] = appendIndexKV(raws[i], string(kv.Key), kv.Value)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	stale := map[int]bool{}
	if base.Revision != 0 && indexedSnapshot(base) {
		err := s.iterate(ctx, base, relIndex, prefixEnd(relIndex), func(rel string, v []byte) error {
			var i int
			fmt.Sscanf(rel[len(relIndex):], "%03x", &i)
			stale[i] = true
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for i, raw := range raws {
		switch {
		case len(raw) > 0:
			// A shard left chunked would keep chunks past the new value's:
			// they are never read (the value says how many there are).
			enc.valueAt(indexRel(i), indexBucket, []byte(indexKey(i)), deflate(raw), 0)
		case stale[i]:
			enc.valueAt(indexRel(i), indexBucket, []byte(indexKey(i)), nil, 0)
		}
		raws[i] = nil
	}
	if base.Current != nil && !indexedSnapshot(base) {
		// A version-2 catalog's index keys.
		p := relKV + boltstore.RawBucketEntries + "/"
		enc.ops = append(enc.ops, op{rel: p, end: prefixEnd(p)})
	}
	return enc.ops, nil
}
