package etcdstore

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
)

// Loading the files' content. A file's header says how long its content
// is, so a load that has read a run of headers knows the content keys it
// needs and their sizes: it reads them in exact ranges, from one file's
// content key to the next's, of at most contentBatchBytes and
// scanMaxKeys keys, contentFetchers at a time. An exact range costs etcd
// a visit of its own keys only (a page of an open range visits every key
// to the range's end: see scanFirstKeys), and its size is known before it
// is asked for.
const (
	contentBatchBytes = 4 << 20
	contentFetchers   = 4
)

// contentRunBytes is the content queued headers stand for before it is
// read (a variable for tests).
var contentRunBytes = 64 << 20

// contentPlan collects the headers load reads, and adds each file, header
// and content, once a run of them has its content.
type contentPlan struct {
	s     *Store
	sn    *Snapshot
	files []pendingFile
	bytes int
}

type pendingFile struct {
	handle string
	header []byte // the header value without its tag and size
	stored int    // the size of the content key's value
	value  []byte // the content key's value, once read
}

// add queues the file handle, whose header key holds v, and adds the
// queued files once they hold contentRunBytes.
func (p *contentPlan) add(ctx context.Context, handle string, v []byte, put func(boltstore.RawKV) error) error {
	// The content key holds the content inline up to the value size of
	// the writer that put it, which may have been larger than this one's
	// (at most maxValueSize), or a chunk header (its chunks are read
	// alone): plan for the larger.
	stored := 1 + int(min(binary.BigEndian.Uint64(v[1:9]), maxValueSize))
	p.files = append(p.files, pendingFile{handle: handle, header: append([]byte(nil), v[9:]...), stored: stored})
	p.bytes += stored + len(handle)
	if p.bytes >= contentRunBytes {
		return p.flush(ctx, put)
	}
	return nil
}

// flush reads the content of the queued files and adds them.
func (p *contentPlan) flush(ctx context.Context, put func(boltstore.RawKV) error) error {
	files := p.files
	p.files, p.bytes = nil, 0
	if len(files) == 0 {
		return nil
	}
	// Batches: runs of consecutive files.
	var batches [][]pendingFile
	start, size := 0, 0
	for i, f := range files {
		if i > start && (size+f.stored > contentBatchBytes || i-start >= scanMaxKeys) {
			batches = append(batches, files[start:i])
			start, size = i, 0
		}
		size += f.stored + len(f.handle) + 64
	}
	batches = append(batches, files[start:])
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(contentFetchers)
	for _, b := range batches {
		g.Go(func() error { return p.fetch(gctx, b) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, f := range files {
		if f.value == nil {
			return fmt.Errorf("read %s: file %q has no content key: %w", p.s.URL(), f.handle, catalog.ErrCorrupt)
		}
		c, err := p.s.decodeValue(ctx, p.sn, contentBucket, []byte(f.handle), f.value)
		if err != nil {
			return err
		}
		if err := put(boltstore.RawKV{Bucket: boltstore.RawBucketFiles, Key: []byte(f.handle), Value: append(f.header, c...)}); err != nil {
			return err
		}
	}
	return nil
}

// fetch reads the content keys of the files b, from the first one's to
// the last one's, and sets their values. Keys of no file in between (a
// writer's leftovers) are skipped.
func (p *contentPlan) fetch(ctx context.Context, b []pendingFile) error {
	s := p.s
	cp := s.key(relKV + contentBucket + "/")
	from, end := cp+b[0].handle, cp+b[len(b)-1].handle+"\x00"
	i := 0
	for {
		rctx, cancel := s.request(ctx)
		resp, err := s.cli.Get(rctx, from, clientv3.WithRange(end), clientv3.WithRev(p.sn.Revision), clientv3.WithLimit(int64(len(b)-i+16)))
		cancel()
		if err != nil {
			return s.readErr(ctx, err)
		}
		for _, kv := range resp.Kvs {
			h := string(kv.Key[len(cp):])
			for i < len(b) && b[i].handle < h {
				i++
			}
			if i < len(b) && b[i].handle == h {
				b[i].value = kv.Value
				i++
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
