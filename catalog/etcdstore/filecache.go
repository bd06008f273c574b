package etcdstore

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"

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
// linearizable read, so it reflects every write committed before the call.
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
// was filled, else from etcd.
func (c *FileCache) ReadFiles(ctx context.Context, handles []string) ([]*catalog.File, uint64, error) {
	db := c.db
	db.mu.Lock()
	writer := db.lock != nil || db.mirror != nil
	db.mu.Unlock()
	if writer || len(handles) == 0 {
		return db.ReadFiles(ctx, handles)
	}
	s := db.s
	rctx, cancel := s.request(ctx)
	resp, err := s.cli.Get(rctx, s.key(relCurrent))
	cancel()
	if err != nil {
		return nil, 0, s.etcdErr(ctx, "read "+s.URL(), err)
	}
	var modRev int64
	var raw []byte
	if len(resp.Kvs) == 1 {
		modRev, raw = resp.Kvs[0].ModRevision, resp.Kvs[0].Value
	}
	c.mu.Lock()
	if c.files != nil && modRev == c.modRev && resp.Header.ClusterId == c.cluster && bytes.Equal(raw, c.raw) {
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
		// Checked against the current key after the Get above (so after
		// the call arrived), or replaced since by a fill that read it
		// later still.
		if ok && c.files != nil {
			fs, gen, err := c.answer(handles)
			c.mu.Unlock()
			return fs, gen, err
		}
		c.mu.Unlock()
	}
	return db.ReadFiles(ctx, handles)
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
