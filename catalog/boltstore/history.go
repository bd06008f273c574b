package boltstore

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/metactl/metactl/catalog"
)

// RestoreHistory gives a catalog rebuilt from an archive the history the
// archive carries: the journal is replaced by ops (oldest first, as the
// archive holds them) and the generation set to gen, the archived one. It
// is for throwaway catalogs that read commands open from an archive, so
// that `log` shows the journal as it was at export and `verify` the
// generation the archive was made at; the rebuilt files keep the import's
// provenance. It refuses a generation or journal that does not fit: ops
// must be in ascending generation order, none after gen, and the last one
// (if any) must end at the catalog's current view digest. Per-operation
// change records are dropped (an archive does not carry them), so undo has
// nothing to reverse in such a catalog.
func (db *boltDB) RestoreHistory(gen uint64, ops []catalog.Operation) error {
	if db.opts.ReadOnly {
		return catalog.ErrReadOnly
	}
	for i := range ops {
		if ops[i].Generation > gen || (i > 0 && ops[i].Generation <= ops[i-1].Generation) {
			return fmt.Errorf("restore history: journal out of order at generation %d (archived generation %d): %w", ops[i].Generation, gen, catalog.ErrInvalidHistory)
		}
	}
	return guard(func() error {
		return db.bdb.Update(func(btx *bolt.Tx) error {
			tx := db.newTx(btx)
			if n := len(ops); n > 0 && ops[n-1].DigestAfter != tx.digest {
				return fmt.Errorf("restore history: the journal ends at view digest %s, the catalog holds %s: %w",
					ops[n-1].DigestAfter.Short(), tx.digest.Short(), catalog.ErrInvalidHistory)
			}
			for _, name := range [][]byte{bucketJournal, bucketChanges} {
				if btx.Bucket(name) == nil {
					continue
				}
				if err := btx.DeleteBucket(name); err != nil {
					return err
				}
				if _, err := btx.CreateBucket(name); err != nil {
					return err
				}
			}
			journal := btx.Bucket(bucketJournal)
			for i := range ops {
				rec, err := json.Marshal(&ops[i])
				if err != nil {
					return err
				}
				if err := journal.Put(u64(ops[i].Generation), rec); err != nil {
					return err
				}
			}
			return btx.Bucket(bucketMeta).Put(keyGeneration, u64(gen))
		})
	})
}
