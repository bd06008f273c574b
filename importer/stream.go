package importer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/failpoint"
	"github.com/metactl/metactl/storage"
)

// streamBatch is how many listed files a first import reads, validates
// and writes at a time, at most (streamBytes bounds a batch's memory);
// at most three batches are in memory at once.
const streamBatch = 256

// NewCatalog imports a storage into a new catalog at path (a file path):
// a first import, streamed. It reads, validates and writes the files in
// batches into a catalog built on a scratch file ([catalog.Create]), so
// it never holds the whole source, and publishes the catalog only if
// nothing at all is wrong: bad input gives an *InputError listing every
// problem (up to Options.MaxProblems) and, like any failure, leaves no
// catalog and no lock file. The catalog it makes holds exactly what
// [FromStorage] into a new catalog would leave, and the Result is the same.
//
// It returns an error wrapping [catalog.ErrExist], having written nothing,
// if a catalog exists at path or one appears before the lock is taken:
// use FromStorage then. The catalog's lock is held while the source is
// read (there is no catalog to read meanwhile; a second writer waits).
func NewCatalog(ctx context.Context, path string, catOpts *catalog.Options, src storage.Source, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	r := newRun(opts)
	listing, err := src.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	r.movedListed = listing.MovedListed
	if st, ok := src.(storage.Statter); ok {
		r.statFn = st.StatFile
	}
	r.opts.Known = nil // a new catalog knows nothing
	reads := r.listReads(listing)
	// Handle order, live before moved: the files bucket is written in key
	// order, and a name in both folders is merged within one batch.
	slices.SortStableFunc(reads, func(a, b toRead) int {
		return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.state, b.state))
	})
	s := &streamer{r: r, read: src.ReadFile, reads: reads}
	if rs, ok := src.(storage.ReaderSource); ok {
		rd, err := rs.OpenReader()
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		defer rd.Close()
		s.read = rd.ReadFile
		r.useReadStat(rd)
	}
	op, err := catalog.Create(ctx, path, catOpts, catalog.KindImport, func(tx catalog.BulkWriteTx) error { return s.run(ctx, tx) })
	if err != nil {
		var ie *InputError
		switch {
		case errors.As(err, &ie), errors.Is(err, catalog.ErrExist):
			return nil, err
		case ctx.Err() != nil && errors.Is(err, ctx.Err()):
			return nil, fmt.Errorf("import: %w", ctx.Err())
		}
		return nil, wrapImport(err)
	}
	r.prog.report(PhaseCommit, 1, 1)
	res := &Result{Files: s.files, Lines: s.lines, Entries: s.entries, Duplicates: s.liveEntryLines - s.entries, Added: s.added}
	res.Skipped = make([]string, 0, len(r.skipped))
	for _, st := range r.skipped {
		res.Skipped = append(res.Skipped, st.handle)
	}
	slices.Sort(res.Skipped)
	res.Warnings = append(fileWarnings(nil, r.skipped, opts.now()), s.warnings...)
	sortWarnings(res.Warnings)
	res.Generation, res.Changed = op.Generation, op.Changed()
	res.DigestBefore, res.DigestAfter = op.DigestBefore, op.DigestAfter
	return res, nil
}

// streamer is one streamed first import.
type streamer struct {
	r     *run
	read  readFunc
	reads []toRead

	files, lines, added, entries int
	liveEntryLines               int    // entry lines of the live files
	txns, epochs                 []span // their ranges, for the gap warnings
	warnings                     []Warning
}

// outcome is one listed file after reading and validation.
type outcome struct {
	checked
	rd      toRead
	problem error // a Problem reason or a *strayError (from the read)
	read    bool  // readBatch read it
}

