package compaction

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
)

// These tests simulate planner bugs: they run the real apply step, inside
// a real view-preserving transaction, with a tampered plan, and prove that
// catalog.DB.Update's digest check refuses to commit it.

func txnEntry(first, last uint64) aptos.Metadata {
	return aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: first, LastVersion: last, Manifest: "t/transaction.manifest"})
}

// tamperRow is one row of TestApplyTamperedPlanAborts: it edits the plan
// computed with T=3 (one compacted file holding a, b, c): keep only the
// first keep lines of it (keep < 0: all; 0: do not write it), append extra
// lines, and set the move list; lost and adds are what the refusal names.
type tamperRow struct {
	name       string
	keep       int
	extra      []aptos.Metadata
	move       []string
	lost, adds []aptos.Metadata
}

func TestApplyTamperedPlanAborts(t *testing.T) {
	a, b, c := txnEntry(0, 9), txnEntry(10, 19), txnEntry(20, 29)
	all := []string{"metadata/transaction_0-9.meta", "metadata/transaction_10-19.meta", "metadata/transaction_20-29.meta"}
	tests := []tamperRow{
		{"a compacted file drops an entry, its original is moved", 1, nil, all[1:2], []aptos.Metadata{b}, nil},
		{"a compacted file drops two entries, every original moved", 1, nil, all, []aptos.Metadata{b, c}, nil},
		{"nothing written, every original moved", 0, nil, all, []aptos.Metadata{a, b, c}, nil},
		{"a compacted file invents an entry", -1, []aptos.Metadata{txnEntry(30, 39)}, nil, nil, []aptos.Metadata{txnEntry(30, 39)}},
	}
	for _, bulk := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			if bulk {
				name = "bulk/" + name
			}
			t.Run(name, func(t *testing.T) { tamperedRun(t, bulk, []aptos.Metadata{a, b, c}, tt) })
		}
	}
}

// tamperedRun runs one row on a catalog holding one file per entry, in
// one Update or (bulk) in catalog.BulkUpdater's UpdateBulk with a
// checkpoint after every file, so that what it wrote before the refusal
// was committed to its scratch file; either way the catalog must be
// byte-for-byte unchanged.
func tamperedRun(t *testing.T, bulk bool, entries []aptos.Metadata, tt tamperRow) {
	o := catalogtest.Options{Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
	if bulk {
		o.CheckpointBytes = 1
	}
	db := catalogtest.OpenWith(t, o)
	var files []catalogtest.File
	for _, m := range entries {
		files = append(files, catalogtest.File{Name: m.Name(), State: catalog.Live, Lines: []aptos.Metadata{m}})
	}
	catalogtest.Put(t, db, files...)
	raw := catalogtest.Bytes(t, db)
	gen := catalogtest.Generation(t, db)

	fn := func(tx catalog.WriteTx) error {
		tx.PreserveView()
		p, err := planTx(tx, Options{EpochEndingFactor: 1, StateSnapshotFactor: 1, TransactionFactor: 3}, false)
		if err != nil {
			return err
		}
		tamper(p, tt.keep, tt.extra, tt.move)
		return apply(t.Context(), tx, p)
	}
	var err error
	if bulk {
		_, err = db.(catalog.BulkUpdater).UpdateBulk(t.Context(), catalog.KindCompact, func(tx catalog.BulkWriteTx) error { return fn(tx) })
	} else {
		_, err = db.Update(t.Context(), catalog.KindCompact, fn)
	}
	var lost *catalog.LostEntriesError
	if !errors.As(err, &lost) || !errors.Is(err, catalog.ErrViewChanged) {
		t.Fatalf("apply of a tampered plan: %v, want a *catalog.LostEntriesError", err)
	}
	want := func(ms []aptos.Metadata) []string {
		var out []string
		for i := range ms {
			out = append(out, string(aptos.AppendLine(nil, &ms[i])))
		}
		return out
	}
	slices.Sort(lost.Lost)
	slices.Sort(lost.Added)
	if !slices.Equal(lost.Lost, want(tt.lost)) || !slices.Equal(lost.Added, want(tt.adds)) {
		t.Fatalf("error names lost %q, added %q; want lost %q, added %q", lost.Lost, lost.Added, want(tt.lost), want(tt.adds))
	}
	if left, _ := filepath.Glob(db.Location() + ".build-*"); len(left) > 0 {
		t.Fatalf("the refused run left scratch files %q", left)
	}
	after := catalogtest.Bytes(t, db)
	gen2 := catalogtest.Generation(t, db)
	if !bytes.Equal(raw, after) || gen2 != gen {
		t.Fatalf("catalog changed (generation %d -> %d)", gen, gen2)
	}
	if err := db.View(t.Context(), func(tx catalog.Tx) error { return tx.StoredEntriesMatch() }); err != nil {
		t.Fatal(err)
	}
}

// tamper edits p as TestApplyTamperedPlanAborts's rows say.
func tamper(p *Plan, keep int, extra []aptos.Metadata, move []string) {
	w := &p.Write[0]
	w.lines = p.parsed(w, nil)
	switch {
	case keep == 0:
		p.Write = p.Write[1:]
	case keep > 0:
		w.lines = w.lines[:keep]
	}
	if keep != 0 {
		w.lines = append(slices.Clone(w.lines), extra...)
		w.Content = nil
		for i := range w.lines {
			w.Content = append(w.Content, aptos.EncodeLine(&w.lines[i])...)
		}
	}
	p.Move = move
}

// TestApplyUntamperedPlanCommits is the control for the test above: the
// same setup with the plan as computed commits.
func TestApplyUntamperedPlanCommits(t *testing.T) {
	db := catalogtest.Open(t)
	catalogtest.Put(t, db, catalogtest.File{Name: "transaction_0-9.meta", State: catalog.Live, Lines: []aptos.Metadata{txnEntry(0, 9)}})
	op, err := db.Update(t.Context(), catalog.KindCompact, func(tx catalog.WriteTx) error {
		tx.PreserveView()
		p, err := planTx(tx, DefaultOptions(), false)
		if err != nil {
			return err
		}
		p.Move = []string{"metadata/transaction_0-9.meta"} // safe: the compacted file holds its entry
		return apply(t.Context(), tx, p)
	})
	if err != nil || op.Moved.Count != 1 || op.DigestBefore != op.DigestAfter {
		t.Fatalf("commit: %v, %+v", err, op)
	}
}
