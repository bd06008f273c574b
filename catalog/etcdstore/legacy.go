package etcdstore

// The layout before version 2: every generation was a whole bbolt file cut
// into gzip chunks under gen/<slot>/, with a manifest, and the journal under
// journal/<lineage>/<generation>. Such a catalog is still read (by copying
// the file out) and is converted to the current layout by the first write
// or by 'metactl copy'.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/metactl/metactl/catalog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Manifest describes one published generation; it is stored beside the
// generation's chunks and is small, so questions about the catalog as a
// whole (status, counts, digest) are answered from it alone.
type Manifest struct {
	Format     string          `json:"format"`
	Version    int             `json:"version"`
	Generation uint64          `json:"generation"`
	Slot       uint64          `json:"slot"`
	Lineage    uint64          `json:"lineage"`
	Published  time.Time       `json:"published"`
	Publisher  *catalog.Holder `json:"publisher,omitempty"`
	Size       int64           `json:"size"`
	SHA256     string          `json:"sha256"`
	ChunkSize  int             `json:"chunk_size"`
	Chunks     int             `json:"chunks"`
	Encoding   string          `json:"encoding"`
	Summary    Summary         `json:"summary"`
}

const (
	manifestFormat  = "metactl-etcd-generation"
	manifestVersion = 1
	encodingGzip    = "gzip"
)

// legacySnapshot is a catalog of layout version 1 at one revision.
type legacySnapshot struct {
	Revision int64
	Manifest *Manifest
}

// legacyCurrentRecord is the value of <prefix>/current in layout version 1.
type legacyCurrentRecord struct {
	Generation uint64    `json:"generation"`
	Slot       uint64    `json:"slot"`
	Lineage    uint64    `json:"lineage"`
	Published  time.Time `json:"published"`
}

func (s *Store) legacyChunkKey(slot uint64, i int) string {
	return fmt.Sprintf("%s%020d/chunk/%08d", s.key(relLegacyGen), slot, i)
}

// legacyCurrent reads the manifest a version-1 current key names.
func (s *Store) legacyCurrent(ctx context.Context, raw []byte, rev int64) (*legacySnapshot, error) {
	var cur legacyCurrentRecord
	if err := json.Unmarshal(raw, &cur); err != nil {
		return nil, fmt.Errorf("read %s: current key: %w: %v", s.URL(), catalog.ErrCorrupt, err)
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.cli.Get(rctx, fmt.Sprintf("%s%020d/manifest", s.key(relLegacyGen), cur.Slot), clientv3.WithRev(rev))
	if err != nil {
		return nil, s.readErr(ctx, err)
	}
	var m Manifest
	if len(resp.Kvs) == 0 || json.Unmarshal(resp.Kvs[0].Value, &m) != nil || m.Generation != cur.Generation {
		return nil, fmt.Errorf("read %s: generation %d (slot %d) has no manifest: %w", s.URL(), cur.Generation, cur.Slot, catalog.ErrCorrupt)
	}
	if m.Format != manifestFormat || m.Version > manifestVersion {
		return nil, fmt.Errorf("read %s: slot %d: format %q version %d is not one this metactl reads (upgrade metactl): %w",
			s.URL(), cur.Slot, m.Format, m.Version, catalog.ErrSchema)
	}
	return &legacySnapshot{Revision: rev, Manifest: &m}, nil
}

// legacyLocal copies a version-1 catalog's file into a local copy.
func (s *Store) legacyLocal(ctx context.Context, sn *Snapshot) (*localCopy, error) {
	dir, err := os.MkdirTemp(s.opts.TempDir, "metactl-etcd-v1-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "catalog.db")
	if err := s.download(ctx, sn.Legacy, path); err != nil {
		return nil, err
	}
	c, err := s.newLocal(ctx, path)
	if err != nil {
		return nil, err
	}
	c.modRev = sn.CurrentModRev
	return c, nil
}

// convert rewrites a version-1 catalog in the current layout, once, under
// the writer lock: every key of its file is published (staged, as a large
// write) with one compare-and-swap of the current key, then the old keys
// are deleted. It returns the converted catalog's snapshot.
func (db *DB) convert(ctx context.Context, base *Snapshot) (*Snapshot, error) {
	s := db.s
	c, err := s.legacyLocal(ctx, base)
	if err != nil {
		return nil, err
	}
	if err := s.publishAll(ctx, db.lock, base, c); err != nil {
		c.close()
		return nil, fmt.Errorf("convert %s to layout version %d: %w", s.URL(), layoutVersion, err)
	}
	db.mirror.close()
	db.mirror = c
	if err := s.txn(ctx, db.lock, "convert "+s.URL(), nil, []op{
		{rel: relLegacyGen, end: prefixEnd(relLegacyGen)},
		{rel: relLegacyJournal, end: prefixEnd(relLegacyJournal)},
	}); err != nil {
		return nil, err
	}
	return s.Current(ctx)
}

// Download writes the snapshot's bbolt file to path, reading every chunk
// at the snapshot's revision, and checks its size and SHA-256.
func (s *Store) download(ctx context.Context, sn *legacySnapshot, path string) error {
	m := sn.Manifest
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	err = s.parallel(ctx, m.Chunks, func(ctx context.Context, i int) error {
		rctx, cancel := s.request(ctx)
		defer cancel()
		resp, err := s.cli.Get(rctx, s.legacyChunkKey(m.Slot, i), clientv3.WithRev(sn.Revision))
		if err != nil {
			return s.readErr(ctx, err)
		}
		if len(resp.Kvs) == 0 {
			return fmt.Errorf("read %s: generation %d: chunk %d is missing: %w", s.URL(), m.Generation, i, catalog.ErrCorrupt)
		}
		b, err := decodeChunk(m.Encoding, resp.Kvs[0].Value)
		if err != nil {
			return fmt.Errorf("read %s: generation %d: chunk %d: %w: %v", s.URL(), m.Generation, i, catalog.ErrCorrupt, err)
		}
		want := min(int64(m.ChunkSize), m.Size-int64(i)*int64(m.ChunkSize))
		if int64(len(b)) != want {
			return fmt.Errorf("read %s: generation %d: chunk %d holds %d bytes, want %d: %w", s.URL(), m.Generation, i, len(b), want, catalog.ErrCorrupt)
		}
		_, err = f.WriteAt(b, int64(i)*int64(m.ChunkSize))
		return err
	})
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if n != m.Size || hex.EncodeToString(h.Sum(nil)) != m.SHA256 {
		return fmt.Errorf("read %s: generation %d: the reassembled catalog does not match its manifest (size %d, want %d): %w",
			s.URL(), m.Generation, n, m.Size, catalog.ErrCorrupt)
	}
	return nil
}

func decodeChunk(encoding string, v []byte) ([]byte, error) {
	switch encoding {
	case encodingGzip:
		zr, err := gzip.NewReader(bytes.NewReader(v))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case "raw":
		return v, nil
	}
	return nil, fmt.Errorf("unknown chunk encoding %q", encoding)
}

// parallel runs fn for 0..n-1 on a few goroutines and returns the first
// error; the rest are cancelled.
func (s *Store) parallel(ctx context.Context, n int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(4, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}
