package importer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/storage"
)

// Import a LocalFs storage, then see a bad file refused with its line.
func ExampleFromStorage() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "importer-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)

	// A storage as Aptos's LocalFs leaves it.
	dir := filepath.Join(tmp, "storage")
	os.MkdirAll(filepath.Join(dir, "metadata"), 0o755)
	os.WriteFile(filepath.Join(dir, "metadata", "transaction_0-14.meta"),
		[]byte(`{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"transaction_0-.3c4d/transaction.manifest"}}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "metadata", ".DS_Store"), []byte{0, 1, 2}, 0o644)

	db, err := catalog.Open(ctx, filepath.Join(tmp, "catalog.db"), nil)
	if err != nil {
		panic(err)
	}
	defer db.Close()
	src, err := storage.NewLocal(dir)
	if err != nil {
		panic(err)
	}
	res, err := importer.FromStorage(ctx, db, src, importer.Options{Source: "local-fs:" + dir})
	if err != nil {
		panic(err)
	}
	fmt.Printf("added %d, entries %d, skipped %q, generation %d\n", res.Added, res.Entries, res.Skipped, res.Generation)

	os.WriteFile(filepath.Join(dir, "metadata", "transaction_15-29.meta"),
		[]byte(`{"TransactionBackup":{"first_version":15,"last_version":29}}`+"\n"), 0o644)
	_, err = importer.FromStorage(ctx, db, src, importer.Options{Source: "local-fs:" + dir})
	var bad *importer.InputError
	fmt.Println(errors.As(err, &bad), errors.Is(err, aptos.ErrInvalid))
	fmt.Println(err)
	// Output:
	// added 1, entries 1, skipped ["metadata/.DS_Store"], generation 1
	// true true
	// import metadata/transaction_15-29.meta:1:59: missing field `manifest`
}
