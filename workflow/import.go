package workflow

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/storage"
)

// Import reads and validates the storage src WITHOUT the catalog lock,
// then opens the catalog for writing only for the commit, so readers of
// the catalog never wait for the storage (a slow listing, slow downloads).
// The commit plans against the generation it finds, so a writer that
// committed in between is taken into account. command names the writer in
// the catalog's lock and journal.
//
// Unless opts.Full, an import into an existing catalog is incremental
// (see sync.go): the catalog's names are read first and a listed name it
// holds is not opened; the listing is the only full pass.
//
// A first import (no catalog yet) streams into a catalog built aside:
// bounded memory, and no catalog (nor lock file) unless all of it
// succeeds. If a catalog appears meanwhile, the batch path above runs.
// A catalog at a URL whose backend builds new catalogs in bulk (etcd) is
// asked whether it exists (one read-only open), so that a first import
// there streams too; it then holds the writer lock while it reads the
// source, as a first import into a file does.
func Import(ctx context.Context, cat Catalog, command string, src storage.Source, opts importer.Options) (*importer.Result, error) {
	if err := cat.CheckWrite(); err != nil {
		return nil, err
	}
	first := !cat.Exists()
	if !first && !opts.Quarantine && IsURL(cat.Location()) && catalog.HasCreate(cat.Location()) {
		first = !catalogExists(ctx, cat, command)
	}
	if first && !opts.Quarantine {
		// (A quarantining import takes the batch path below: the
		// streamed one refuses bad input whole.)
		opts.Progress = streamGC(opts.Progress)
		res, err := importer.NewCatalog(ctx, cat.Location(), cat.Options(false, command), src, opts)
		if !errors.Is(err, catalog.ErrExist) {
			return res, err
		}
	}
	for attempt := 1; ; attempt++ {
		if !opts.Full {
			// Incremental: names the catalog holds are not read again.
			known, err := loadKnown(ctx, cat, command)
			if err != nil {
				return nil, err
			}
			opts.Known = known
		}
		if opts.SpoolDir == "" && !IsURL(cat.Location()) {
			// Beside the catalog, where the bulk commit's scratch copy
			// goes too, rather than a temporary folder that may be in
			// memory.
			opts.SpoolDir = filepath.Dir(cat.Location())
		}
		batch, err := importer.Read(ctx, src, opts)
		if err != nil {
			return nil, err
		}
		if batch.Problems() && !catalogExists(ctx, cat, command) {
			// Nothing to conflict with: refuse without creating a catalog.
			batch.Close()
			return nil, batch.Err()
		}
		existed := cat.Exists()
		db, err := cat.OpenWrite(ctx, command)
		if err != nil {
			batch.Close()
			return nil, err
		}
		restore := commitMemoryLimit(batch.ReadBack())
		res, err := batch.Commit(ctx, db)
		restore()
		db.Close()
		batch.Close()
		if errors.Is(err, importer.ErrStale) && attempt < 3 {
			continue // an undo or a cleanup committed meanwhile: read again
		}
		if err != nil {
			cat.RemoveIfFresh(existed) // a failed first import leaves nothing behind
		}
		return res, err
	}
}

// catalogExists asks the catalog's backend whether the catalog exists: a
// read-only open refuses a missing one with ErrNoCatalog, whatever the
// backend. Any other failure counts as existing: the write that follows
// reports it.
func catalogExists(ctx context.Context, cat Catalog, command string) bool {
	db, err := catalog.Open(ctx, cat.Location(), cat.Options(true, command))
	if err == nil {
		db.Close()
	}
	return !errors.Is(err, catalog.ErrNoCatalog)
}

// streamGC gives the garbage collector more headroom for a streamed first
// import, unless GOGC is set: its live heap is bounded (a few batches of
// files and the spilled index runs), so the headroom costs tens of MB and
// saves collections. Issue 11's 1M-line import, same machine, interleaved:
// GOGC=100 1.58-1.77 s, peak 163-174 MB; 200 1.51 s, peak 228-240 MB.
//
// The headroom is capped, unless GOMEMLIMIT is set, by a soft memory
// limit: streamMemoryLimit, plus streamPerFile for every file imported so
// far (their bookkeeping lives to the commit: a million files hold about
// 800 MB, and a fixed limit below that made the collector run back to
// back, twice the CPU time). It returns the progress function to give the
// import, which raises the limit as files are done and calls progress.
// Issue 21's file of 1M lines: the heap is its bytes plus tens of MB, and
// without the limit it grew to three times that before a collection.
func streamGC(progress func(importer.Progress)) func(importer.Progress) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		return progress
	}
	debug.SetMemoryLimit(streamMemoryLimit)
	files := 0
	return func(p importer.Progress) {
		if p.Phase == importer.PhaseRead && p.Done > files {
			files = p.Done
			debug.SetMemoryLimit(streamMemoryLimit + int64(files)*streamPerFile)
		}
		if progress != nil {
			progress(p)
		}
	}
}

// streamMemoryLimit is the soft memory limit of a streamed first import
// (streamGC) before any file: the collector works harder near it, and
// only there.
const streamMemoryLimit = 192 << 20

// streamPerFile is what the soft limit grows by per file imported: about
// what each holds until the commit (its change record's image, its
// handle in the journal record), measured on 1M one-line files.
const streamPerFile = 1 << 10

// commitMemoryLimit caps the heap of a batch's commit, unless GOMEMLIMIT
// is set, with a soft memory limit of the live heap (the batch read, the
// catalog's pages) and readBack (the largest file the commit reads back
// whole from the batch's spool, Batch.ReadBack) plus half of both, at
// least commitHeadroom: at the default GOGC the heap grew to twice the
// batch while the commit allocated, which only it frees (1M lines in one
// file: the batch holds its 146 MB, the heap grew to 330 MB before a
// collection). A limit below what the commit holds at once is worse than
// none: the collector runs back to back, then gives up and lets the heap
// double. It returns the function that restores the previous limit.
func commitMemoryLimit(readBack int64) func() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	live := int64(ms.HeapAlloc)
	old := debug.SetMemoryLimit(live + max(commitHeadroom, readBack+(live+readBack)/2))
	return func() { debug.SetMemoryLimit(old) }
}

// commitHeadroom is the least headroom commitMemoryLimit gives the heap.
const commitHeadroom = 128 << 20
