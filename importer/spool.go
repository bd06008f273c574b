package importer

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/metactl/metactl/aptos"
)

// Spooling: how [Read] bounds the memory of an import into an existing
// catalog without taking the catalog's lock while it reads the source.
//
// Read holds the files it read (content and parsed lines) in memory up to
// spoolBytes. Every further file, once validated, is written to a spool:
// one unlinked temporary file (in Options.SpoolDir), so a crash leaves
// nothing behind. The Batch keeps only the file's bookkeeping (handle,
// digest, identities, line count, its warnings, its count of entry lines)
// and where its bytes are in the spool. Commit reads each spooled file
// back, one at a time, and hands its lines to PutFile a batch of lines at
// a time; a Batch that spooled commits through catalog.BulkUpdater with
// checkpoints, so the catalog's own transaction stays bounded too. The
// source is read once, without the lock (the design's "nobody waits for
// the source"); only the local spool is read under it.

// spoolBytes is how much content and parsed lines (memPerLine a line) a
// Batch holds in memory; the files past it go to the spool. An import
// below it (a drop-in round of a few files) writes no spool file.
var spoolBytes int64 = 32 << 20

// spool is the temporary file holding the content of the files a Batch
// spooled. put and get are safe for concurrent use.
type spool struct {
	f    *os.File
	mu   sync.Mutex
	size int64 // bytes reserved so far
}

// newSpool creates the spool file in dir ("" for the system's temporary
// folder) and unlinks it at once: it lives as long as it is open.
func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, fmt.Sprintf(".metactl-spool-%d-*", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("import: create the spool file for the files read: %w", err)
	}
	_ = os.Remove(f.Name())
	return &spool{f: f}, nil
}

// put appends b, the content of the file shown, and returns its offset.
func (s *spool) put(shown string, b []byte) (int64, error) {
	s.mu.Lock()
	off := s.size
	s.size += int64(len(b))
	s.mu.Unlock()
	if _, err := s.f.WriteAt(b, off); err != nil {
		return 0, fmt.Errorf("import %s: spool: %w", shown, err)
	}
	return off, nil
}

// get reads back n bytes at off, the content of the file shown.
func (s *spool) get(shown string, off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := s.f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("import %s: spooled content: %w", shown, err)
	}
	return b, nil
}

func (s *spool) close() {
	if s != nil {
		s.f.Close()
	}
}

// spooler decides, file by file as the workers of Read validate them,
// which files a Batch holds and which it spools. It is safe for
// concurrent use.
type spooler struct {
	dir  string       // where the spool file goes (Options.SpoolDir)
	held atomic.Int64 // bytes held in memory (content, memPerLine a line)

	mu      sync.Mutex
	sp      *spool
	largest int // the largest file spooled, in bytes
}

// keep holds it in memory while the batch's budget allows, and otherwise
// writes its content to the spool and drops its content and lines. The
// warnings and the entry-line count that need them are computed first.
func (s *spooler) keep(r *run, it *item) error {
	if it == nil || it.known {
		return nil
	}
	size := int64(len(it.Content) + memPerLine*len(it.lines))
	if s.held.Add(size) <= spoolBytes {
		return nil
	}
	s.held.Add(-size)
	sp, err := s.spool(len(it.Content))
	if err != nil {
		return err
	}
	it.warns = fileWarnings([]*item{it}, nil, r.now)
	it.entryLines = 0
	if it.sum != nil {
		// A big file's lines are not kept: counted when validated.
		for k, n := range it.sum.kinds {
			if isEntry(k) {
				it.entryLines += n
			}
		}
	}
	for i := range it.lines {
		if isEntry(it.lines[i].Kind) {
			it.entryLines++
		}
	}
	off, err := sp.put(it.shown, it.Content)
	if err != nil {
		return err
	}
	it.spool, it.off, it.size = sp, off, len(it.Content)
	it.Content, it.lines = nil, nil
	return nil
}

// spool returns the spool file, created on first use, for a file of n
// bytes.
func (s *spooler) spool(n int) (*spool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.largest = max(s.largest, n)
	if s.sp == nil {
		sp, err := newSpool(s.dir)
		if err != nil {
			return nil, err
		}
		s.sp = sp
	}
	return s.sp, nil
}

// isEntry reports whether a line of kind k is a view entry.
func isEntry(k aptos.Kind) bool {
	switch k {
	case aptos.KindTransaction, aptos.KindEpochEnding, aptos.KindStateSnapshot:
		return true
	}
	return false
}

// content returns the file's bytes: held, or read back from the spool.
func (it *item) content() ([]byte, error) {
	if it.spool == nil {
		return it.Content, nil
	}
	return it.spool.get(it.shown, it.off, it.size)
}
