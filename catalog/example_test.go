package catalog_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	_ "github.com/metactl/metactl/catalog/boltstore" // plain paths
)

// Example shows the main flow: open (creating) a catalog, add a file in one
// write transaction, then query the view in a read-only one.
func Example() {
	dir, _ := os.MkdirTemp("", "catalog-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	db, err := catalog.Open(ctx, filepath.Join(dir, "metactl.db"), &catalog.Options{Command: "example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	line := aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: 0, LastVersion: 14, Manifest: "transaction_0-.3c4d/transaction.manifest"})
	op, err := db.Update(ctx, "import", func(tx catalog.WriteTx) error {
		_, err := tx.PutFile(catalog.NewFile{
			Handle:  "metadata/transaction_0-14.meta",
			Content: aptos.EncodeLine(&line),
			State:   catalog.Live,
			Source:  "example",
		})
		return err
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("generation", op.Generation, "added", op.Added.Count)

	err = db.View(ctx, func(tx catalog.Tx) error {
		v, err := tx.View()
		if err != nil {
			return err
		}
		fmt.Println(v.StorageState())
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// generation 1 added 1
	// latest_epoch_ending_epoch: none, latest_state_snapshot_epoch: none, latest_state_snapshot_version: none, latest_transaction_version: 14
}