// run reads the source in batches, on other goroutines one batch ahead,
// and writes each batch into tx on the calling goroutine.
func (s *streamer) run(ctx context.Context, tx catalog.BulkWriteTx) error {
	type batch struct {
		out []outcome
		err error
	}
	batches := make(chan batch, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		for range batches { // the reader stops at its next batch
		}
	}()
	go func() {
		defer close(batches)
		for start := 0; start < len(s.reads); {
			end := min(start+streamBatch, len(s.reads))
			for end < len(s.reads) && s.reads[end].name == s.reads[end-1].name {
				end++ // both folders' copies of a name in one batch
			}
			out, err := s.readBatch(ctx, s.reads[start:end])
			end = start + len(out)
			select {
			case batches <- batch{out, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			start = end
		}
	}()

	r := s.r
	if h, ok := tx.(catalog.FileCountHinter); ok {
		h.ExpectFiles(len(s.reads)) // a new catalog: each file read is put
	}
	tx.SetInputs(r.opts.Source)
	done := 0
	r.prog.report(PhaseRead, 0, len(s.reads))
	for b := range batches {
		if b.err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			return b.err
		}
		if err := s.write(tx, b.out); err != nil {
			return err
		}
		done += len(b.out)
		r.prog.report(PhaseRead, done, len(s.reads))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	failpoint.Hit("import.after-read")
	failpoint.Hit("import.after-validate")
	if !r.probs.empty() {
		return r.probs.err()
	}
	failpoint.Hit("import.after-put")
	r.prog.report(PhaseCommit, 0, 1)
	if s.added > 0 {
		// Nothing was covered before: every hole the import leaves is
		// new, as gapWarnings would find against an empty view.
		s.warnings = append(s.warnings, spanGapWarnings(nil, nil, s.txns, s.epochs)...)
	}
	tx.SetNote(journalNote(s.added, 0, 0, 0, 0))
	s.entries = tx.EntryCount()
	return nil
}

// readBatch reads one batch, Options.Concurrency at a time, each file
// validated by the goroutine that read it. Once the batch holds
// streamBytes (content, and the lines kept parsed), no further file is
// started: it returns the outcomes of the files it read, a prefix of
// reads (a name's two copies kept together).
func (s *streamer) readBatch(ctx context.Context, reads []toRead) ([]outcome, error) {
	r := s.r
	out := make([]outcome, len(reads))
	var size atomic.Int64
	one := func(ctx context.Context, i int) error {
		out[i].rd = reads[i]
		c, problem, err := r.readOne(ctx, s.read, reads[i])
		out[i].checked, out[i].problem = c, problem
		if it := c.it; it != nil {
			size.Add(int64(len(it.Content) + memPerLine*len(it.lines)))
		}
		return err
	}
	err := forEach(ctx, len(reads), r.opts.Concurrency, func(ctx context.Context, i int) error {
		if size.Load() >= streamBytes {
			// Past the budget. A file a slower worker took earlier may
			// skip while a later one was read: the prefix before the
			// first skip is kept, the rest read again in the next batch.
			return nil
		}
		out[i].read = true
		return one(ctx, i)
	}, func(int) {})
	if err != nil {
		return nil, err
	}
	n := 0
	for n < len(out) && out[n].read {
		n++
	}
	if n > 0 && n < len(reads) && reads[n].name == reads[n-1].name {
		if err := one(ctx, n); err != nil {
			return nil, err
		}
		n++
	}
	return out[:n], nil
}

// streamBytes bounds the memory of one batch of a streamed import: the
// content read plus the lines kept parsed (memPerLine each). At most three
// batches are in memory at once (one written, one waiting, one read).
const streamBytes = 16 << 20

// memPerLine is about what a parsed line costs in memory (aptos.Metadata
// and its strings).
const memPerLine = 200

// write takes one batch's outcomes in order, as Read and Prepare would,
// and, while no problem has been found, writes its files into tx.
func (s *streamer) write(tx catalog.BulkWriteTx, out []outcome) error {
	r := s.r
	items := make([]*item, 0, len(out))
	for _, o := range out {
		var stray *strayError
		switch {
		case errors.As(o.problem, &stray):
			r.stray(o.rd.handle, stray)
		case o.problem != nil:
			r.probs.add(Problem{Handle: o.rd.handle, Err: o.problem})
		default:
			for _, p := range o.probs {
				r.probs.add(p)
			}
			r.probs.more += o.bad - len(o.probs)
			items = append(items, o.it)
			s.files++
			s.lines += o.it.lineCount
		}
	}
	s.warnings = append(s.warnings, fileWarnings(items, nil, r.opts.now())...)
	items = r.merge(items)
	r.checkIdentities(items)
	if !r.probs.empty() {
		return nil // keep reading, to report every problem; write nothing
	}
	big := false
	for _, it := range items {
		var spans func([]aptos.Metadata)
		if it.State == catalog.Live {
			spans = s.noteSpans
			if it.sum == nil {
				s.noteSpans(it.lines)
			} else {
				// Grown once to size: doubling a million ranges held
				// the old and the new array at once (48 MB at 1M).
				s.txns = slices.Grow(s.txns, it.sum.kinds[aptos.KindTransaction])
				s.epochs = slices.Grow(s.epochs, it.sum.kinds[aptos.KindEpochEnding])
			}
		}
		// A big file is parsed again as it is written, a batch of
		// lines at a time (its spans noted from the same batches).
		if _, err := tx.PutFile(catalog.NewFile{Handle: it.Handle, Content: it.Content, State: it.State,
			Source: it.Source, Lines: it.lines, LineBatches: it.lineBatches(it.Content, spans), SHA256: it.sha}); err != nil {
			return fmt.Errorf("import %s: %w", it.shown, err)
		}
		s.added++
		// The catalog holds the record now (bbolt, until the commit):
		// the read bytes and parsed lines can go before the checkpoint.
		if it.sum != nil {
			big = true
		}
		it.Content, it.lines = nil, nil
	}
	if big {
		// The checkpoint's commit allocates the pages of a big record
		// at once: the read bytes it was copied from should be free by
		// then, not left to a collection the heap's growth would start
		// too late (GOGC=200, see workflow.streamGC).
		runtime.GC()
	}
	return tx.Checkpoint()
}

// noteSpans notes the ranges of live entry lines, for the gap warnings
// and the duplicate count.
func (s *streamer) noteSpans(lines []aptos.Metadata) {
	for i := range lines {
		m := &lines[i]
		switch m.Kind {
		case aptos.KindTransaction:
			s.txns = append(s.txns, span{m.Transaction.FirstVersion, m.Transaction.LastVersion})
		case aptos.KindEpochEnding:
			s.epochs = append(s.epochs, span{m.EpochEnding.FirstEpoch, m.EpochEnding.LastEpoch})
		case aptos.KindStateSnapshot:
		default:
			continue
		}
		s.liveEntryLines++
	}
}
