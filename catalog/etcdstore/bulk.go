package etcdstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
	"github.com/metactl/metactl/internal/failpoint"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Large writes in bounded memory (catalog.BulkUpdater, catalog.Create).
//
// UpdateBulk runs the write on the local copy as the file backend's
// UpdateBulk does: on a scratch copy of it, in bbolt transactions that
// commit at checkpoints. It then walks the keys the write changed
// (boltstore.RawBulkDB.DiffBulk, reading both files in bounded runs) and
// sends them to etcd as they come: while they still fit one etcd
// transaction they are held, and published exactly as Update publishes
// (one transaction that compares current); from the first key past that
// they are staged under stage/<G>/ (and the content of new files put in
// place under direct/<G>/'s lists), a few transactions' worth at a time,
// and published by the one compare-and-swap of current, then folded a
// few transactions at a time. So no slice holds every changed value, a
// file's content in chunks is read and sent a chunk at a time, and the
// view index's shards are rebuilt from the local copy in passes over
// groups of shards. What etcd holds afterwards is key for key what Update
// would have left; a crash leaves what a crashed staged write leaves
// (before the swap: keys the next writer deletes; after it: a stage it
// folds).

var _ catalog.BulkUpdater = (*DB)(nil)

// createDB is the backend's [catalog.CreateFunc]: a new catalog (an empty
// generation 0, as a writable open makes) and one bulk write. If the write
// fails, the empty catalog is removed again, still under the writer lock:
// a failed first import leaves nothing (a writer killed meanwhile leaves
// the empty generation 0).
func createDB(ctx context.Context, location string, opts *catalog.Options, kind catalog.Kind, fn func(catalog.BulkWriteTx) error) (*catalog.Operation, error) {
	o := *opts
	o.Mode = catalog.MustBeNew
	cdb, err := openDB(ctx, location, &o)
	if err != nil {
		return nil, err
	}
	db := cdb.(*DB)
	op, err := db.UpdateBulk(ctx, kind, fn)
	if err != nil {
		db.removeEmpty(context.WithoutCancel(ctx))
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		return op, cerr
	}
	return op, err
}

// removeEmpty removes the catalog if it is still an empty generation 0,
// in one transaction that this writer still holds the lock and current
// has not moved. It is best effort: a catalog it cannot remove stays.
func (db *DB) removeEmpty(ctx context.Context) {
	db.mu.Lock()
	defer db.mu.Unlock()
	s := db.s
	sn, err := s.Current(ctx)
	if err != nil || sn.Current == nil || sn.Generation() != 0 || sn.Current.Stage != 0 {
		return
	}
	ops := []op{{rel: relCurrent}, {rel: relSummary}, {rel: relRevs}}
	for _, p := range []string{relKV, relChunks, relIndex, relList, relStage, relDirect} {
		ops = append(ops, op{rel: p, end: prefixEnd(p)})
	}
	err = s.txn(ctx, db.lock, "remove empty catalog "+s.URL(),
		[]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.key(relCurrent)), "=", sn.CurrentModRev)}, ops)
	if err == nil {
		db.mirror.close() // not kept for the next writer: no catalog
		db.mirror = nil
	}
}

