package cleanup

import "github.com/metactl/metactl/catalog"

// PrunableGenerations returns the generations whose deleted files
// (catalog.Tx.DeletedFiles) are the catalog's own to remove from a
// storage: cleanups, and undos of a compaction (the files that compaction
// wrote were metactl's, written by its export). 'export --prune' removes
// such a file from a storage where its content still has the deleted
// SHA-256, and import does not take it back; a file an undo of an import
// removed came from the storage and is left there.
func PrunableGenerations(tx catalog.Tx) (map[uint64]bool, error) {
	kinds := map[uint64]catalog.Kind{}
	var undos []*catalog.Operation
	if err := tx.Operations(func(op *catalog.Operation) bool {
		kinds[op.Generation] = op.Kind
		if op.Kind == catalog.KindUndo {
			undos = append(undos, op)
		}
		return true
	}); err != nil {
		return nil, err
	}
	out := map[uint64]bool{}
	for g, k := range kinds {
		if k == catalog.KindCleanup {
			out[g] = true
		}
	}
	for _, u := range undos {
		if kinds[u.Undoes] == catalog.KindCompact {
			out[u.Generation] = true
		}
	}
	return out, nil
}
