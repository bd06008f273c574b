package compaction

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/failpoint"
)

// Failpoints hit inside the compaction transaction, in order. A kill at
// any of them (or at "compact.before-commit") leaves the catalog as it was
// before the run: the bbolt transaction never commits.
const (
	FailpointAfterPlan       = "compact.after-plan"
	FailpointAfterWrite      = "compact.after-write"
	FailpointAfterMove       = "compact.after-move"
	FailpointAfterTimestamps = "compact.after-timestamps"
)

// Run compacts the catalog in one write transaction: it writes the
// compacted files, moves the expired files and writes the new timestamps
// file, or, on any error, changes nothing. The view must come out
// unchanged (Tx.PreserveView); if it would not, the transaction is rolled
// back and the error is a *catalog.LostEntriesError.
//
// It returns the plan it carried out (with Exists and Result filled in)
// and the journal's Operation. If nothing changed (a repeat run in the same
// second), the Operation has Changed() == false and the catalog file is
// untouched. Errors: ErrFactor (before the catalog is touched), a
// *ContinuityError or another error wrapping [aptos.ErrInvalid] (nothing
// changed), ctx's error, or a catalog error.
func Run(ctx context.Context, db catalog.DB, opts Options) (*Plan, *catalog.Operation, error) {
	err := opts.Validate()
	if err != nil {
		return nil, nil, err
	}
	var plan *Plan
	body := func(tx catalog.WriteTx) error {
		tx.PreserveView()
		tx.SetInputs(opts.inputs()...)
		p, err := planTx(tx, opts, false)
		if err != nil {
			return err
		}
		failpoint.Hit(FailpointAfterPlan)
		if err := apply(ctx, tx, p); err != nil {
			return err
		}
		tx.SetNote(p.Summary())
		plan = p
		return nil
	}
	var op *catalog.Operation
	bu, ok := db.(catalog.BulkUpdater)
	if ok {
		ok, err = large(ctx, db, opts)
		if err != nil {
			return nil, nil, err
		}
	}
	if ok {
		op, err = bu.UpdateBulk(ctx, catalog.KindCompact, func(tx catalog.BulkWriteTx) error { return body(tx) })
	} else {
		op, err = db.Update(ctx, catalog.KindCompact, body)
	}
	if err != nil {
		return nil, nil, err
	}
	plan.strip()
	return plan, op, nil
}

// DefaultBulkEntries is the view size from which Run writes on a scratch
// copy of the catalog with checkpoints ([catalog.BulkUpdater]) when
// Options.BulkEntries is zero.
const DefaultBulkEntries = 200_000

// large reports whether a run over db's view is large enough to be made
// with [catalog.BulkUpdater] (Options.BulkEntries).
func large(ctx context.Context, db catalog.DB, opts Options) (bool, error) {
	limit := opts.BulkEntries
	switch {
	case limit < 0:
		return false, nil
	case limit == 0:
		limit = DefaultBulkEntries
	}
	var n int
	err := db.View(ctx, func(tx catalog.Tx) error { n = tx.EntryCount(); return nil })
	return n >= limit, err
}

// checkpoint lets a bulk transaction commit what it wrote so far to its
// scratch file (a no-op in any other transaction).
func checkpoint(tx catalog.WriteTx) error {
	if b, ok := tx.(catalog.BulkWriteTx); ok {
		return b.Checkpoint()
	}
	return nil
}

