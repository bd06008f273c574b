package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/metrics"
)

// generation holds what one catalog generation costs to compute, each
// built once on first use and shared.
type generation struct {
	n       uint64
	verify  lazy[*api.Verify]
	archive lazy[*archiveFile]
	listing lazy[*listing]
	facts   lazy[*metrics.Facts]
}

// archiveFile is a generation's archive in the scratch folder.
type archiveFile struct {
	path    string
	gen     uint64
	modTime time.Time
}

// listing is a generation's ls rows, each encoded once as the ls document
// holds it (indented at its depth), for full and paged answers alike.
type listing struct {
	gen    uint64
	rows   []byte // every row, back to back
	ends   []int  // ends[i]: the end of row i in rows
	states []catalog.State
}

func (l *listing) row(i int) []byte {
	start := 0
	if i > 0 {
		start = l.ends[i-1]
	}
	return l.rows[start:l.ends[i]]
}

// generation returns the cache entry of generation n, making it, and
// drops the oldest beyond KeepGenerations (removing their archives).
func (s *Server) generation(n uint64) *generation {
	s.gensMu.Lock()
	defer s.gensMu.Unlock()
	if g := s.gens[n]; g != nil {
		return g
	}
	g := &generation{n: n}
	s.gens[n] = g
	if len(s.gens) > s.opts.KeepGenerations {
		ns := make([]uint64, 0, len(s.gens))
		for k := range s.gens {
			ns = append(ns, k)
		}
		slices.Sort(ns)
		for _, k := range ns[:len(ns)-s.opts.KeepGenerations] {
			old := s.gens[k]
			delete(s.gens, k)
			if a, ok := old.archive.peek(); ok {
				os.Remove(a.path) // open readers keep their descriptor
			}
		}
	}
	return g
}

// held returns the cache entry of generation n if it is still kept.
func (s *Server) held(n uint64) *generation {
	s.gensMu.Lock()
	defer s.gensMu.Unlock()
	return s.gens[n]
}

// buildVerify verifies the catalog (the generation it finds; a write since
// n makes the report name the newer one).
func (s *Server) buildVerify(n uint64) (*api.Verify, error) {
	db, err := s.open(s.ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	v, err := api.VerifyOf(s.ctx, db)
	if err != nil {
		return nil, err
	}
	if cur := s.verified.Load(); cur == nil || cur.Generation <= v.Generation {
		s.verified.Store(v)
		s.m.verifiedAt.Store(s.opts.Now().UnixNano())
	}
	return v, nil
}

// buildArchive writes the catalog's archive into the scratch folder.
func (s *Server) buildArchive(n uint64) (*archiveFile, error) {
	db, err := s.open(s.ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	f, err := os.CreateTemp(s.scratch, "archive-*.mcar")
	if err != nil {
		return nil, err
	}
	h, err := export.WriteArchive(s.ctx, f, db)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("archive: %w", err)
	}
	path := filepath.Join(s.scratch, fmt.Sprintf("gen-%d.mcar", h.Generation))
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	return &archiveFile{path: path, gen: h.Generation, modTime: s.opts.Now()}, nil
}

// buildListing lists every file of the generation the catalog is at.
func (s *Server) buildListing(ctx context.Context, db catalog.DB) (*listing, error) {
	l := &listing{}
	var buf bytes.Buffer
	err := db.View(ctx, func(tx catalog.Tx) error {
		l.gen = tx.Generation()
		return tx.ForEachFile(false, func(f *catalog.File) error {
			buf.Reset()
			if err := encodeRow(&buf, api.LsFileOf(f)); err != nil {
				return err
			}
			l.rows = append(l.rows, buf.Bytes()...)
			l.ends = append(l.ends, len(l.rows))
			l.states = append(l.states, f.State)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ls: %w", err)
	}
	l.rows = slices.Clip(l.rows)
	return l, nil
}

// lazy is a value computed once, by the first caller, and shared: later
// callers wait for it (or their context). A failed computation is not
// kept: the next caller tries again.
type lazy[T any] struct {
	mu  sync.Mutex
	cur *attempt[T]
}

type attempt[T any] struct {
	done chan struct{}
	val  T
	err  error
}

func (l *lazy[T]) get(ctx context.Context, build func() (T, error)) (T, error) {
	l.mu.Lock()
	a := l.cur
	if a == nil {
		a = &attempt[T]{done: make(chan struct{})}
		l.cur = a
		l.mu.Unlock()
		a.val, a.err = build()
		if a.err != nil {
			l.mu.Lock()
			if l.cur == a {
				l.cur = nil
			}
			l.mu.Unlock()
		}
		close(a.done)
		return a.val, a.err
	}
	l.mu.Unlock()
	select {
	case <-a.done:
		return a.val, a.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// peek returns the value if it was computed.
func (l *lazy[T]) peek() (T, bool) {
	l.mu.Lock()
	a := l.cur
	l.mu.Unlock()
	var zero T
	if a == nil {
		return zero, false
	}
	select {
	case <-a.done:
		return a.val, a.err == nil
	default:
		return zero, false
	}
}

// scratchPrefix names a server's scratch folder (package scratch: named
// by the process, so the next run removes what a killed one left).
const scratchPrefix = "metactl-serve-"

// encodeRow writes an ls row as the ls document holds it: indented at the
// depth of a "files" element, without the final newline.
func encodeRow(buf *bytes.Buffer, row api.LsFile) error {
	enc := json.NewEncoder(buf)
	enc.SetIndent("    ", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(row); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1)
	return nil
}
