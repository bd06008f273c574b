package workflow

import (
	"context"
	"errors"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/storage"
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

// SyncOptions configures [Sync].
type SyncOptions struct {
	// Every is the pause between the end of one sync and the start of
	// the next; zero syncs once.
	Every time.Duration
	// Import configures each sync (Options.Full reads every file each
	// time; leave it false for a continuous sync).
	Import importer.Options
	// Command names the writer in the catalog's lock and journal.
	Command string
}

// Round is one sync of [Sync]: its result, or the error that stopped it
// (nothing was committed then).
type Round struct {
	N      int // 1 for the first
	Start  time.Time
	Took   time.Duration
	Result *importer.Result
	Err    error
}

// Sync keeps the catalog current from a storage, as litestream's
// replicate keeps a replica: it imports src (incrementally: the listing is
// the only full pass, see [Import]) and then, with opts.Every, waits and
// imports again, until ctx is done. Each round is handed to each as it
// ends. A round that fails (a storage unreachable, bad input, a busy
// catalog) changes nothing and does not stop the loop: the next round
// tries again, as a sync job that runs again would. With opts.Every zero
// Sync returns the one round's error; otherwise it returns nil when ctx
// is done (a clean stop on SIGTERM).
func Sync(ctx context.Context, cat Catalog, src storage.Source, opts SyncOptions, each func(Round)) error {
	for n := 1; ; n++ {
		r := Round{N: n, Start: time.Now()}
		r.Result, r.Err = Import(ctx, cat, opts.Command, src, opts.Import)
		r.Took = time.Since(r.Start)
		if ctx.Err() != nil {
			if opts.Every == 0 {
				return r.Err
			}
			return nil // stopped, mid-round or not: nothing half-done
		}
		if each != nil {
			each(r)
		}
		if opts.Every == 0 {
			return r.Err
		}
		t := time.NewTimer(opts.Every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
