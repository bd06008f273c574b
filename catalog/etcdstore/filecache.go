package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
)

// FileCache is a [catalog.FileReader] for a long-lived reader (the
// adapter server) that answers from memory while the catalog has not
// changed, and each answer is still what [DB.ReadFiles] would answer at
// the moment of the call.
//
// What it holds: the headers (kv/files/) and inline contents
// (kv/content/) of every file of one settled generation (no staged write),
// read by a scan of both ranges at one etcd revision R, and the current
// key as it was at R: its mod revision M, its value and the cluster's ID.
//
// Why it cannot be stale: every read first gets the current key, a
// linearizable read sent after the call arrived (its own, or one it
// shares: below), so it reflects every write committed before the call.
// If the key's mod revision is still M (same value, same cluster), no
// write has put the current key since R, and no write changes a file of a
// settled generation without putting the current key in the same
// transaction: a write of one transaction compares and puts current with
// its keys; a staged write swaps current (Stage set, which this cache
// never serves) before it folds its keys into kv/, and puts current again
// to clear the stage; the only keys put outside those are a staged
// write's direct keys, the content of files that have no header in the
// current generation (a reader reaches content only through a header, and
// the cache answers a handle only with both), its change records, and the
// lock, holder and revs keys, none of which the cache holds. So the files
// at the call's revision are the files at R. If the mod revision moved,
// the cache is dropped and the call is answered by [DB.ReadFiles] (one
// transaction, as without the cache).
//
// Shared reads of the current key: a read may answer from a read of the
// current key that another read sent, if it was sent after this read
// arrived ([FileCache.ReadFilesArrived]: the adapter server passes the
// time it accepted the call's connection): a linearizable read sent after
// the call arrived reflects every write completed before the call
// started, whoever sent it. One such read is in flight at a time; a read
// takes the newest that completed if it was sent after the read arrived,
// else waits for the one in flight if that was, else sends its own or,
// if one in flight was sent before it arrived, waits for it and shares
// the next. A read never shares one sent before it arrived, a read whose
// context ends while it waits returns its context's error as a lone read
// would, and a shared read that failed makes each read that waited for it
// read alone. Measured (docs/aptos-bridge.md, "Shared reads of the
// current key"): 8-way open_for_read calls through the adapter server's
// fast path sent 1.89-2.35 calls a read of the current key where the
// batches of calls waiting at once sent 1.00-1.02, and the etcd member's
// CPU per call fell from 0.53-0.76 ms to 0.29-0.53 ms.
//
// When it fills: a scan of the whole catalog costs about what a few
// hundred single reads cost the etcd member (40k files), so the cache is
// filled only after FillAfter reads (at least 16, or the last fill's file
// count / 64) were answered without it since it went stale or since the
// start: a one-off read never pays for a scan, a metadata sync pays one
// early in its run, and a catalog written to between every few reads costs
// at most about 1/64 of its reads in scans. A fill runs within the read
// that triggers it, after the read arrived, and that read is answered from
// it.
//
// The bound: the cache holds at most MaxBytes (counting each file's
// handle, header, content and 96 bytes of bookkeeping). A fill that would
// exceed it is abandoned and the cache is off for the life of the
// FileCache: every read is then [DB.ReadFiles]. At 40k mainnet metadata
// files the cache is about 25 MiB (DefaultFileCacheBytes is 256 MiB).
type FileCache struct {
	db       *DB
	maxBytes int64

	fillMu  sync.Mutex // one fill at a time
	mu      sync.Mutex
	files   map[string]cachedFile // nil: no valid cache
	modRev  int64                 // the current key's mod revision at the fill
	raw     []byte                // its value
	cluster uint64
	gen     uint64
	size    int64 // bytes counted against maxBytes
	last    int   // files of the last fill
	misses  int   // reads answered without the cache since it went stale
	off     bool  // a fill went over maxBytes

	// Fills, Hits count for tests.
	fills, hits uint64

	// The reads of the current key ([FileCache.current]).
	gmu    sync.Mutex
	newest *currentRead // the newest that completed without error
	flight *currentRead // the one in flight
	// gets counts the reads of the current key sent, shared the reads
	// answered by one another read sent, waits the times a read waited
	// for one in flight (tests, figures).
	gets, shared, waits uint64
	// gotCurrent, if set, runs when a read of the current key has its
	// answer, before it is shared, and returns its error (tests: to hold
	// one in flight, or fail it).
	gotCurrent func(err error) error
	// fillAfter, if set, replaces the fill threshold (tests).
	fillAfter int
}

type cachedFile struct {
	header  []byte // the record header (the 'f' tag and content size cut)
	content []byte // the content (the 'v' tag cut)
}

// DefaultFileCacheBytes is the adapter server's cache bound.
const DefaultFileCacheBytes = 256 << 20

// fileOverhead is what one cached file costs beyond its bytes: its map
// entry, string and slice headers.
const fileOverhead = 96

// FileCache returns a cache of the catalog's files of at most maxBytes
// (see [FileCache]). It answers for db, which must stay open.
func (db *DB) FileCache(maxBytes int64) *FileCache {
	return &FileCache{db: db, maxBytes: maxBytes}
}

