package boltstore

import (
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/metactl/metactl/catalog"
)

// Dump returns every bucket's keys and values of the bbolt catalog db, in
// order, as text: two catalogs with the same Dump hold the same state,
// byte for byte, whatever their page layout.
func Dump(db catalog.DB) (string, error) {
	bdb, ok := db.(*boltDB)
	if !ok {
		return "", fmt.Errorf("not a bbolt catalog")
	}
	var b strings.Builder
	err := bdb.view(func(btx *bolt.Tx) error {
		return btx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			fmt.Fprintf(&b, "bucket %s\n", name)
			return bk.ForEach(func(k, v []byte) error {
				fmt.Fprintf(&b, "  %x = %x\n", k, v)
				return nil
			})
		})
	})
	return b.String(), err
}
