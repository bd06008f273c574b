package workflow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/export"
)

// scratchSync is the sync of a drop-in dry run: the catalog is copied to a
// scratch file (o.CopyCatalog; a missing catalog starts the scratch empty)
// and the storage imported into the copy, exactly as the real run imports
// it into the catalog, so the compaction plan and the publish that follow,
// made on the copy, are the real run's. The catalog itself is only read.
// done removes the scratch folder.
func scratchSync(ctx context.Context, cat Catalog, o DropInOptions) (scratch Catalog, done func(), err error) {
	if o.CopyCatalog == nil {
		return nil, nil, fmt.Errorf("compact --dry-run: no way to copy the catalog for the dry run's sync")
	}
	dir, err := os.MkdirTemp(o.ScratchDir, "metactl-dry-run-")
	if err != nil {
		return nil, nil, fmt.Errorf("compact --dry-run: scratch folder: %w", err)
	}
	done = func() { os.RemoveAll(dir) }
	path := filepath.Join(dir, "metactl.db")
	if cat.Exists() {
		if err := o.CopyCatalog(ctx, path); err != nil {
			done()
			return nil, nil, fmt.Errorf("compact --dry-run: copy the catalog: %w", err)
		}
	}
	scratch = &Location{Path: path, Opts: func(readOnly bool, command string) *catalog.Options {
		opts := cat.Options(readOnly, command)
		opts.Backend = nil // a local file, whatever the catalog's backend
		opts.NoSync = true // thrown away: durability buys nothing
		return opts
	}}
	return scratch, done, nil
}

// dryTarget publishes to its Target with export's DryRun forced: the
// storage of a drop-in dry run is read, never written.
type dryTarget struct{ export.Target }

func (t dryTarget) Publish(ctx context.Context, s *export.Snapshot, opts export.Options) (*export.Result, error) {
	opts.DryRun = true
	return t.Target.Publish(ctx, s, opts)
}