// CachedFileReader is FileCache as a [catalog.FileReader], for a caller
// that names no backend (the adapter server asserts this method).
func (db *DB) CachedFileReader(maxBytes int64) catalog.FileReader { return db.FileCache(maxBytes) }

// ReadFile is [DB.ReadFile] through the cache.
func (c *FileCache) ReadFile(ctx context.Context, handle string) (*catalog.File, uint64, bool, error) {
	fs, gen, err := c.ReadFiles(ctx, []string{handle})
	if err != nil || fs[0] == nil {
		return nil, 0, false, err
	}
	return fs[0], gen, true, nil
}

// ReadFilesMax is [DB.ReadFilesMax].
func (c *FileCache) ReadFilesMax() int { return c.db.ReadFilesMax() }

// ReadFiles is [DB.ReadFiles] through the cache: the current key, then
// the answer from memory if the catalog has not changed since the cache
// was filled, else from etcd. It is ReadFilesArrived of a read that
// arrived when ReadFiles was called.
func (c *FileCache) ReadFiles(ctx context.Context, handles []string) ([]*catalog.File, uint64, error) {
	return c.ReadFilesArrived(ctx, time.Now(), handles)
}

// ReadFilesArrived is ReadFiles of a read that arrived at arrived (a
// monotonic clock reading, taken when the call it serves reached the
// caller, at or before this call): the current key it checks comes from a
// read of it sent after arrived, its own or one it shares (see
// [FileCache], "Shared reads of the current key").
func (c *FileCache) ReadFilesArrived(ctx context.Context, arrived time.Time, handles []string) ([]*catalog.File, uint64, error) {
	db := c.db
	db.mu.Lock()
	writer := db.lock != nil || db.mirror != nil
	db.mu.Unlock()
	c.mu.Lock()
	off := c.off
	c.mu.Unlock()
	if writer || off || len(handles) == 0 {
		// Off for good (over the bound): the current key would tell
		// nothing, ReadFiles reads it in its one transaction.
		return db.ReadFiles(ctx, handles)
	}
	cr, err := c.current(ctx, arrived)
	if err != nil {
		return nil, 0, err
	}
	c.mu.Lock()
	if c.files != nil && cr.modRev == c.modRev && cr.cluster == c.cluster && bytes.Equal(cr.raw, c.raw) {
		fs, gen, err := c.answer(handles)
		c.mu.Unlock()
		return fs, gen, err
	}
	// Stale (or never filled): drop it, it can never be valid again.
	c.files, c.size = nil, 0
	c.misses += len(handles)
	fill := !c.off && c.misses >= c.threshold()
	c.mu.Unlock()
	if fill {
		// A fill that fails (a member gone, a layout this metactl does
		// not read) leaves the answer to ReadFiles, whose errors are
		// those of a read without the cache.
		ok := c.fill(ctx)
		c.mu.Lock()
		// Checked against the current key after the read above (so
		// after the call arrived), or replaced since by a fill that
		// read it later still.
		if ok && c.files != nil {
			fs, gen, err := c.answer(handles)
			c.mu.Unlock()
			return fs, gen, err
		}
		c.mu.Unlock()
	}
	return db.ReadFiles(ctx, handles)
}

// currentRead is one linearizable read of the current key, shared by the
// reads that arrived before it was sent.
type currentRead struct {
	sent    time.Time     // taken before the request was handed to the client
	done    chan struct{} // closed once the fields below are set
	modRev  int64         // 0: no current key
	raw     []byte
	cluster uint64
	err     error
}

// current returns a read of the current key sent after arrived: the
// newest that completed, if it was; else the one in flight, if it was
// (waiting for it); else its own, sent now, or, if another read is in
// flight (sent before this read arrived), the next one, sent by the first
// read to find none in flight once it is done. Only one read of the
// current key is in flight at a time. A shared read that failed is not
// shared: the read then reads alone, as without sharing, and returns its
// own error. A read whose context ends while it waits returns the error a
// lone read would ("read URL: context canceled").
func (c *FileCache) current(ctx context.Context, arrived time.Time) (*currentRead, error) {
	s := c.db.s
	for {
		c.gmu.Lock()
		if l := c.newest; l != nil && l.sent.After(arrived) {
			c.shared++
			c.gmu.Unlock()
			return l, nil
		}
		f := c.flight
		if f == nil {
			f = &currentRead{sent: time.Now(), done: make(chan struct{})}
			c.flight = f
			c.gets++
			c.gmu.Unlock()
			c.get(ctx, f)
			c.gmu.Lock()
			c.flight = nil
			if f.err == nil && (c.newest == nil || f.sent.After(c.newest.sent)) {
				c.newest = f
			}
			c.gmu.Unlock()
			close(f.done)
			return f, f.err
		}
		c.waits++
		c.gmu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, s.etcdErr(ctx, "read "+s.URL(), ctx.Err())
		}
		if !f.sent.After(arrived) {
			continue // sent before this read arrived: the next one
		}
		if f.err != nil {
			// Its sender's context may have ended, or its member
			// gone: read alone, as a lone read would.
			lone := &currentRead{sent: time.Now(), done: make(chan struct{})}
			c.get(ctx, lone)
			close(lone.done)
			return lone, lone.err
		}
		c.gmu.Lock()
		c.shared++
		c.gmu.Unlock()
		return f, nil
	}
}

