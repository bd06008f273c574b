package cleanup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/metactl/metactl/catalog"
)

// ErrAge is returned for a negative OlderThan or Retain.
var ErrAge = errors.New("durations must not be negative")

// Options says what Run deletes and purges.
type Options struct {
	// OlderThan: delete moved files whose state changed longer ago.
	OlderThan time.Duration
	// Retain: keep deleted and replaced files' content for undo this long;
	// zero means catalog.DefaultRetention.
	Retain time.Duration
	// Inputs are recorded in the journal (the command's flags, for people).
	Inputs []string
}

// Result says what Run did (or Plan would do).
type Result struct {
	Cutoff      time.Time // moved files moved before this are deleted
	PurgeCutoff time.Time // retained content of operations before this is purged
	Deleted     []string  // handles, sorted
	Purged      int       // files whose retained content was dropped (Run only)
	Generation  uint64    // the generation committed (Run), or seen (Plan)
}

func (o *Options) validate() error {
	if o.OlderThan < 0 || o.Retain < 0 {
		return ErrAge
	}
	if o.Retain == 0 {
		o.Retain = catalog.DefaultRetention
	}
	return nil
}

func pick(tx catalog.Tx, cutoff time.Time) ([]string, error) {
	files, err := tx.Files(catalog.Moved)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, f := range files {
		if f.StateChangedAt.Before(cutoff) {
			out = append(out, f.Handle)
		}
	}
	return out, nil
}

// Run deletes the moved files older than opts.OlderThan and purges
// retained content older than opts.Retain, in one write transaction. If
// there is nothing to do, nothing is committed and Generation is the
// current one.
func Run(ctx context.Context, db catalog.DB, opts Options) (*Result, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	var res Result
	op, err := db.Update(ctx, catalog.KindCleanup, func(tx catalog.WriteTx) error {
		res = Result{Cutoff: tx.Now().Add(-opts.OlderThan), PurgeCutoff: tx.Now().Add(-opts.Retain)}
		tx.SetInputs(opts.Inputs...)
		del, err := pick(tx, res.Cutoff)
		if err != nil {
			return err
		}
		res.Deleted = del
		for _, h := range del {
			if err := tx.DeleteFile(h); err != nil {
				return fmt.Errorf("delete %s: %w", h, err)
			}
		}
		if res.Purged, err = tx.PurgeRetained(res.PurgeCutoff); err != nil {
			return fmt.Errorf("purge retained content: %w", err)
		}
		note := fmt.Sprintf("deleted %d moved file%s", len(del), plural(len(del)))
		if res.Purged > 0 {
			note += fmt.Sprintf(", purged the retained content of %d", res.Purged)
		}
		tx.SetNote(note)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Generation = op.Generation
	return &res, nil
}

// Plan returns what Run would delete now, from a read-only transaction.
// Purged stays zero: the purge is counted only when it happens.
func Plan(ctx context.Context, db catalog.DB, opts Options, now time.Time) (*Result, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := Result{Cutoff: now.Add(-opts.OlderThan), PurgeCutoff: now.Add(-opts.Retain)}
	err := db.View(ctx, func(tx catalog.Tx) error {
		res.Generation = tx.Generation()
		var err error
		res.Deleted, err = pick(tx, res.Cutoff)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// plural is "s" unless n is 1, for the journal note.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
