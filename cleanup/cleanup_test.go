package cleanup_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/cleanup"
	ct "github.com/metactl/metactl/internal/catalogtest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// setup: two files moved at t0, one moved at t0+2h, one live; the clock
// then reads t0+3h.
func setup(t *testing.T) (catalog.DB, *clock) {
	t.Helper()
	clk := &clock{t: time.Unix(1700000000, 0).UTC()}
	db := ct.OpenWith(t, ct.Options{Now: clk.now, Verify: true})
	files := []ct.File{
		{Name: "transaction_0-9.meta", State: catalog.Moved, Lines: []aptos.Metadata{ct.Transaction(0, 9, "a/m")}},
		{Name: "transaction_10-19.meta", State: catalog.Moved, Lines: []aptos.Metadata{ct.Transaction(10, 19, "b/m")}},
		{Name: "transaction_compacted_0-19.meta", State: catalog.Live, Lines: []aptos.Metadata{ct.Transaction(0, 9, "a/m"), ct.Transaction(10, 19, "b/m")}},
	}
	ct.Put(t, db, files...)
	clk.t = clk.t.Add(2 * time.Hour)
	ct.Put(t, db, ct.File{Name: "transaction_20-29.meta", State: catalog.Moved, Lines: []aptos.Metadata{ct.Transaction(20, 29, "c/m")}})
	clk.t = clk.t.Add(time.Hour)
	return db, clk
}

func TestRunDeletesOnlyOldMovedFiles(t *testing.T) {
	db, clk := setup(t)
	plan, err := cleanup.Plan(t.Context(), db, cleanup.Options{OlderThan: 2 * time.Hour}, clk.t)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"metadata/transaction_0-9.meta", "metadata/transaction_10-19.meta"}
	if !reflect.DeepEqual(plan.Deleted, want) || plan.Generation != 2 || !plan.Cutoff.Equal(clk.t.Add(-2*time.Hour)) {
		t.Fatalf("plan = %+v", plan)
	}
	if ct.Generation(t, db) != 2 {
		t.Fatal("Plan wrote")
	}
	res, err := cleanup.Run(t.Context(), db, cleanup.Options{OlderThan: 2 * time.Hour, Inputs: []string{"older-than=2h"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Deleted, plan.Deleted) || res.Generation != 3 || res.Purged != 0 {
		t.Fatalf("run = %+v", res)
	}
	st := ct.States(t, db)
	if len(st) != 2 || st["metadata/transaction_compacted_0-19.meta"] != catalog.Live || st["metadata/transaction_20-29.meta"] != catalog.Moved {
		t.Errorf("states after cleanup = %v", st)
	}
	var deleted []string
	err = db.View(t.Context(), func(tx catalog.Tx) error {
		return tx.DeletedFiles(func(d *catalog.DeletedFile) error {
			if !d.Retained || d.Generation != 3 || d.State != catalog.Moved {
				t.Errorf("deleted record %+v: want retained, generation 3, moved", d)
			}
			deleted = append(deleted, d.Handle)
			return nil
		})
	})
	if err != nil || !reflect.DeepEqual(deleted, want) {
		t.Errorf("deleted records = %v, %v; want %v", deleted, err, want)
	}
	// The journal note counts in words, one file or many (newest first).
	clk.t = clk.t.Add(2 * time.Hour)
	if _, err := cleanup.Run(t.Context(), db, cleanup.Options{OlderThan: 2 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	var notes []string
	err = db.View(t.Context(), func(tx catalog.Tx) error {
		return tx.Operations(func(op *catalog.Operation) bool {
			if op.Kind == "cleanup" {
				notes = append(notes, op.Note)
			}
			return true
		})
	})
	if want := []string{"deleted 1 moved file", "deleted 2 moved files"}; err != nil || !reflect.DeepEqual(notes, want) {
		t.Errorf("cleanup notes = %q, %v; want %q", notes, err, want)
	}
}

func TestRunNothingToDoCommitsNothing(t *testing.T) {
	db, _ := setup(t)
	b := ct.Bytes(t, db)
	res, err := cleanup.Run(t.Context(), db, cleanup.Options{OlderThan: 24 * time.Hour})
	if err != nil || len(res.Deleted) != 0 || res.Generation != 2 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	if !bytes.Equal(ct.Bytes(t, db), b) {
		t.Error("a cleanup that deleted nothing changed the catalog file")
	}
}

// TestRunPurgesAfterGrace: an operation's change records stay through the
// grace period; a cleanup after it purges them (the deleted records stay,
// no longer retained) and the operation can no longer be undone.
func TestRunPurgesAfterGrace(t *testing.T) {
	db, clk := setup(t) // generation 1 at t0 (3 files), 2 at t0+2h (1 file); now t0+3h
	opts := cleanup.Options{OlderThan: time.Hour, Retain: 48 * time.Hour}
	if res, err := cleanup.Run(t.Context(), db, opts); err != nil || res.Generation != 3 || len(res.Deleted) != 2 {
		t.Fatalf("cleanup = %+v, %v; want 2 deleted at generation 3", res, err)
	}
	retained := func() (n, kept int) {
		err := db.View(t.Context(), func(tx catalog.Tx) error {
			return tx.DeletedFiles(func(d *catalog.DeletedFile) error {
				n++
				if d.Retained {
					kept++
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return n, kept
	}
	// t0+50h: cutoff t0+2h purges generation 1 only.
	clk.t = clk.t.Add(47 * time.Hour)
	opts.OlderThan = 1000 * time.Hour
	res, err := cleanup.Run(t.Context(), db, opts)
	if err != nil || res.Purged != 3 || res.Generation != 4 {
		t.Fatalf("cleanup at t0+50h = %+v, %v; want generation 1's 3 change records purged at generation 4", res, err)
	}
	if n, kept := retained(); n != 2 || kept != 2 {
		t.Errorf("deleted records inside the grace: %d, %d retained; want 2, 2", n, kept)
	}
	// t0+52h: cutoff t0+4h purges generations 2 and 3 (1 + 2 records).
	clk.t = clk.t.Add(2 * time.Hour)
	res, err = cleanup.Run(t.Context(), db, opts)
	if err != nil || res.Purged != 3 || res.Generation != 5 {
		t.Fatalf("cleanup at t0+52h = %+v, %v; want 3 purged at generation 5", res, err)
	}
	if n, kept := retained(); n != 2 || kept != 0 {
		t.Errorf("deleted records after the grace: %d, %d retained; want 2, 0", n, kept)
	}
	_, err = db.Undo(t.Context(), 3, false)
	var refused *catalog.UndoRefusedError
	if !errors.As(err, &refused) || refused.By == nil || refused.By.Generation != 5 {
		t.Errorf("undo of the purged cleanup: %v; want a refusal naming generation 5", err)
	}
}

func TestOptionsRefuseNegative(t *testing.T) {
	db, clk := setup(t)
	for _, o := range []cleanup.Options{{OlderThan: -time.Second}, {OlderThan: time.Hour, Retain: -time.Hour}} {
		if _, err := cleanup.Run(t.Context(), db, o); !errors.Is(err, cleanup.ErrAge) {
			t.Errorf("Run(%+v) = %v, want ErrAge", o, err)
		}
		if _, err := cleanup.Plan(t.Context(), db, o, clk.t); !errors.Is(err, cleanup.ErrAge) {
			t.Errorf("Plan(%+v) = %v, want ErrAge", o, err)
		}
	}
}