// UpdateBulk is Update for a write too large to hold in one transaction's
// memory (see the top of bulk.go). The operation, the journal and what
// etcd holds afterwards are exactly what Update leaves.
func (db *DB) UpdateBulk(ctx context.Context, kind catalog.Kind, fn func(catalog.BulkWriteTx) error) (*catalog.Operation, error) {
	if db.opts.ReadOnly {
		return nil, catalog.ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	s := db.s
	defer s.releaseAfter(ctx, s.written.Load())
	base, c, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	bdb, ok := c.db.(boltstore.RawBulkDB)
	if !ok {
		return nil, fmt.Errorf("%s %s: the local copy has no bulk write", kind, s.URL())
	}
	p := &bulkPublisher{s: s, l: db.lock, base: base, gen: base.Generation() + 1}
	p.init(ctx)
	enc := encoder{valueSize: s.cfg.ValueSize, sink: p.add}
	op, err := bdb.DiffBulk(ctx, kind, fn, enc.changeBulk)
	if err != nil {
		// DiffBulk leaves the local copy as it was, unless it failed
		// replacing it.
		if gen, gerr := generationOf(ctx, c.db); gerr != nil || gen != base.Generation() {
			db.mirror.close()
			db.mirror = nil
		}
		return nil, err
	}
	if !op.Changed() {
		return op, nil
	}
	rev, err := p.publish(ctx, bdb, &enc, op)
	if err != nil {
		db.mirror.close() // ahead of etcd
		db.mirror = nil
		return nil, err
	}
	c.modRev = rev
	s.compactHistory(ctx, db.lock)
	return op, nil
}

// bulkPublisher sends a bulk write's changes to etcd as they are made.
type bulkPublisher struct {
	s    *Store
	l    *Lock
	base *Snapshot
	gen  uint64
	// held: the changes so far, while they may fit one transaction.
	held     []op
	heldSize int
	staging  bool
	staged   sendQueue // puts under stage/<G>/
	direct   sendQueue // content of new files and new change records, in place
	lists    int       // lists of direct keys sent
}

func (p *bulkPublisher) init(ctx context.Context) {
	what := fmt.Sprintf("stage %s generation %d", p.s.URL(), p.gen)
	sent := func(b []op) error {
		if err := p.s.txn(ctx, p.l, what, nil, b); err != nil {
			return err
		}
		failpoint.Hit("etcd.after-chunk")
		return nil
	}
	p.staged = sendQueue{s: p.s, send: sent}
	// A batch of direct keys goes with its list (deflated, as putDirect
	// writes them), so the next writer can delete them if this one dies
	// before its compare-and-swap.
	p.direct = sendQueue{s: p.s, reserve: 1, reserveBytes: directListReserve, send: func(b []op) error {
		var list []byte
		for _, o := range b {
			list = append(append(list, o.rel...), '\n')
		}
		l := op{rel: fmt.Sprintf("%s%08d", directPrefix(p.gen), p.lists), val: deflate(list)}
		p.lists++
		return sent(append([]op{l}, b...))
	}}
}

// directListReserve is the room a batch of direct keys leaves for its list.
const directListReserve = 32 << 10

// add takes changes, as the encoder makes them.
func (p *bulkPublisher) add(ops []op) error {
	for _, o := range ops {
		if !p.staging {
			p.held = append(p.held, o)
			p.heldSize += o.size()
			if len(p.held) <= p.s.cfg.TxnOps && p.heldSize <= p.s.cfg.TxnBytes {
				continue
			}
			// Too large for one transaction: staged, from here on.
			p.staging = true
			failpoint.Hit("etcd.before-keys")
			held := p.held
			p.held, p.heldSize = nil, 0
			for _, h := range held {
				if err := p.stage(h); err != nil {
					return err
				}
			}
			continue
		}
		if err := p.stage(o); err != nil {
			return err
		}
	}
	return nil
}

// stage sends o as stage() would: a direct key in place, any other under
// stage/<G>/.
func (p *bulkPublisher) stage(o op) error {
	sp := stagePrefix(p.gen)
	switch {
	case o.direct:
		return p.direct.add(o)
	case o.val != nil:
		return p.staged.add(op{rel: sp + o.rel, val: append([]byte{stagePut}, o.val...)})
	case o.end != "":
		return p.staged.add(op{rel: sp + o.rel, val: append([]byte{stageRange}, o.end...)})
	default:
		return p.staged.add(op{rel: sp + o.rel, val: []byte{stageDel}})
	}
}

// publish adds the index and listing changes of the write (op) the local
// copy c now holds and makes it the next generation: in one transaction
// if it fits, as Update does, or by the compare-and-swap of its stage.
// It returns the new current key's mod revision.
func (p *bulkPublisher) publish(ctx context.Context, c boltstore.RawBulkDB, enc *encoder, op *catalog.Operation) (int64, error) {
	s := p.s
	if op.Generation != p.gen {
		return 0, fmt.Errorf("publish %s: the write made generation %d on generation %d: %w", s.URL(), op.Generation, p.base.Generation(), ErrLostRace)
	}
	if err := enc.drain(); err != nil {
		return 0, err
	}
	if err := s.indexBulk(ctx, p.base, c, &enc.touched, op.Entries, p.add); err != nil {
		return 0, err
	}
	lops, listing, err := s.listingOps(ctx, p.base, c, enc.live)
	if err != nil {
		return 0, err
	}
	if err := p.add(lops); err != nil {
		return 0, err
	}
	if !p.staging {
		return s.publish(ctx, p.l, p.base, c, p.held, listing)
	}
	cur, meta, err := s.publication(ctx, p.base, c, listing)
	if err != nil {
		return 0, err
	}
	if cur.Generation != p.gen {
		return 0, fmt.Errorf("publish %s: the local copy is at generation %d, not %d: %w", s.URL(), cur.Generation, p.gen, ErrLostRace)
	}
	if err := p.add(meta); err != nil {
		return 0, err
	}
	if err := p.direct.flush(); err != nil {
		return 0, err
	}
	if err := p.staged.flush(); err != nil {
		return 0, err
	}
	return s.swapStaged(ctx, p.l, p.base, cur)
}

// sendQueue sends ops in transactions as they come, holding a few
// transactions' worth at most.
type sendQueue struct {
	s *Store
	// reserve and reserveBytes: room each transaction leaves (batches).
	reserve, reserveBytes int
	send                  func([]op) error
	ops                   []op
	size                  int
}

func (q *sendQueue) add(o op) error {
	q.ops = append(q.ops, o)
	q.size += o.size()
	if len(q.ops) < 4*q.s.cfg.TxnOps && q.size < 4*q.s.cfg.TxnBytes {
		return nil
	}
	bs := q.s.batches(q.ops, q.reserve, q.reserveBytes)
	for _, b := range bs[:len(bs)-1] {
		if err := q.send(b); err != nil {
			return err
		}
	}
	// A new array: the sent ops' values are garbage now.
	q.ops = append([]op(nil), bs[len(bs)-1]...)
	q.size = 0
	for _, o := range q.ops {
		q.size += o.size()
	}
	return nil
}

func (q *sendQueue) flush() error {
	if len(q.ops) == 0 {
		return nil
	}
	for _, b := range q.s.batches(q.ops, q.reserve, q.reserveBytes) {
		if err := q.send(b); err != nil {
			return err
		}
	}
	q.ops, q.size = nil, 0
	return nil
}

// changeBulk is change for DiffBulk's reports: an entry marks its index
// shard touched (indexBulk rebuilds it from the local copy), a file whose
// content is in chunks is sent a chunk at a time, and the ops go to the
// sink as they are made.
func (e *encoder) changeBulk(kv boltstore.RawKV) error {
	var err error
	switch {
	case kv.Bucket == boltstore.RawBucketEntries:
		e.touched[indexShard(kv.Key)] = true
		return nil
	case kv.Bucket == boltstore.RawBucketFiles && (kv.Content != nil || kv.OldHeaderOnly):
		err = e.fileStreamed(kv)
	default:
		err = e.change(kv, kv.Old)
	}
	if err != nil {
		return err
	}
	return e.drain()
}

// drain hands the ops made so far to the sink.
func (e *encoder) drain() error {
	if e.sink == nil || len(e.ops) == 0 {
		return nil
	}
	err := e.sink(e.ops)
	e.ops = e.ops[:0]
	return err
}

// fileStreamed is change for a file record DiffBulk reported with a
// header alone (its content in chunks, before or after the write). Its
// content is compared by length and digest (the record's SHA-256), not
// byte for byte.
func (e *encoder) fileStreamed(kv boltstore.RawKV) error {
	old := kv.Old
	var oh, oc []byte
	oldLen := 0
	if old != nil {
		if kv.OldHeaderOnly {
			oh, oldLen = old, kv.OldContentSize
		} else {
			n := boltstore.FileRecordHeaderLen(old)
			if n < 0 {
				return fmt.Errorf("file %q: malformed record: %w", kv.Key, catalog.ErrCorrupt)
			}
			oh, oc = old[:n], old[n:]
			oldLen = len(oc)
		}
		if len(oh) < 50 {
			return fmt.Errorf("file %q: malformed record: %w", kv.Key, catalog.ErrCorrupt)
		}
	}
	wasLive := old != nil && old[1] == byte(catalog.Live)
	if kv.Value == nil {
		e.setLive(string(kv.Key), wasLive, false)
		e.ops = append(e.ops, op{rel: kvRel(kv.Bucket, kv.Key)})
		e.valueAt(kvRel(contentBucket, kv.Key), contentBucket, kv.Key, nil, oldLen)
		return nil
	}
	var h, c []byte
	newLen := kv.ContentSize
	if kv.Content != nil {
		h = kv.Value
	} else {
		n := boltstore.FileRecordHeaderLen(kv.Value)
		if n < 0 {
			return fmt.Errorf("file %q: malformed record: %w", kv.Key, catalog.ErrCorrupt)
		}
		h, c = kv.Value[:n], kv.Value[n:]
		newLen = len(c)
	}
	if boltstore.FileRecordHeaderLen(h) != len(h) {
		return fmt.Errorf("file %q: malformed record: %w", kv.Key, catalog.ErrCorrupt)
	}
	e.setLive(string(kv.Key), wasLive, h[1] == byte(catalog.Live))
	content := func(oldLen int, direct bool) error {
		if kv.Content == nil {
			from := len(e.ops)
			e.valueAt(kvRel(contentBucket, kv.Key), contentBucket, kv.Key, c, oldLen)
			for i := from; i < len(e.ops); i++ {
				e.ops[i].direct = direct
			}
			return nil
		}
		return e.streamValue(kvRel(contentBucket, kv.Key), contentBucket, kv.Key, newLen, oldLen, kv.Content, direct)
	}
	if old == nil {
		// A new file: its content is invisible until its header is.
		if err := content(0, true); err != nil {
			return err
		}
	}
	if old == nil || !bytes.Equal(h, oh) || newLen != oldLen {
		v := []byte{tagFile}
		v = binary.BigEndian.AppendUint64(v, uint64(newLen))
		e.ops = append(e.ops, op{rel: kvRel(kv.Bucket, kv.Key), val: append(v, h...)})
	}
	if old != nil && (newLen != oldLen || !bytes.Equal(h[18:50], oh[18:50])) {
		return content(oldLen, false)
	}
	return nil
}

// streamValue is valueAt for a value of size bytes that read produces in
// pieces: its chunks are made and handed to the sink one at a time.
func (e *encoder) streamValue(rel, bucket string, key []byte, size, oldLen int, read func(func([]byte) error) error, direct bool) error {
	vs := e.valueSize
	if size <= vs {
		v := make([]byte, 0, size)
		if err := read(func(p []byte) error { v = append(v, p...); return nil }); err != nil {
			return err
		}
		from := len(e.ops)
		e.valueAt(rel, bucket, key, v, oldLen)
		for i := from; i < len(e.ops); i++ {
			e.ops[i].direct = direct
		}
		return e.drain()
	}
	n := chunksOf(size, vs)
	i, got := 0, 0
	buf := make([]byte, 0, vs)
	emit := func() error {
		e.ops = append(e.ops, op{rel: chunkRel(bucket, key, i), val: buf, direct: direct})
		got += len(buf)
		i++
		buf = make([]byte, 0, vs)
		return e.drain()
	}
	err := read(func(p []byte) error {
		for len(p) > 0 {
			take := min(vs-len(buf), len(p))
			buf, p = append(buf, p[:take]...), p[take:]
			if len(buf) == vs {
				if err := emit(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil && len(buf) > 0 {
		err = emit()
	}
	if err != nil {
		return err
	}
	if i != n || got != size {
		return fmt.Errorf("%s: %d of %d bytes read: %w", rel, got, size, catalog.ErrCorrupt)
	}
	if oldLen > vs && chunksOf(oldLen, vs) > n {
		e.ops = append(e.ops, op{rel: chunkRel(bucket, key, n), end: prefixEnd(chunkPrefix(bucket, key)), direct: direct})
	}
	h := []byte{tagChunked}
	h = binary.BigEndian.AppendUint32(h, uint32(n))
	h = binary.BigEndian.AppendUint64(h, uint64(size))
	e.ops = append(e.ops, op{rel: rel, val: h, direct: direct})
	return e.drain()
}

// indexPassBytes is about how much of the index one pass of indexBulk
// holds (raw, before deflating).
const indexPassBytes = 12 << 20

// indexBulk sends the index shards a bulk write touched, rebuilt from the
// local copy c (whose entries bucket is the index of the new generation),
// as indexOps would have computed them from base's shards and the
// changes: the shards are built in passes over c's entries, each for a
// group of shards, so about indexPassBytes of them are held at a time. A
// base without an index in ix/ gets every shard, and its entry keys
// deleted, as indexOps does.
func (s *Store) indexBulk(ctx context.Context, base *Snapshot, c boltstore.RawBulkDB, touched *[indexShards]bool, entries int, emit func([]op) error) error {
	all := !indexedSnapshot(base)
	var shards []int
	for i := range indexShards {
		if all || touched[i] {
			shards = append(shards, i)
		}
	}
	if len(shards) == 0 {
		return nil
	}
	oldLen := map[int]int{}
	if !all {
		// The stored length of each touched shard: whether its old chunks
		// must go.
		err := s.iterate(ctx, base, relIndex, prefixEnd(relIndex), func(rel string, v []byte) error {
			var i int
			if _, err := fmt.Sscanf(rel[len(relIndex):], "%03x", &i); err != nil || indexRel(i) != rel {
				return fmt.Errorf("read %s: unexpected index key %q: %w", s.URL(), rel, catalog.ErrCorrupt)
			}
			if !touched[i] || len(v) == 0 {
				return nil
			}
			switch {
			case v[0] == tagInline:
				oldLen[i] = len(v) - 1
			case v[0] == tagChunked && len(v) == 13:
				oldLen[i] = int(binary.BigEndian.Uint64(v[5:]))
			default:
				return fmt.Errorf("read %s: index shard %s: unknown value tag: %w", s.URL(), rel, catalog.ErrCorrupt)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	passes := min(64, max(1, int(int64(entries)*128*int64(len(shards))/indexShards/indexPassBytes)+1))
	enc := encoder{valueSize: s.cfg.ValueSize}
	for pass := range passes {
		var group []int // shards with shard*passes/len(shards) == pass
		for j, i := range shards {
			if j*passes/len(shards) == pass {
				group = append(group, i)
			}
		}
		if len(group) == 0 {
			continue
		}
		want := map[int]bool{}
		for _, i := range group {
			want[i] = true
		}
		raws := map[int][]byte{}
		err := c.ScanRaw(ctx, boltstore.RawBucketEntries, func(k, v []byte) error {
			if i := indexShard(k); want[i] {
				raws[i] = appendIndexKV(raws[i], string(k), v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, i := range group {
			raw := raws[i]
			delete(raws, i)
			var v []byte
			if len(raw) > 0 {
				v = deflate(raw)
			} else if all {
				continue // nothing stored: nothing to delete
			}
			// As indexOps: a rebuilt shard (all) leaves old chunks past
			// the new value's (never read); a rewritten one deletes them.
			enc.valueAt(indexRel(i), indexBucket, []byte(indexKey(i)), v, oldLen[i])
			if err := emit(enc.ops); err != nil {
				return err
			}
			enc.ops = enc.ops[:0]
		}
	}
	if all && base.Current != nil {
		// A version-2 catalog's index keys.
		p := relKV + boltstore.RawBucketEntries + "/"
		return emit([]op{{rel: p, end: prefixEnd(p)}})
	}
	return nil
}

// publication returns the current record and the summary and history
// keys that publish the generation the local copy c holds.
func (s *Store) publication(ctx context.Context, base *Snapshot, c catalog.DB, listing int) (currentRecord, []op, error) {
	sum, gen, err := summarize(ctx, c)
	if err != nil {
		return currentRecord{}, nil, err
	}
	sumB, _ := json.Marshal(sum)
	host, _ := os.Hostname()
	cur := currentRecord{Format: layoutFormat, Version: layoutVersion, Generation: gen, Listing: listing, Published: s.opts.Now().UTC(),
		Publisher: &catalog.Holder{PID: os.Getpid(), Command: s.opts.Command, Host: host}}
	meta := []op{{rel: relSummary, val: sumB}}
	if rv := s.revsAfter(ctx, base); rv != nil {
		meta = append(meta, op{rel: relRevs, val: rv})
	}
	return cur, meta, nil
}

// swapStaged publishes a staged write (its keys all sent): one
// compare-and-swap sets the current key to cur with Stage set, then the
// stage is folded. It returns the current key's mod revision.
func (s *Store) swapStaged(ctx context.Context, l *Lock, base *Snapshot, cur currentRecord) (int64, error) {
	cur.Stage = cur.Generation
	curB, _ := json.Marshal(cur)
	failpoint.Hit("etcd.before-cas")
	rev, err := s.txnRev(ctx, l, fmt.Sprintf("publish %s generation %d", s.URL(), cur.Generation),
		[]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.key(relCurrent)), "=", base.CurrentModRev)},
		s.etcdOps("", []op{{rel: relCurrent, val: curB}}))
	if err != nil {
		return 0, err
	}
	failpoint.Hit("etcd.after-cas")
	sn := &Snapshot{Revision: rev, CurrentModRev: rev, Current: &cur}
	if err := s.fold(ctx, l, sn); err != nil {
		return 0, err
	}
	after, err := s.Current(ctx)
	if err != nil {
		return 0, err
	}
	return after.CurrentModRev, nil
}
