package etcdstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
)

// Values under kv/ start with a tag byte.
const (
	tagInline  = 'v' // the value follows
	tagChunked = 'c' // u32 chunk count, u64 size; chunks under kc/
	tagFile    = 'f' // files bucket: u64 content size, then the record header; content under kv/content/
	// Values under stage/<G>/ start with one of these.
	stagePut   = 'p' // put the rest as the value
	stageDel   = 'd' // delete the key
	stageRange = 'r' // delete the keys from this key to the rest (a range end)
)

// contentBucket is the key folder of the files' content: not a bucket of
// the catalog file, the second half of its files bucket.
const contentBucket = "content"

func kvRel(bucket string, key []byte) string { return relKV + bucket + "/" + string(key) }

func chunkPrefix(bucket string, key []byte) string {
	return relChunks + bucket + "/" + string(key) + "\x00"
}

func chunkRel(bucket string, key []byte, i int) string {
	return chunkPrefix(bucket, key) + string(binary.BigEndian.AppendUint32(nil, uint32(i)))
}

// op is one change of a write, relative to the prefix.
type op struct {
	rel string
	val []byte // nil: delete
	end string // with val nil: delete the range [rel, end)
	// direct: a put no reader can see before the write is published (the
	// content of a new file, whose header is not there yet), so a staged
	// write puts it in place at once instead of staging it.
	direct bool
}

func (o op) size() int { return len(o.rel) + len(o.val) + len(o.end) + 16 }

// encoder turns the raw changes of the local catalog into etcd keys.
type encoder struct {
	valueSize int
	ops       []op
	// live holds the files whose liveness the write changed (true: live
	// now), for the listing.
	live map[string]bool
	// index holds the entries the write changed (nil: deleted), for the
	// index shards (index.go).
	index map[string][]byte
	// touched (changeBulk): the index shards the write touched, instead
	// of index; and sink, if set, takes the ops as they are made.
	touched [indexShards]bool
	sink    func([]op) error
}

func chunksOf(n, size int) int { return (n + size - 1) / size }

// value adds the ops that store v (nil: delete) under bucket/key, whose
// previous value was old (nil: none).
func (e *encoder) value(bucket string, key, v, old []byte) {
	e.valueAt(kvRel(bucket, key), bucket, key, v, len(old))
}

// valueAt adds the ops that store v (nil: delete) under rel, chunked under
// kc/<bucket>/<key>, whose previous value was oldLen bytes long.
func (e *encoder) valueAt(rel, bucket string, key, v []byte, oldLen int) {
	oldN := 0
	if oldLen > e.valueSize {
		oldN = chunksOf(oldLen, e.valueSize)
	}
	switch {
	case v == nil:
		e.ops = append(e.ops, op{rel: rel})
		if oldN > 0 {
			e.ops = append(e.ops, op{rel: chunkPrefix(bucket, key), end: prefixEnd(chunkPrefix(bucket, key))})
		}
	case len(v) <= e.valueSize:
		e.ops = append(e.ops, op{rel: rel, val: append([]byte{tagInline}, v...)})
		if oldN > 0 {
			e.ops = append(e.ops, op{rel: chunkPrefix(bucket, key), end: prefixEnd(chunkPrefix(bucket, key))})
		}
	default:
		n := chunksOf(len(v), e.valueSize)
		h := []byte{tagChunked}
		h = binary.BigEndian.AppendUint32(h, uint32(n))
		h = binary.BigEndian.AppendUint64(h, uint64(len(v)))
		for i := range n {
			e.ops = append(e.ops, op{rel: chunkRel(bucket, key, i), val: bytes.Clone(v[i*e.valueSize : min(len(v), (i+1)*e.valueSize)])})
		}
		if oldN > n {
			e.ops = append(e.ops, op{rel: chunkRel(bucket, key, n), end: prefixEnd(chunkPrefix(bucket, key))})
		}
		e.ops = append(e.ops, op{rel: rel, val: h})
	}
}

