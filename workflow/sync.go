package workflow

import (
	"context"
	"errors"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
)

// loadKnown returns the names the catalog holds, for an incremental
// import (importer.Known), or nil (read everything) when there is no
// catalog yet.
func loadKnown(ctx context.Context, cat Catalog, command string) (*importer.Known, error) {
	if !cat.Exists() {
		return nil, nil
	}
	db, done, err := cat.OpenRead(ctx, command)
	if errors.Is(err, catalog.ErrNoCatalog) {
		return nil, nil // a location with no catalog yet (etcd)
	}
	if err != nil {
		return nil, err
	}
	defer done()
	return importer.LoadKnown(ctx, db)
}