// get reads the current key into r (a linearizable Get) with ctx.
func (c *FileCache) get(ctx context.Context, r *currentRead) {
	s := c.db.s
	rctx, cancel := s.request(ctx)
	resp, err := s.cli.Get(rctx, s.key(relCurrent))
	cancel()
	if c.gotCurrent != nil {
		err = c.gotCurrent(err)
	}
	if err != nil {
		r.err = s.etcdErr(ctx, "read "+s.URL(), err)
		return
	}
	r.cluster = resp.Header.ClusterId
	if len(resp.Kvs) == 1 {
		r.modRev, r.raw = resp.Kvs[0].ModRevision, resp.Kvs[0].Value
	}
}

// threshold is how many reads without the cache pay for a fill.
func (c *FileCache) threshold() int {
	if c.fillAfter > 0 {
		return c.fillAfter
	}
	return max(16, c.last/64)
}

// answer answers handles from the cache (c.mu held): a handle the cache
// lacks is one ReadFiles would decline.
func (c *FileCache) answer(handles []string) ([]*catalog.File, uint64, error) {
	c.hits++
	files := make([]*catalog.File, len(handles))
	for i, h := range handles {
		cf, ok := c.files[h]
		if !ok {
			continue
		}
		rec := make([]byte, 0, len(cf.header)+len(cf.content))
		f, err := boltstore.DecodeFileRecord(h, append(append(rec, cf.header...), cf.content...), true)
		if err != nil {
			return nil, 0, err
		}
		files[i] = f
	}
	return files, c.gen, nil
}

// fill reads the current key and, if it names a settled generation of
// this layout, every file's header and inline content at its revision.
// Only one fill runs at a time; a read that finds one running waits for
// it (c.mu is not held meanwhile: reads that find the cache valid are
// answered). It reports whether the cache is valid for the current key it
// read; an error (a member gone, a layout this metactl does not read) is
// left to the read without the cache, whose errors are the reader's.
func (c *FileCache) fill(ctx context.Context) bool {
	c.fillMu.Lock()
	defer c.fillMu.Unlock()
	s := c.db.s
	sn, err := s.Current(ctx)
	if err != nil {
		return false
	}
	c.mu.Lock()
	if c.files != nil && sn.CurrentModRev == c.modRev && sn.clusterID == c.cluster && bytes.Equal(sn.raw, c.raw) {
		// Filled by the fill this one waited for, at this generation.
		c.mu.Unlock()
		return true
	}
	c.files, c.size = nil, 0
	c.mu.Unlock()
	cur := sn.Current
	if cur == nil || cur.Format != layoutFormat || cur.Version > layoutVersion || cur.Stage != 0 {
		c.mu.Lock()
		c.misses = 0 // not cacheable now: try again after as many reads
		c.mu.Unlock()
		return false
	}
	files := map[string]cachedFile{}
	var size int64
	over := false
	hp := relKV + boltstore.RawBucketFiles + "/"
	err = s.scan(ctx, s.key(hp), s.key(prefixEnd(hp)), sn.Revision, s.pageCap(hp), func(k string, v []byte) error {
		if len(v) < 9 || v[0] != tagFile {
			return nil // ReadFiles declines it
		}
		h := strings.TrimPrefix(k, s.key(hp))
		size += int64(len(h)+len(v)) + fileOverhead
		if size > c.maxBytes {
			over = true
			return errOverBound
		}
		files[h] = cachedFile{header: v[9:]}
		return nil
	})
	if err == nil {
		cp := relKV + contentBucket + "/"
		err = s.scan(ctx, s.key(cp), s.key(prefixEnd(cp)), sn.Revision, s.pageCap(cp), func(k string, v []byte) error {
			h := strings.TrimPrefix(k, s.key(cp))
			cf, ok := files[h]
			if !ok {
				return nil // no header: a new file's content before its write is published
			}
			if len(v) == 0 || v[0] != tagInline {
				delete(files, h) // chunked: ReadFiles declines it
				return nil
			}
			size += int64(len(v))
			if size > c.maxBytes {
				over = true
				return errOverBound
			}
			cf.content = v[1:]
			files[h] = cf
			return nil
		})
	}
	if over {
		c.mu.Lock()
		c.off = true
		c.mu.Unlock()
		return false
	}
	if err != nil {
		return false
	}
	for h, cf := range files {
		if cf.content == nil {
			delete(files, h) // a header without content: ReadFiles declines it
		}
	}
	c.mu.Lock()
	c.files, c.modRev, c.raw, c.cluster, c.gen = files, sn.CurrentModRev, sn.raw, sn.clusterID, cur.Generation
	c.size, c.last, c.misses = size, len(files), 0
	c.fills++
	c.mu.Unlock()
	return true
}

var errOverBound = errors.New("over the cache bound")

var _ catalog.FileReader = (*FileCache)(nil)