// change adds the ops of one raw change. A file record goes to two keys:
// its header (state, times, digest, provenance) under kv/files/ and its
// content under kv/content/, so a listing reads no content and a state
// change writes no content.
func (e *encoder) change(kv boltstore.RawKV, old []byte) error {
	if kv.Bucket == contentBucket || kv.Bucket == indexBucket {
		return fmt.Errorf("the catalog has a bucket named %q, which the etcd layout reserves: %w", kv.Bucket, catalog.ErrCorrupt)
	}
	if kv.Bucket == boltstore.RawBucketEntries {
		if e.index == nil {
			e.index = map[string][]byte{}
		}
		e.index[string(kv.Key)] = bytes.Clone(kv.Value)
		return nil
	}
	if kv.Bucket != boltstore.RawBucketFiles {
		from := len(e.ops)
		e.value(kv.Bucket, kv.Key, kv.Value, old)
		if kv.Bucket == boltstore.RawBucketChanges && old == nil && kv.Value != nil {
			// A new change record (keyed by its generation, reached only
			// through that generation's journal record) needs no stage.
			for i := from; i < len(e.ops); i++ {
				e.ops[i].direct = true
			}
		}
		return nil
	}
	var oh, oc []byte
	if old != nil {
		n := boltstore.FileRecordHeaderLen(old)
		if n < 0 {
			return fmt.Errorf("file %q: malformed record: %w", kv.Key, catalog.ErrCorrupt)
		}
		oh, oc = old[:n], old[n:]
	}
	if kv.Value == nil {
		e.setLive(string(kv.Key), old != nil && old[1] == byte(catalog.Live), false)
		e.ops = append(e.ops, op{rel: kvRel(kv.Bucket, kv.Key)})
		e.value(contentBucket, kv.Key, nil, oc)
		return nil
	}
	n := boltstore.FileRecordHeaderLen(kv.Value)
	if n < 0 {
		return fmt.Errorf("file %q: malformed record: %w", kv.Key, catalog.ErrCorrupt)
	}
	h, c := kv.Value[:n], kv.Value[n:]
	e.setLive(string(kv.Key), old != nil && old[1] == byte(catalog.Live), h[1] == byte(catalog.Live))
	if old == nil {
		// A new file: its content is invisible until its header is.
		from := len(e.ops)
		e.value(contentBucket, kv.Key, c, nil)
		for i := from; i < len(e.ops); i++ {
			e.ops[i].direct = true
		}
	}
	if old == nil || !bytes.Equal(h, oh) || len(c) != len(oc) {
		v := []byte{tagFile}
		v = binary.BigEndian.AppendUint64(v, uint64(len(c)))
		e.ops = append(e.ops, op{rel: kvRel(kv.Bucket, kv.Key), val: append(v, h...)})
	}
	if old != nil && !bytes.Equal(c, oc) {
		e.value(contentBucket, kv.Key, c, oc)
	}
	return nil
}

func (e *encoder) setLive(handle string, was, is bool) {
	if was == is {
		return
	}
	if e.live == nil {
		e.live = map[string]bool{}
	}
	e.live[handle] = is
}

