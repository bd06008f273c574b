package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// scratch makes a private folder for a scratch catalog.
func (s *Store) scratch() (string, func(), error) {
	dir, err := os.MkdirTemp(s.opts.TempDir, "metactl-etcd-")
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, "catalog.db"), func() { os.RemoveAll(dir) }, nil
}

func (s *Store) scratchOptions(readOnly bool) *catalog.Options {
	return &catalog.Options{ReadOnly: readOnly, NoSync: true, Command: s.opts.Command, Now: s.opts.Now, Timeout: -1}
}

// Update runs fn as one write transaction on the etcd catalog, with the
// semantics of catalog.DB.Update (it runs exactly that, on a scratch copy
// of the current generation): take the writer lock, collect garbage,
// download generation G into a scratch bbolt file, run fn there, and if it
// changed something upload the file as generation G+1 and publish it with
// one compare-and-swap, together with its journal record. If the catalog
// does not exist yet it is created (generation 0, or 1 if fn changed
// something), as a writable catalog.Open creates a file.
func (s *Store) Update(ctx context.Context, kind string, fn func(*catalog.Tx) error) (*catalog.Operation, error) {
	l, err := s.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	base, err := s.Current(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.collect(ctx, l, base); err != nil {
		return nil, err
	}
	path, done, err := s.scratch()
	if err != nil {
		return nil, err
	}
	defer done()
	if base.Manifest != nil {
		if err := s.Download(ctx, base, path); err != nil {
			return nil, err
		}
	}
	db, err := catalog.Open(ctx, path, s.scratchOptions(false))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	op, err := db.Update(ctx, kind, fn)
	if err != nil {
		return nil, err
	}
	if !op.Changed() && base.Manifest != nil {
		return op, nil
	}
	var extra []clientv3.Op
	if op.Changed() {
		rec, err := json.Marshal(op)
		if err != nil {
			return nil, err
		}
		extra = append(extra, clientv3.OpPut(s.keyJournal(op.Generation), string(rec)))
	}
	if err := s.publishFile(ctx, l, base, db, path, extra...); err != nil {
		return nil, err
	}
	return op, nil
}

// publishFile closes db, uploads its file as the next generation and
// publishes it.
func (s *Store) publishFile(ctx context.Context, l *Lock, base *Snapshot, db *catalog.DB, path string, extra ...clientv3.Op) error {
	sum, gen, err := summarize(db)
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if base.Manifest != nil && gen != base.Generation()+1 {
		return fmt.Errorf("publish %s: built generation %d on generation %d: %w", s.URL(), gen, base.Generation(), catalog.ErrCorrupt)
	}
	m, err := s.upload(ctx, gen, path)
	if err != nil {
		return err
	}
	m.Summary = sum
	m.Published = s.opts.Now().UTC()
	host, _ := os.Hostname()
	m.Publisher = &catalog.Holder{PID: os.Getpid(), Command: s.opts.Command, Host: host}
	return s.publish(ctx, l, base, m, extra...)
}

// summarize computes the small answers about a catalog.
func summarize(db *catalog.DB) (Summary, uint64, error) {
	var sum Summary
	var gen uint64
	err := db.View(func(tx *catalog.Tx) error {
		var err error
		gen = tx.Generation()
		if sum.State, err = tx.StorageState(); err != nil {
			return err
		}
		sum.ViewDigest, sum.Entries = tx.ViewDigest(), tx.EntryCount()
		if id, ok := tx.Identity(); ok {
			sum.Identity = id.String()
		}
		if sum.LiveFiles, sum.MovedFiles, err = tx.CountFiles(); err != nil {
			return err
		}
		ts, h, err := tx.LatestTimestamps()
		if err != nil {
			return err
		}
		if ts != nil {
			sum.Timestamps = string(aptos.AppendLine(nil, &aptos.Metadata{Kind: aptos.KindCompactionTimestamps, Timestamps: *ts}))
			sum.TimestampsHandle = h
		}
		return nil
	})
	return sum, gen, err
}

// Snapshot is a read view of one whole generation. Open it with
// Store.OpenSnapshot (cheap: the manifest only); DB downloads the
// generation on first use.
type Reader struct {
	s     *Store
	Snap  *Snapshot
	db    *catalog.DB
	close func()
}

// OpenReader reads the current generation's manifest. It returns an error
// wrapping catalog.ErrNoCatalog if the catalog does not exist.
func (s *Store) OpenReader(ctx context.Context) (*Reader, error) {
	sn, err := s.Current(ctx)
	if err != nil {
		return nil, err
	}
	if sn.Manifest == nil {
		return nil, fmt.Errorf("open catalog %s: %w (create it with 'metactl import')", s.URL(), catalog.ErrNoCatalog)
	}
	return &Reader{s: s, Snap: sn}, nil
}

// Summary returns the small answers without downloading the generation.
func (r *Reader) Summary() *Summary { return &r.Snap.Manifest.Summary }

// DB returns a read-only catalog holding the whole generation, downloading
// it at the snapshot's revision the first time. If etcd compacted that
// revision away meanwhile, it starts over from the then current
// generation (the Snapshot changes; a caller that mixes Summary and DB
// reads must call DB first).
func (r *Reader) DB(ctx context.Context) (*catalog.DB, error) {
	if r.db != nil {
		return r.db, nil
	}
	path, done, err := r.s.scratch()
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		err = r.s.Download(ctx, r.Snap, path)
		if !errors.Is(err, errCompacted) || attempt == 3 {
			break
		}
		sn, cerr := r.s.Current(ctx)
		if cerr != nil {
			err = cerr
			break
		}
		r.Snap = sn
	}
	if err != nil {
		done()
		return nil, err
	}
	db, err := catalog.Open(ctx, path, r.s.scratchOptions(true))
	if err != nil {
		done()
		return nil, err
	}
	r.db, r.close = db, done
	return db, nil
}

// Journal calls fn for the journal records up to this generation, newest
// first, without downloading the generation.
func (r *Reader) Journal(ctx context.Context, fn func(*catalog.Operation) bool) error {
	return r.s.Journal(ctx, r.Snap, fn)
}

// Close removes the scratch copy.
func (r *Reader) Close() error {
	if r.db != nil {
		r.db.Close()
		r.close()
		r.db = nil
	}
	return nil
}
