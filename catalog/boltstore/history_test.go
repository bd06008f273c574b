package boltstore_test

import (
	"errors"
	"testing"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
)

// TestRestoreHistory: a catalog rebuilt from an archive takes the
// archive's journal and generation; a journal that does not fit is refused
// and changes nothing.
func TestRestoreHistory(t *testing.T) {
	src := catalogtest.Open(t)
	files := catalogtest.CompactedStorage()
	catalogtest.Put(t, src, files[:3]...)
	catalogtest.Put(t, src, files[3:]...)
	var ops []catalog.Operation
	src.View(t.Context(), func(tx catalog.Tx) error {
		return tx.Operations(func(op *catalog.Operation) bool { ops = append([]catalog.Operation{*op}, ops...); return true })
	})
	if len(ops) != 2 {
		t.Fatalf("source journal: %d operations", len(ops))
	}

	dst := catalogtest.Open(t)
	catalogtest.Put(t, dst, files...)
	if err := dst.RestoreHistory(7, ops[:1]); !errors.Is(err, catalog.ErrInvalidHistory) {
		t.Errorf("journal ending at another view: %v", err)
	}
	if err := dst.RestoreHistory(1, ops); !errors.Is(err, catalog.ErrInvalidHistory) {
		t.Errorf("journal after the generation: %v", err)
	}
	if g := catalogtest.Generation(t, dst); g != 1 {
		t.Errorf("a refused restore changed the generation to %d", g)
	}
	if err := dst.RestoreHistory(2, ops); err != nil {
		t.Fatal(err)
	}
	var got []catalog.Operation
	dst.View(t.Context(), func(tx catalog.Tx) error {
		if tx.Generation() != 2 {
			t.Errorf("generation %d, want 2", tx.Generation())
		}
		return tx.Operations(func(op *catalog.Operation) bool { got = append([]catalog.Operation{*op}, got...); return true })
	})
	if len(got) != 2 || got[0].Generation != 1 || got[1].Generation != 2 || got[1].DigestAfter != ops[1].DigestAfter || got[0].Added.Count != 3 {
		t.Errorf("restored journal %+v", got)
	}
}