// decodeValue returns the value stored under rel (v is its tag-prefixed
// etcd value), reading its chunks at the snapshot if it has any.
func (s *Store) decodeValue(ctx context.Context, sn *Snapshot, bucket string, key, v []byte) ([]byte, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("read %s: key %s is empty: %w", s.URL(), kvRel(bucket, key), catalog.ErrCorrupt)
	}
	switch v[0] {
	case tagInline:
		return v[1:], nil
	case tagChunked:
		if len(v) != 13 {
			break
		}
		n := int(binary.BigEndian.Uint32(v[1:]))
		size := int(binary.BigEndian.Uint64(v[5:]))
		out := make([]byte, 0, size)
		i := 0
		err := s.iterate(ctx, sn, chunkPrefix(bucket, key), prefixEnd(chunkPrefix(bucket, key)), func(rel string, c []byte) error {
			if i < n && rel == chunkRel(bucket, key, i) {
				out = append(out, c...)
				i++
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if i != n || len(out) != size {
			return nil, fmt.Errorf("read %s: key %s: %d of %d chunks, %d of %d bytes: %w", s.URL(), kvRel(bucket, key), i, n, len(out), size, catalog.ErrCorrupt)
		}
		return out, nil
	}
	return nil, fmt.Errorf("read %s: key %s: unknown value tag %q: %w", s.URL(), kvRel(bucket, key), v[0], catalog.ErrCorrupt)
}

// pageCap returns the most keys a page of a scan from the key from
// (relative) may hold: file headers are at most a record's fixed part and
// its 64 KiB provenance, every other value at most the value size (and a
// tag or a chunk header).
func (s *Store) pageCap(from string) int64 {
	if strings.HasPrefix(from, relKV+boltstore.RawBucketFiles+"/") {
		return scanCap(1<<16 + 1<<10)
	}
	return scanCap(s.cfg.ValueSize + 16)
}

// iterate calls fn with every key of [from, end) (relative) as the
// snapshot sees it: the keys under kv/ at its revision, overridden by its
// staged write if it has one. Pages are bounded in keys, so a page of
// chunks stays under etcd's response limit.
func (s *Store) iterate(ctx context.Context, sn *Snapshot, from, end string, fn func(rel string, v []byte) error) error {
	base := s.key(from)
	limit := s.pageCap(from)
	if sn.Current == nil || sn.Current.Stage == 0 {
		return s.scan(ctx, base, s.key(end), sn.Revision, limit, func(k string, v []byte) error {
			return fn(k[len(s.key("")):], v)
		})
	}
	// Merge the staged keys in. They are few next to the catalog (one
	// write's), so read them all first.
	sp := stagePrefix(sn.Current.Stage)
	type staged struct {
		rel string
		v   []byte
	}
	var st []staged
	err := s.scan(ctx, s.key(sp+from), s.key(sp+end), sn.Revision, limit, func(k string, v []byte) error {
		st = append(st, staged{k[len(s.key(sp)):], v})
		return nil
	})
	if err != nil {
		return err
	}
	emit := func(x staged) error {
		if len(x.v) > 0 && x.v[0] == stagePut {
			return fn(x.rel, x.v[1:])
		}
		return nil
	}
	err = s.scan(ctx, base, s.key(end), sn.Revision, limit, func(k string, v []byte) error {
		rel := k[len(s.key("")):]
		for len(st) > 0 && st[0].rel < rel {
			if err := emit(st[0]); err != nil {
				return err
			}
			st = st[1:]
		}
		if len(st) > 0 && st[0].rel == rel {
			x := st[0]
			st = st[1:]
			return emit(x)
		}
		return fn(rel, v)
	})
	if err != nil {
		return err
	}
	for _, x := range st {
		if err := emit(x); err != nil {
			return err
		}
	}
	return nil
}

// load copies the catalog of the snapshot into dst, a new local catalog
// file, key by key, a few thousand keys per local transaction. Three
// parts run at once, each with its own transactions: the keys before
// kv/content/ (the change records), those after it (the files, journal
// and the rest), and the index shards.
func (s *Store) load(ctx context.Context, sn *Snapshot, dst boltstore.RawDB) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cp := relKV + contentBucket + "/"
	indexed := indexedSnapshot(sn)
	parts := []func() error{
		func() error { return s.loadRange(ctx, sn, dst, relKV, cp) },
		func() error { return s.loadRange(ctx, sn, dst, prefixEnd(cp), prefixEnd(relKV)) },
	}
	if indexed {
		parts = append(parts, func() error { return s.loadIndex(ctx, sn, dst) })
	}
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = part(); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		// The first error that is not another part's cancellation.
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// loadRange copies the keys of [from, end) under kv/ (relative) into
// dst, the files' content with their headers.
func (s *Store) loadRange(ctx context.Context, sn *Snapshot, dst boltstore.RawDB, from, end string) error {
	var batch []boltstore.RawKV
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := dst.PutRaw(batch)
		batch, size = nil, 0
		return err
	}
	add := func(kv boltstore.RawKV) error {
		batch = append(batch, kv)
		size += len(kv.Key) + len(kv.Value)
		if len(batch) >= 4096 || size >= 8<<20 {
			return flush()
		}
		return nil
	}
	// The content of the files: read beside their headers, or, when no
	// staged write overrides kv/ (a writer always loads such a
	// snapshot), in exact ranges planned from the headers (contents.go).
	var nextContent func(handle string) ([]byte, error)
	var stop func() error
	var pending *contentPlan
	if sn.Current != nil && sn.Current.Stage == 0 {
		pending = &contentPlan{s: s, sn: sn}
	}
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	indexed := indexedSnapshot(sn)
	visit := func(rel string, v []byte) error {
		bucket, key, ok := splitKV(rel)
		if !ok {
			return fmt.Errorf("read %s: unexpected key %q: %w", s.URL(), rel, catalog.ErrCorrupt)
		}
		if indexed && bucket == boltstore.RawBucketEntries {
			// Version 2's index keys, which the fold of the write that
			// converted the catalog deletes: the index is in ix/.
			return nil
		}
		if bucket == boltstore.RawBucketFiles {
			if len(v) < 9 || v[0] != tagFile {
				return fmt.Errorf("read %s: file %q: malformed header: %w", s.URL(), key, catalog.ErrCorrupt)
			}
			if pending != nil {
				return pending.add(ctx, key, v, add)
			}
			if nextContent == nil {
				nextContent, stop = s.streamContent(ctx, sn)
			}
			c, err := nextContent(key)
			if err != nil {
				return err
			}
			return add(boltstore.RawKV{Bucket: bucket, Key: []byte(key), Value: append(append([]byte(nil), v[9:]...), c...)})
		}
		val, err := s.decodeValue(ctx, sn, bucket, []byte(key), v)
		if err != nil {
			return err
		}
		return add(boltstore.RawKV{Bucket: bucket, Key: []byte(key), Value: append([]byte(nil), val...)})
	}
	if err := s.iterate(ctx, sn, from, end, visit); err != nil {
		return err
	}
	if pending != nil {
		if err := pending.flush(ctx, add); err != nil {
			return err
		}
	} else if stop != nil {
		err := stop()
		if stop = nil; err != nil {
			return err
		}
	}
	return flush()
}

// streamContent reads every content key of sn in key order on a
// goroutine, and returns a function that returns the content of the file
// handle (called in handle order), and one that stops the goroutine and
// returns its error.
func (s *Store) streamContent(ctx context.Context, sn *Snapshot) (next func(handle string) ([]byte, error), stop func() error) {
	contents := make(chan contentKV, 256)
	cctx, cancel := context.WithCancel(ctx)
	cerr := make(chan error, 1)
	go func() {
		defer close(contents)
		cp := relKV + contentBucket + "/"
		cerr <- s.iterate(cctx, sn, cp, prefixEnd(cp), func(rel string, v []byte) error {
			select {
			case contents <- contentKV{handle: rel[len(cp):], v: v}:
				return nil
			case <-cctx.Done():
				return cctx.Err()
			}
		})
	}()
	var pend *contentKV
	next = func(handle string) ([]byte, error) {
		for {
			if pend == nil {
				c, ok := <-contents
				if !ok {
					break
				}
				pend = &c
			}
			if pend.handle < handle {
				pend = nil // content of no file: a writer's leftover
				continue
			}
			if pend.handle > handle {
				break
			}
			c := pend
			pend = nil
			return s.decodeValue(ctx, sn, contentBucket, []byte(handle), c.v)
		}
		return nil, fmt.Errorf("read %s: file %q has no content key: %w", s.URL(), handle, catalog.ErrCorrupt)
	}
	stop = func() error {
		cancel()
		for range contents {
		}
		if err := <-cerr; err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
	return next, stop
}

type contentKV struct {
	handle string
	v      []byte
}

// splitKV splits "kv/<bucket>/<key>".
func splitKV(rel string) (bucket, key string, ok bool) {
	rest, ok := cutPrefix(rel, relKV)
	if !ok {
		return "", "", false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			return rest[:i], rest[i+1:], true
		}
	}
	return "", "", false
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) < len(p) || s[:len(p)] != p {
		return s, false
	}
	return s[len(p):], true
}
