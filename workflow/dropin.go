package workflow

import (
	"context"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/compaction"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/storage"
)

// DropInOptions say what [DropIn] does.
type DropInOptions struct {
	// Compaction are the factors and the grace period, as Aptos takes them.
	Compaction compaction.Options
	// DryRun plans the whole run and changes nothing: with a Source the
	// storage is synced into a scratch copy of the catalog (CopyCatalog),
	// which is planned and published from, so the plan is the real run's;
	// the catalog is only read, the storage not written.
	DryRun bool
	// Target is the storage to publish to; nil compacts the catalog only.
	Target export.Target
	// Source is the same storage, read for the sync before compacting;
	// required with a Target unless DryRun.
	Source storage.Source
	// Import are the options of the sync (Source label, Concurrency, Now).
	Import importer.Options
	// CopyCatalog copies the catalog, whatever its backend, to a new
	// catalog file at path. A dry run with a Source syncs into such a copy
	// (see DryRun); nil makes that dry run fail.
	CopyCatalog func(ctx context.Context, path string) error
	// ScratchDir is where a dry run's copy goes ("": the system's
	// temporary folder).
	ScratchDir string
	Hooks
}

// DropInResult is what [DropIn] did, or in a dry run would do.
type DropInResult struct {
	// Plan is the compaction's plan; its TimestampsFile is "" when the
	// catalog has no live files and nothing was compacted.
	Plan *compaction.Plan
	// Op is the committed compaction; nil in a dry run.
	Op *catalog.Operation
	// Synced is what the sync before the compaction did; nil without a
	// Target and in a dry run.
	Synced *importer.Result
	// Published is what writing the result back did (or would do); nil
	// without a Target and when there was nothing to compact.
	Published *export.Result
}

// Nothing reports whether there was nothing to compact.
func (r *DropInResult) Nothing() bool { return r.Plan.TimestampsFile == "" }

// DropIn does what Aptos's backup-maintenance compact does to a storage,
// through the catalog: it imports (syncs) the storage, compacts the
// catalog in one transaction, then publishes the catalog back to the
// storage, writing every new file before moving any old one, so Aptos
// readers of the storage always see whole files and full coverage. Without
// a Target it compacts the catalog only, which must exist.
//
// A dry run plans the compaction read-only and publishes the catalog as
// the plan would leave it with export's DryRun, so the storage is not
// touched either.
func DropIn(ctx context.Context, cat Catalog, o DropInOptions) (*DropInResult, error) {
	res := &DropInResult{}
	if o.Target != nil && o.DryRun && o.Source != nil {
		scratch, done, err := scratchSync(ctx, cat, o)
		if err != nil {
			return nil, err
		}
		defer done()
		cat = scratch
		o.DryRun = false // the real run, on the copy ...
		o.Target = dryTarget{o.Target}
		res, err := DropIn(ctx, cat, o)
		if err != nil {
			return nil, err
		}
		res.Op = nil // ... whose commits are thrown away
		return res, nil
	}
	if o.Target != nil && !o.DryRun {
		synced, err := Import(ctx, cat, "compact (import)", o.Source, o.Import)
		if err != nil {
			return nil, withOp("compact", err)
		}
		o.warn(synced.Warnings)
		res.Synced = synced
	}
	if o.DryRun {
		db, done, err := cat.OpenRead(ctx, "compact --dry-run")
		if err != nil {
			return nil, err
		}
		res.Plan, err = compaction.DryRun(ctx, db, o.Compaction)
		done()
		if err != nil {
			return nil, withOp("compact", err)
		}
	} else {
		db, err := cat.OpenExisting(ctx, "compact")
		if err != nil {
			return nil, err
		}
		done := o.working("compact")
		res.Plan, res.Op, err = compaction.Run(ctx, db, o.Compaction)
		done()
		db.Close()
		if err != nil {
			return nil, withOp("compact", err)
		}
	}
	if o.Target != nil && !res.Nothing() {
		pub, err := publish(ctx, cat, o.Target, res.Plan, o.DryRun)
		if err != nil {
			return nil, err
		}
		res.Published = pub
	}
	return res, nil
}

// publish writes the compacted state back to the storage: the catalog's
// generation after the run, or in a dry run the catalog as the plan would
// leave it, published with DryRun so the storage is not touched either.
func publish(ctx context.Context, cat Catalog, t export.Target, plan *compaction.Plan, dryRun bool) (*export.Result, error) {
	db, done, err := cat.OpenRead(ctx, "compact (export)")
	if err != nil {
		return nil, err
	}
	snap, err := export.TakeSnapshot(ctx, db)
	done()
	if err != nil {
		return nil, withOp("compact", err)
	}
	if dryRun {
		add := []*catalog.File{{Handle: plan.TimestampsFile, State: catalog.Live, Content: plan.TimestampsLine}}
		for _, w := range plan.Write {
			add = append(add, &catalog.File{Handle: w.Handle, State: catalog.Live, Content: w.Content})
		}
		snap = snap.WithChanges(add, plan.Move)
	}
	// A real run just synced the catalog from t: t holds no name the
	// catalog has not checked (see export.Options.Synced).
	res, err := snap.Publish(ctx, t, export.Options{DryRun: dryRun, Synced: !dryRun})
	if err != nil {
		return nil, withOp("compact", err)
	}
	return res, nil
}
