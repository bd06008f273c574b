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

// TestRunPurgesAfterGrace: content stays retained through the grace
// period, a cleanup after it purges the content and keeps the record.
func TestRunPurgesAfterGrace(t *testing.T) {
	db, clk := setup(t)
	if _, err := cleanup.Run(t.Context(), db, cleanup.Options{OlderThan: time.Hour, Retain: 48 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(47 * time.Hour)
	res, err := cleanup.Run(t.Context(), db, cleanup.Options{OlderThan: 1000 * time.Hour, Retain: 48 * time.Hour})
	if err != nil || res.Purged != 0 {
		t.Fatalf("cleanup inside the grace = %+v, %v; want nothing purged", res, err)
	}
	clk.t = clk.t.Add(2 * time.Hour)
	res, err = cleanup.Run(t.Context(), db, cleanup.Options{OlderThan: 1000 * time.Hour, Retain: 48 * time.Hour})
	if err != nil || res.Purged != 2 || len(res.Deleted) != 0 || res.Generation != 4 {
		t.Fatalf("cleanup after the grace = %+v, %v; want 2 purged at generation 4", res, err)
	}
	n := 0
	err = db.View(t.Context(), func(tx catalog.Tx) error {
		return tx.DeletedFiles(func(d *catalog.DeletedFile) error {
			n++
			if d.Retained {
				t.Errorf("%s still retained after the purge", d.Handle)
			}
			return nil
		})
	})
	if err != nil || n != 2 {
		t.Fatalf("deleted records = %d, %v; want 2", n, err)
	}
	_, err = db.Undo(t.Context(), 3, false)
	var refused *catalog.UndoRefusedError
	if !errors.As(err, &refused) || refused.By == nil || refused.By.Generation != 4 {
		t.Errorf("undo of the purged cleanup: %v; want a refusal naming generation 4", err)
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