// DryRun computes the plan Run would carry out now, in a read-only
// transaction, with Exists and Result predicted from the catalog's
// content. It writes nothing.
func DryRun(ctx context.Context, db catalog.DB, opts Options) (*Plan, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var plan *Plan
	err := db.View(ctx, func(tx catalog.Tx) error {
		p, err := planTx(tx, opts, true)
		if err != nil {
			return err
		}
		if err := predict(tx, p); err != nil {
			return err
		}
		plan = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	plan.strip()
	return plan, nil
}

// planTx gathers Compute's inputs from tx: the view, the live handles, the
// latest timestamps entry (the one Tx.View already read, the same value
// Tx.LatestTimestamps returns) and one clock reading. With content false
// the plan's files have no Content (apply builds it).
func planTx(tx catalog.Tx, opts Options, content bool) (*Plan, error) {
	v, err := tx.View()
	if err != nil {
		return nil, err
	}
	// Sized from the kept counts: grown by doubling, the list was 8% of
	// the allocations of a 40k-file compaction.
	nlive, _, err := tx.CountFiles()
	if err != nil {
		return nil, err
	}
	live := make([]string, 0, nlive)
	if hl, ok := tx.(catalog.HandleLister); ok {
		err = hl.ForEachHandle(catalog.Live, func(h string) error { live = append(live, h); return nil })
	} else {
		err = tx.ForEachFile(false, func(f *catalog.File) error {
			if f.State == catalog.Live {
				live = append(live, f.Handle)
			}
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	secs := tx.Now().Unix()
	if secs < 0 {
		return nil, fmt.Errorf("clock reads %s, before 1970", tx.Now())
	}
	return compute(v, live, v.Timestamps, uint64(secs), opts, content)
}

// apply carries out p inside tx, in Aptos's order: compacted files, moves,
// timestamps file. It trusts p; the view digest check in [catalog.DB.Update] is
// what catches a plan that would lose an entry.
func apply(ctx context.Context, tx catalog.WriteTx, p *Plan) error {
	var buf []aptos.Metadata // one file's lines at a time, rebuilt from the view
	var cbuf []byte          // one file's content at a time, when the plan has none
	for i := range p.Write {
		w := &p.Write[i]
		lines := p.parsed(w, buf)
		if w.lines == nil {
			buf = lines // reuse its storage for the next file (PutFile keeps no reference)
		}
		content := w.Content
		if content == nil {
			cbuf = cbuf[:0]
			for j := range lines {
				cbuf = append(aptos.AppendLine(cbuf, &lines[j]), '\n')
			}
			content = cbuf // reused likewise
		}
		r, err := tx.PutFile(catalog.NewFile{Handle: w.Handle, Content: content, State: catalog.Live,
			Source: Source, Lines: lines, Replace: true})
		if err != nil {
			return fmt.Errorf("write %q: %w", w.Handle, err)
		}
		w.Result, w.Exists = r, r == catalog.Unchanged
		if err := checkpoint(tx); err != nil {
			return err
		}
		if i%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	p.view = nil // every file is indexed: let the collector have the view before the commit
	failpoint.Hit(FailpointAfterWrite)
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, h := range p.Move {
		if err := tx.SetState(h, catalog.Moved); err != nil {
			return fmt.Errorf("move %q: %w", h, err)
		}
		if err := checkpoint(tx); err != nil {
			return err
		}
		if i%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	failpoint.Hit(FailpointAfterMove)
	if p.TimestampsFile == "" {
		return nil // nothing to compact or timestamp
	}
	var lines []aptos.Metadata
	if p.stamps.Kind == aptos.KindCompactionTimestamps {
		lines = []aptos.Metadata{p.stamps}
	}
	// TimestampsLine is lines[0] encoded (compute): the catalog copies
	// the line it stores from it (NewFile.Encoded) instead of encoding the
	// map of a key per file again.
	r, err := tx.PutFile(catalog.NewFile{Handle: p.TimestampsFile, Content: p.TimestampsLine, State: catalog.Live,
		Source: Source, Lines: lines, Encoded: lines != nil, Replace: true})
	if err != nil {
		return fmt.Errorf("write %q: %w", p.TimestampsFile, err)
	}
	p.TimestampsResult = r
	failpoint.Hit(FailpointAfterTimestamps)
	return nil
}

// predict fills in Exists and Result as apply would find them.
func predict(tx catalog.Tx, p *Plan) error {
	for i := range p.Write {
		w := &p.Write[i]
		r, err := predictPut(tx, w.Handle, w.Content, false)
		if err != nil {
			return err
		}
		w.Result, w.Exists = r, r == catalog.Unchanged
	}
	if p.TimestampsFile == "" {
		return nil // nothing to compact or timestamp
	}
	// The timestamps handle could itself be expired only if the clock went
	// back; apply moves it first, then writes it.
	_, moved := slices.BinarySearch(p.Move, p.TimestampsFile)
	r, err := predictPut(tx, p.TimestampsFile, p.TimestampsLine, moved)
	if err != nil {
		return err
	}
	p.TimestampsResult = r
	return nil
}

func predictPut(tx catalog.Tx, handle string, content []byte, movedFirst bool) (catalog.PutResult, error) {
	f, err := tx.File(handle)
	if errors.Is(err, catalog.ErrNotFound) {
		return catalog.Added, nil
	}
	if err != nil {
		return catalog.Unchanged, err
	}
	switch {
	case f.SHA256 != sha256.Sum256(content):
		return catalog.Replaced, nil
	case f.State == catalog.Live && !movedFirst:
		return catalog.Unchanged, nil
	}
	return catalog.StateChanged, nil
}
