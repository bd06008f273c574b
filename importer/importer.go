package importer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/cleanup"
	"github.com/metactl/metactl/internal/failpoint"
	"github.com/metactl/metactl/storage"
)

// Defaults for the zero values of Options fields.
const (
	// DefaultMaxProblems is how many problems an InputError lists at most.
	DefaultMaxProblems = 100
	// DefaultConcurrency is how many files are read from a source at once.
	DefaultConcurrency = 8
)

// Phases reported through Options.Progress, in this order.
const (
	PhaseRead     = "read"     // reading files from the source (FromStorage only)
	PhaseValidate = "validate" // parsing and validating every line
	PhaseCommit   = "commit"   // writing to the catalog, in one transaction
)

// Options configures an import. The zero value is usable.
type Options struct {
	// Source is the provenance recorded with each imported file and in the
	// journal, such as "local-fs:/abs/dir".
	Source string
	// MaxFileSize bounds one file's content after decompression; a larger
	// file is a Problem wrapping storage.ErrTooLarge. Zero means
	// storage.DefaultMaxFileSize (256 MiB).
	MaxFileSize int64
	// MaxProblems is how many problems the InputError lists; further ones
	// are only counted. Zero (or negative) means DefaultMaxProblems.
	MaxProblems int
	// Strict makes stray entries Problems instead of skipping them (see the
	// package documentation).
	Strict bool
	// Progress, if not nil, is called from the importing goroutine with the
	// phase and its progress: when a phase starts, at most about ten times
	// a second during it, and when it ends (Done == Total). It must not use
	// the catalog: the commit phase reports from inside the write
	// transaction.
	Progress func(Progress)
	// Concurrency is how many files FromStorage reads from the source at
	// once (each command adapter read runs a process). Zero (or negative)
	// means DefaultConcurrency.
	Concurrency int
	// Now is the clock that decides whether compaction timestamps are in
	// the future; nil means time.Now.
	Now func() time.Time
	// Known, if not nil, makes [Read] incremental: a listed file whose
	// name the catalog holds is not opened (see [Known]); nil reads every
	// listed file. [NewCatalog] ignores it.
	Known *Known
	// Full asks a caller that loads Known itself (workflow.Import) not to:
	// every listed file is read (import --full). Read ignores it.
	Full bool
	// Quarantine sets aside, instead of refusing the import, each listed
	// file that fails to parse or validate (or to decompress, or is too
	// large): [Batch.Commit] records it in the catalog with its problems
	// and bytes (catalog.WriteTx.Quarantine) and imports everything else;
	// Result.Quarantined lists it. Conflicts with the catalog and another
	// chain's identity are still refused. A later good copy under the same
	// name is imported and releases the record, and so does a storage
	// that no longer lists it. [NewCatalog] does not quarantine: callers
	// with Quarantine set use Read and Commit.
	Quarantine bool
	// InProgress skips a live file that a writer is still writing in place
	// (Aptos creates a metadata file, then writes it): one that is empty or
	// ends mid-line after valid complete lines, and was modified within
	// FreshFor (a storage with modification times) or is the newest of its
	// kind (a bucket). It is a warning (WarnInProgress), not imported, and
	// read again by the next run. The drop-in and sync set it; with
	// Strict it is a Problem.
	InProgress bool
	// FreshFor is how recently an InProgress file was modified; zero means
	// DefaultFreshFor.
	FreshFor time.Duration
	// SpoolDir is where [Read] spools the files it read past what a Batch
	// holds in memory (an unlinked temporary file: see spool.go); "" means
	// the system's temporary folder. Give the catalog's folder: a
	// temporary folder in memory (tmpfs) would hold the spool in memory.
	SpoolDir string
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) withDefaults() Options {
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = storage.DefaultMaxFileSize
	}
	if o.MaxProblems <= 0 {
		o.MaxProblems = DefaultMaxProblems
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	return o
}

// Progress reports how far one phase of an import is: Done of Total files.
type Progress struct {
	Phase       string // PhaseRead, PhaseValidate or PhaseCommit
	Done, Total int
}

// Result says what an import found and did. Handles in its lists are
// spelled as the storage spells them ("metadata/x.meta", or
// "metadata_backup/x.meta" for a moved file), sorted.
type Result struct {
	// Files and Lines count what was read from the source (a name listed
	// in both folders counts twice).
	Files, Lines int
	// KnownSkipped counts the listed files not opened because the catalog
	// holds their names (an incremental import, Options.Known); they are
	// not in Files or Lines.
	KnownSkipped int
	// Entries is the number of entries in the view after the import.
	Entries int
	// Duplicates counts the entry lines of the source's live files whose
	// entry was already in the view before the import, or came earlier in
	// the source (in handle and line order).
	Duplicates int
	// Added counts the new files; Moved the files whose state became
	// moved; Unchanged the files already present as they are. Added +
	// Moved + Unchanged + len(KeptMoved) + len(DeletedInStorage) is the
	// number of distinct files imported.
	Added, Moved, Unchanged int
	// Missing lists the catalog's files that the source no longer lists.
	// They are kept, never deleted (a partial listing must not destroy
	// anything). A moved file is reported only if the source could list
	// metadata_backup/.
	Missing []string
	// Skipped lists the stray entries that were not imported.
	Skipped []string
	// KeptMoved lists the files the source lists as live but the catalog
	// has already moved: the catalog wins, and an export moves them.
	KeptMoved []string
	// DeletedInStorage lists the moved files that the catalog deleted
	// (cleanup, or an undo) and the storage still holds with the same
	// content: they are not imported again; export --prune removes them.
	DeletedInStorage []string
	// Warnings lists what an operator should know although nothing is
	// wrong enough to refuse the import (see Warning), sorted by handle
	// and code.
	Warnings []Warning
	// Quarantined lists the files set aside (Options.Quarantine), sorted
	// by handle; Released the handles whose quarantine record this import
	// removed (a good copy imported, or no longer listed).
	Quarantined []Quarantined
	Released    []string
	// Generation is the catalog generation after the import; Changed
	// reports whether the import committed a change (if not, the catalog
	// file is byte-for-byte as it was).
	Generation uint64
	Changed    bool
	// DigestBefore and DigestAfter are the view digests around the import.
	DigestBefore, DigestAfter aptos.Digest
}

// SourceFile is one metadata file to import with Files.
type SourceFile struct {
	// Handle is the catalog handle, "metadata/<name>", whatever State is.
	Handle string
	// State is catalog.Live (in metadata/) or catalog.Moved (in
	// metadata_backup/).
	State catalog.State
	// Content is the file's decompressed bytes. Files does not modify it.
	Content []byte
	// Source is the provenance to record; "" means Options.Source.
	Source string
}

// FromStorage imports a legacy storage into db: [Read], then
// [Batch.Commit]. A caller that holds the catalog open for writing should
// call the two itself and open the catalog between them, so nobody waits
// for the source read (see the package documentation).
func FromStorage(ctx context.Context, db catalog.DB, src storage.Source, opts Options) (*Result, error) {
	b, err := Read(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return b.Commit(ctx, db)
}

// Read lists the source, reads every file (Options.Concurrency at a time)
// and parses and validates every line, without the catalog: nothing here
// takes a catalog lock, so it may take as long as the source needs while
// readers and writers of the catalog go on. The returned Batch holds what
// was read; [Batch.Commit] writes it. Past 32 MiB of files read, the
// rest go to a spool file in Options.SpoolDir, read back one at a time by
// Commit (spool.go), so memory does not grow with the source; call
// [Batch.Close] when done with the Batch.
//
// A source that cannot be listed or read (a failing command, a permission
// error, a file gone between listing and reading) gives an error. Bad
// input does not: its problems are kept in the Batch, and Commit returns
// them as an *InputError together with any conflict with the catalog, so
// the operator sees every problem at once. ctx is checked between files.
func Read(ctx context.Context, src storage.Source, opts Options) (*Batch, error) {
	opts = opts.withDefaults()
	r := newRun(opts)
	listing, err := src.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	r.movedListed = listing.MovedListed

	reads := r.listReads(listing)

	// Each file is parsed and validated by the goroutine that read it,
	// while its bytes are fresh in the cache.
	read := src.ReadFile
	if rs, ok := src.(storage.ReaderSource); ok {
		rd, err := rs.OpenReader()
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		defer rd.Close()
		read = rd.ReadFile
		r.useReadStat(rd)
	}
	if st, ok := src.(storage.Statter); ok {
		r.statFn = st.StatFile
	}
	type readResult struct {
		checked
		problem error // a Problem reason, or a *strayError
	}
	results := make([]readResult, len(reads))
	r.spooler = &spooler{dir: opts.SpoolDir}
	r.prog.report(PhaseRead, 0, len(reads))
	err = forEach(ctx, len(reads), opts.Concurrency, func(ctx context.Context, i int) error {
		c, problem, err := r.readOne(ctx, read, reads[i])
		if err == nil {
			// Held, or spooled once validated: the batch's memory is
			// bounded whatever the source's size.
			err = r.spooler.keep(r, c.it)
		}
		results[i].checked, results[i].problem = c, problem
		return err
	}, func(done int) { r.prog.report(PhaseRead, done, len(reads)) })
	if err != nil {
		r.spooler.sp.close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("import: %w", cerr)
		}
		return nil, err
	}
	failpoint.Hit("import.after-read")

	out := make([]checked, 0, len(reads))
	known := 0
	for i, rd := range reads {
		var stray *strayError
		switch res := results[i]; {
		case res.it != nil && res.it.known:
			known++
			out = append(out, res.checked)
		case errors.As(res.problem, &stray):
			r.stray(rd.handle, stray)
		case res.problem != nil && r.opts.Quarantine:
			r.setAside(rd.handle, rd.name, rd.state, nil, []Problem{{Handle: rd.handle, Err: res.problem}})
		case res.problem != nil:
			r.probs.add(Problem{Handle: rd.handle, Err: res.problem})
		default:
			out = append(out, res.checked)
		}
	}
	// Validated while read: the phase is reported for its place in the
	// sequence.
	r.prog.report(PhaseValidate, 0, len(out))
	r.prog.report(PhaseValidate, len(out), len(out))
	b := r.finish(r.collect(out), len(out)-known)
	b.known = known
	b.spool = r.spooler.sp
	return b, nil
}

// toRead is a listed file to read.
type toRead struct {
	handle string // as the storage names it
	name   string
	state  catalog.State
}

// listReads returns the listed files to read, live ones first, each
// folder in listing order. Strays are decided from their names before
// anything is read, and recorded.
func (r *run) listReads(listing storage.Listing) []toRead {
	reads := make([]toRead, 0, len(listing.Live)+len(listing.Moved))
	for _, folder := range []struct {
		names []string
		state catalog.State
		dir   string
	}{{listing.Live, catalog.Live, aptos.MetadataDir}, {listing.Moved, catalog.Moved, aptos.MetadataBackupDir}} {
		for _, name := range folder.names {
			h := folder.dir + "/" + name
			if reason := strayName(name); reason != nil {
				r.stray(h, reason)
				continue
			}
			reads = append(reads, toRead{handle: h, name: name, state: folder.state})
		}
	}
	if r.opts.InProgress {
		r.newest = newestOfKind(listing.Live)
	}
	return reads
}

// readFunc reads one file of a source (storage.Source.ReadFile).
type readFunc func(ctx context.Context, handle string, max int64) ([]byte, error)

// readStatFunc reads one file and returns its stat
// (storage.StatReader.ReadFileStat).
type readStatFunc func(ctx context.Context, handle string, max int64) ([]byte, storage.Stat, error)

// useReadStat takes the stat of a file the import does not know from its
// read, if rd returns one (storage.StatReader): no lstat by path before the
// read, one system call and path walk less per file of a first import
// (about 15% of its CPU at 40k one-line files). The stat is the opened
// file's, the one whose bytes were read.
func (r *run) useReadStat(rd storage.FileReader) {
	if sr, ok := rd.(storage.StatReader); ok {
		r.readStat = sr.ReadFileStat
	}
}

// readOne reads one listed file and parses and validates it while its
// bytes are fresh in the cache. Bad input is a problem: a Problem reason,
// or a *strayError for an entry that is not a regular file. A failing
// source is an error.
func (r *run) readOne(ctx context.Context, read readFunc, rd toRead) (c checked, problem, err error) {
	skip, st, hasStat, err := r.skipKnown(ctx, r.statFn, rd)
	if err != nil {
		return checked{}, nil, err
	}
	if skip {
		it := &item{SourceFile: SourceFile{Handle: aptos.LiveHandle(rd.name), State: rd.state}, shown: rd.handle, known: true}
		return checked{it: it}, nil, nil
	}
	var data []byte
	if r.readStat != nil && r.statFn != nil {
		var rst storage.Stat
		if data, rst, err = r.readStat(ctx, rd.handle, r.opts.MaxFileSize); err == nil {
			st, hasStat = rst, true
		}
	} else {
		data, err = read(ctx, rd.handle, r.opts.MaxFileSize)
	}
	switch {
	case err == nil:
		// A live file's handle is the storage's: one string for both.
		sf := SourceFile{Handle: rd.handle, State: rd.state, Content: data, Source: r.opts.Source}
		if rd.state != catalog.Live {
			sf.Handle = aptos.LiveHandle(rd.name)
		}
		if hasStat {
			folder, _, _ := strings.Cut(rd.handle, "/")
			sf.Source = Provenance(r.opts.Source, folder, st)
		}
		c := r.check(sf)
		if why := r.inProgress(sf, rd, c, st.ModTime, hasStat); why != "" {
			return checked{}, &strayError{reason: why, inProgress: true}, nil
		}
		return c, nil, nil
	case ctx.Err() != nil:
		return checked{}, nil, ctx.Err()
	case errors.Is(err, storage.ErrTooLarge):
		return checked{}, &sizeError{limit: r.opts.MaxFileSize}, nil
	case errors.Is(err, storage.ErrCorrupt):
		return checked{}, err, nil
	case errors.Is(err, storage.ErrNotRegular):
		return checked{}, strayNotRegular(err), nil
	case errors.Is(err, fs.ErrNotExist):
		return checked{}, nil, fmt.Errorf("import: %s was listed but is gone (moved or deleted meanwhile, perhaps by a compactor; run the import again): %w", rd.handle, err)
	case errors.As(err, new(*storage.CommandError)):
		// The adapter's error names the call and the handle already.
		return checked{}, nil, fmt.Errorf("import: %w", err)
	default:
		return checked{}, nil, fmt.Errorf("import %s: %w", rd.handle, err)
	}
}

// strayName returns why a listed name is not one metactl imports, or nil
// for a ShellSafeName ending in ".meta", as every file Aptos writes is
// named.
func strayName(name string) *strayError {
	switch {
	case strings.HasPrefix(name, "."):
		return errStrayDotfile
	case !strings.HasSuffix(name, ".meta"):
		return errStrayNotMeta
	case aptos.ValidName(name) != nil:
		return errStrayName
	}
	return nil
}

// Files imports the given files into db: [Prepare], then [Batch.Commit].
func Files(ctx context.Context, db catalog.DB, files []SourceFile, opts Options) (*Result, error) {
	b, err := Prepare(ctx, files, opts)
	if err != nil {
		return nil, err
	}
	return b.Commit(ctx, db)
}

// Prepare parses and validates files already in hand (an archive's), and
// checks them against each other, without the catalog, as [Read] does for
// a storage. The same handle may be given twice, live and moved, as a
// storage listing both folders would; the files are taken to cover both
// folders, so Result.Missing lists every catalog file not among them.
func Prepare(ctx context.Context, files []SourceFile, opts Options) (*Batch, error) {
	r := newRun(opts.withDefaults())
	r.movedListed = true
	return r.prepare(ctx, files)
}

// Batch is a source read and validated, not yet committed: what [Read]
// and [Prepare] return. It does not depend on the catalog, so it can be
// made before the catalog is opened, and [Batch.Commit] compares it with
// whatever generation the catalog holds when the write transaction starts.
type Batch struct {
	r        *run
	items    []*item
	files    int
	known    int // listed files not read: the catalog holds them
	lines    int
	warnings []Warning
	// check, if set, runs in the write transaction after every change and
	// aborts it by returning an error (an archive's header check).
	check func(tx catalog.Tx) error
	// spool holds the content of the files Read spooled, or is nil.
	spool *spool
}

// ReadBack returns the size of the largest file Commit reads back whole
// from the batch's spool (0 if it spooled nothing): what Commit needs in
// memory beyond what the batch holds, for a caller that sets a memory
// limit around it.
func (b *Batch) ReadBack() int64 {
	if b.r.spooler == nil {
		return 0
	}
	return int64(b.r.spooler.largest)
}

// Close releases what the batch holds outside memory (the spool file of a
// large Read). Commit cannot be called after it. Close may be called more
// than once, and on a nil Batch.
func (b *Batch) Close() {
	if b != nil && b.spool != nil {
		b.spool.close()
		b.spool = nil
	}
}

// Warnings returns the warnings found while reading and validating, sorted
// (Commit adds those that depend on the catalog to Result.Warnings).
func (b *Batch) Warnings() []Warning { return slices.Clone(b.warnings) }

// Problems reports whether the batch holds bad input: Commit will then
// refuse it with an *InputError and write nothing.
func (b *Batch) Problems() bool { return !b.r.probs.empty() }

// Err returns the *InputError of the batch's own problems, found without
// the catalog, or nil. Commit returns them too, with the conflicts against
// the catalog; Err serves a caller that has no catalog to compare with
// (a first import), so it need not create one to refuse the input.
func (b *Batch) Err() error {
	if b.r.probs.empty() {
		return nil
	}
	return b.r.probs.err()
}

// prepare validates the files and checks them against each other.
func (r *run) prepare(ctx context.Context, files []SourceFile) (*Batch, error) {
	items, err := r.validate(ctx, files)
	if err != nil {
		return nil, err
	}
	return r.finish(items, len(files)), nil
}

// finish checks the validated files against each other.
func (r *run) finish(items []*item, files int) *Batch {
	b := &Batch{r: r, files: files}
	for _, it := range items {
		b.lines += it.lineCount
	}
	b.warnings = fileWarnings(items, r.skipped, r.now)
	b.items = r.merge(items)
	r.checkIdentities(b.items)
	failpoint.Hit("import.after-validate")
	return b
}

// run is one import in progress.
type run struct {
	opts        Options
	prog        reporter
	probs       problems
	movedListed bool            // the source listed metadata_backup/
	aside       []*quarantined  // files set aside (Options.Quarantine)
	statFn      statFunc        // the source's StatFile, or nil
	readStat    readStatFunc    // with statFn: its reader's ReadFileStat, or nil
	newest      map[string]bool // live names newest of their kind (Options.InProgress)
	skipped     []stray         // stray entries
	firstID     *idLine         // the first Identity line (checkIdentities)
	firstIn     string          // and the file it is in
	now         time.Time       // Options.Now, read once, for the warnings
	spooler     *spooler        // Read's: the files spooled, if any
}

// stray is an entry that was not imported, and why.
type stray struct {
	handle string // as the storage names it
	reason *strayError
}

// clone returns a copy whose problems can grow without changing r's, so a
// Batch can be committed (or its commit retried) more than once.
func (r *run) clone() *run {
	c := *r
	c.probs.list = slices.Clone(r.probs.list)
	return &c
}

func newRun(opts Options) *run {
	return &run{opts: opts, prog: reporter{fn: opts.Progress}, probs: problems{max: opts.MaxProblems}, now: opts.now()}
}

// stray skips a stray entry, or records it as a Problem with Strict.
func (r *run) stray(handle string, reason *strayError) {
	if r.opts.Strict {
		r.probs.add(Problem{Handle: handle, Err: reason})
		return
	}
	r.skipped = append(r.skipped, stray{handle, reason})
}

// item is one source file after validation. Files listed in both folders
// with the same content are merged into one live item.
type item struct {
	SourceFile
	shown string // the handle as the storage names it, for messages
	// known marks a file not read (Options.Known): the catalog holds its
	// name; only its State is the source's. sha, lines and ids are empty.
	known     bool
	sha       [32]byte
	lines     []aptos.Metadata
	ids       []idLine
	lineCount int
	// sum, for a big file (bigFile), stands for lines, which are not
	// kept: parsed again a batch at a time when needed (forEachLine,
	// lineBatches).
	sum *lineSummary
	// spool, if not nil, holds the file's content (size bytes at off):
	// Read spooled it (spool.go), and Content and lines are nil. warns
	// are then its warnings and entryLines its lines that are entries,
	// computed before its content was dropped.
	spool      *spool
	off        int64
	size       int
	warns      []Warning
	entryLines int
}

// idLine is an Identity line of a file.
type idLine struct {
	line int
	id   aptos.HashValue
}

// storageHandle returns how the storage names a file of the catalog.
func storageHandle(handle string, s catalog.State) string {
	if s == catalog.Moved {
		return aptos.MovedHandle(aptos.BaseName(handle))
	}
	return handle
}

// Commit writes the batch into db in ONE write transaction, only if
// nothing at all is wrong. The changes are planned inside that
// transaction, against the generation it finds, so a writer that committed
// since the batch was read (another import, a compaction) is taken into
// account: the plan is recomputed, never refused for being stale. Bad input
// gives an *InputError listing every problem, those of the batch and its
// conflicts with the catalog, and nothing is written.
//
// The lock is held only for this call: open the catalog for writing just
// before it and close it just after.
func (b *Batch) Commit(ctx context.Context, db catalog.DB) (*Result, error) {
	r, items := b.r.clone(), b.items
	res := &Result{Files: b.files, Lines: b.lines, KnownSkipped: b.known}
	if !r.probs.empty() {
		// Report the catalog conflicts too, from a read-only look, so the
		// operator sees every problem at once.
		if err := db.View(ctx, func(tx catalog.Tx) error {
			_, err := r.plan(tx, items, false)
			return err
		}); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		return nil, r.probs.err()
	}

	update := func(fn func(catalog.WriteTx) error) (*catalog.Operation, error) {
		return db.Update(ctx, catalog.KindImport, fn)
	}
	if bu, ok := db.(catalog.BulkUpdater); ok && (b.lines >= bulkLines || b.spool != nil) {
		// Too large for one bbolt transaction's memory: written on a
		// scratch copy of the catalog, committing as it goes, published
		// whole (the same operation either way).
		update = func(fn func(catalog.WriteTx) error) (*catalog.Operation, error) {
			return bu.UpdateBulk(ctx, catalog.KindImport, func(tx catalog.BulkWriteTx) error { return fn(tx) })
		}
	}
	var p *plan
	op, err := update(func(tx catalog.WriteTx) error {
		var err error
		if p, err = r.plan(tx, items, true); err != nil {
			return err
		}
		if !r.probs.empty() {
			return r.probs.err()
		}
		tx.SetInputs(r.opts.Source)
		r.prog.report(PhaseCommit, 0, len(items))
		checkpoint := func(it *item) error {
			if bt, ok := tx.(catalog.BulkWriteTx); ok {
				if err := bt.Checkpoint(); err != nil {
					return fmt.Errorf("import %s: %w", it.shown, err)
				}
			}
			return nil
		}
		var tally lineTally
		for i, it := range items {
			if i%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var also func([]aptos.Metadata)
			if p.fromIndex && it.State == catalog.Live {
				switch {
				case p.actions[i] != actAdd && it.spool != nil:
					tally.lines += it.entryLines
				case p.actions[i] != actAdd:
					if err := it.forEachLine(func(m *aptos.Metadata) { tally.count(m) }); err != nil {
						return err
					}
				case it.sum == nil && it.spool == nil:
					tally.add(it.lines)
				default:
					also = tally.add // as the big or spooled file is parsed again
				}
			}
			switch p.actions[i] {
			case actAdd:
				// A spooled file is read back now, and dropped once
				// written (the checkpoint below commits it).
				content, err := it.content()
				if err != nil {
					return err
				}
				if _, err := tx.PutFile(catalog.NewFile{Handle: it.Handle, Content: content, State: it.State,
					Source: it.Source, Lines: it.lines, LineBatches: it.lineBatches(content, also), SHA256: it.sha}); err != nil {
					return fmt.Errorf("import %s: %w", it.shown, err)
				}
			case actMove:
				if p.fromIndex {
					break // after every add: see below
				}
				if err := tx.SetState(it.Handle, catalog.Moved); err != nil {
					return fmt.Errorf("import %s: %w", it.shown, err)
				}
			}
			if err := checkpoint(it); err != nil {
				return err
			}
			r.prog.report(PhaseCommit, i+1, len(items))
		}
		if p.fromIndex {
			// Every added file is written and no file moved yet: the
			// entries the view gained are the live entry lines that are
			// not duplicates (each new entry's first line). Then the
			// moves, which take entries out of the view again.
			p.duplicates = tally.lines - (tx.EntryCount() - p.entriesBefore)
			for i, it := range items {
				if p.actions[i] != actMove {
					continue
				}
				if err := tx.SetState(it.Handle, catalog.Moved); err != nil {
					return fmt.Errorf("import %s: %w", it.shown, err)
				}
				if err := checkpoint(it); err != nil {
					return err
				}
			}
		}
		if err := r.writeQuarantine(tx, items, p, res); err != nil {
			return err
		}
		failpoint.Hit("import.after-put")
		if b.check != nil {
			if err := b.check(tx); err != nil {
				return err
			}
		}
		switch {
		case p.fromIndex && p.moved > 0:
			txns, epochs, err := entrySpans(tx)
			if err != nil {
				return err
			}
			p.warnings = spanGapWarnings(slices.Clone(p.txnsBefore), slices.Clone(p.epochsBefore), txns, epochs)
		case p.fromIndex && p.added > 0:
			p.warnings = spanGapWarnings(slices.Clone(p.txnsBefore), slices.Clone(p.epochsBefore),
				append(p.txnsBefore, tally.txns...), append(p.epochsBefore, tally.epochs...))
		case p.fromIndex:
		case p.added+p.moved > 0:
			after, err := tx.View()
			if err != nil {
				return err
			}
			p.warnings = gapWarnings(p.before, after)
		}
		tx.SetNote(journalNote(p.added, p.moved, p.unchanged, len(p.keptMoved), len(p.missing)))
		p.entries = tx.EntryCount()
		return nil
	})
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			return nil, err
		}
		if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
			return nil, fmt.Errorf("import: %w", cerr)
		}
		return nil, wrapImport(err)
	}
	res.Entries = p.entries
	res.Duplicates = p.duplicates
	res.Added, res.Moved, res.Unchanged = p.added, p.moved, p.unchanged
	res.Missing, res.KeptMoved, res.DeletedInStorage = p.missing, p.keptMoved, p.deleted
	res.Skipped = make([]string, 0, len(r.skipped))
	for _, st := range r.skipped {
		res.Skipped = append(res.Skipped, st.handle)
	}
	slices.Sort(res.Skipped)
	res.Warnings = append(slices.Clone(b.warnings), p.warnings...)
	sortWarnings(res.Warnings)
	res.Generation, res.Changed = op.Generation, op.Changed()
	res.DigestBefore, res.DigestAfter = op.DigestBefore, op.DigestAfter
	return res, nil
}

// bulkLines is the number of lines read from which Commit writes with
// catalog.BulkUpdater when the catalog has it (as compaction does from
// compaction.DefaultBulkEntries entries): a batch this large held in one
// bbolt transaction took most of an import's memory.
var bulkLines = 200_000

// checked is one file after checkFile.
type checked struct {
	it    *item
	probs []Problem
	bad   int // problems in the file, listed or not
}

// check parses and validates one file; it only reads r, so it may run on
// many goroutines at once.
func (r *run) check(sf SourceFile) checked {
	if sf.Source == "" {
		sf.Source = r.opts.Source
	}
	it, probs, bad := checkFile(sf, r.opts.MaxProblems, r.opts.MaxFileSize)
	return checked{it, probs, bad}
}

// validate parses and validates every file, on all CPUs, and records the
// problems in file order.
func (r *run) validate(ctx context.Context, files []SourceFile) ([]*item, error) {
	out := make([]checked, len(files))
	r.prog.report(PhaseValidate, 0, len(files))
	err := forEach(ctx, len(files), runtime.GOMAXPROCS(0), func(ctx context.Context, i int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		out[i] = r.check(files[i])
		return nil
	}, func(done int) { r.prog.report(PhaseValidate, done, len(files)) })
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return r.collect(out), nil
}

// collect records the problems of the checked files, in their order, and
// returns their items.
func (r *run) collect(out []checked) []*item {
	items := make([]*item, 0, len(out))
	for _, c := range out {
		if c.bad > 0 && r.opts.Quarantine {
			r.setAside(c.it.shown, aptos.BaseName(c.it.Handle), c.it.State, c.it, c.probs)
			continue
		}
		for _, p := range c.probs {
			r.probs.add(p)
		}
		r.probs.more += c.bad - len(c.probs)
		items = append(items, c.it)
	}
	return items
}

// checkFile parses and validates one file. It returns the file's problems,
// at most max of them in line order, and how many it has in all.
func checkFile(sf SourceFile, max int, maxSize int64) (*item, []Problem, int) {
	it := &item{SourceFile: sf, shown: storageHandle(sf.Handle, sf.State), sha: sha256.Sum256(sf.Content)}
	if err := aptos.ValidateHandle(sf.Handle); err != nil {
		return it, []Problem{{Handle: sf.Handle, Err: err}}, 1
	}
	if sf.State != catalog.Live && sf.State != catalog.Moved {
		return it, []Problem{{Handle: sf.Handle, Err: fmt.Errorf("invalid state %d: %w", sf.State, aptos.ErrInvalid)}}, 1
	}
	if int64(len(sf.Content)) > maxSize {
		return it, []Problem{{Handle: it.shown, Err: &sizeError{limit: maxSize}}}, 1
	}
	if len(sf.Content) > bigFile {
		return checkBigFile(it, max)
	}
	lines, errs := aptos.ParseFileAll(sf.Content, max+1)
	var probs []Problem
	ei, next := 0, 1 // next line number
	for i := range lines {
		for ei < len(errs) && errs[ei].Line == next {
			probs = append(probs, Problem{Handle: it.shown, Line: next, Err: errs[ei].Err})
			ei, next = ei+1, next+1
		}
		m := &lines[i]
		if err := aptos.ValidateEntry(m); err != nil {
			probs = append(probs, Problem{Handle: it.shown, Line: next, Err: err})
		}
		if m.Kind == aptos.KindIdentity {
			it.ids = append(it.ids, idLine{line: next, id: m.Identity.ID})
		}
		next++
	}
	for ; ei < len(errs); ei++ {
		probs = append(probs, Problem{Handle: it.shown, Line: errs[ei].Line, Err: errs[ei].Err})
	}
	bad := len(probs)
	if len(errs) > max {
		// ParseFileAll gave up: count the rest without keeping it.
		bad = countBad(sf.Content)
	}
	if len(probs) > max {
		probs = probs[:max]
	}
	it.lines, it.lineCount = lines, len(lines)+len(errs)
	return it, probs, bad
}

// bigFile is the content size above which an item keeps no parsed lines:
// they are parsed again, one at a time or a batch at a time, by whatever
// needs them (warnings, the catalog's PutFile), so a file of a million
// lines costs its bytes, not also a million parsed entries (~160 bytes
// each). Smaller files keep theirs: parsed once, as fast as before.
const bigFile = 4 << 20

// checkBigFile is checkFile for content larger than bigFile: every line
// parsed and validated, one at a time, none kept.
func checkBigFile(it *item, max int) (*item, []Problem, int) {
	sum := &lineSummary{firstOf: make(map[aptos.Kind]int), kinds: make(map[aptos.Kind]int)}
	var probs []Problem
	bad, n := 0, 0
	for line := range aptos.Lines(it.Content) {
		n++
		m, err := aptos.ParseLine(line)
		if err == nil {
			err = aptos.ValidateEntry(&m)
		}
		if err != nil {
			if bad++; bad <= max {
				probs = append(probs, Problem{Handle: it.shown, Line: n, Err: err})
			}
			continue
		}
		if m.Kind == aptos.KindIdentity {
			it.ids = append(it.ids, idLine{line: n, id: m.Identity.ID})
		}
		sum.note(n, &m)
	}
	it.lineCount = n
	it.sum = sum
	return it, probs, bad
}

// lineSummary is what the warnings need of a big file's lines (see
// fileWarnings), kept instead of the lines.
type lineSummary struct {
	n           int // lines that parse and validate
	first, last aptos.Metadata
	firstOf     map[aptos.Kind]int // the first line of each kind
	stamps      []aptos.Metadata   // its CompactionTimestamps lines
	kinds       map[aptos.Kind]int // lines of each kind
}

func (s *lineSummary) note(line int, m *aptos.Metadata) {
	if s.n++; s.n == 1 {
		s.first = *m
	}
	s.last = *m
	if _, ok := s.firstOf[m.Kind]; !ok {
		s.firstOf[m.Kind] = line
	}
	s.kinds[m.Kind]++
	if m.Kind == aptos.KindCompactionTimestamps {
		s.stamps = append(s.stamps, *m)
	}
}

// lineBatches returns a NewFile.LineBatches for a big or spooled item
// (nil for others, whose lines are kept): content, its bytes, parsed
// lineBatch lines at a time into one reused slice, each batch also given
// to also, if not nil.
func (it *item) lineBatches(content []byte, also func([]aptos.Metadata)) func(fn func([]aptos.Metadata) error) error {
	if it.sum == nil && it.spool == nil {
		return nil
	}
	return func(fn func([]aptos.Metadata) error) error {
		// A small (spooled) file's lines fit a smaller slice: 10,000
		// files of 100 lines each cleared a whole batch (4,096 lines,
		// 800 KB), a fifth of the import's CPU time.
		batch := make([]aptos.Metadata, 0, max(1, min(lineBatch, it.lineCount)))
		put := func() error {
			if also != nil {
				also(batch)
			}
			err := fn(batch)
			clear(batch)
			batch = batch[:0]
			return err
		}
		for line := range aptos.Lines(content) {
			m, err := aptos.ParseLine(line)
			if err != nil {
				return fmt.Errorf("parse %s again: %w", it.shown, err) // it parsed when read
			}
			if batch = append(batch, m); len(batch) == lineBatch {
				if err := put(); err != nil {
					return err
				}
			}
		}
		if len(batch) == 0 {
			return nil
		}
		return put()
	}
}

// lineBatch is how many lines of a big file are parsed at a time.
const lineBatch = 4096

// forEachLine calls fn with the entry of every line of it that parses,
// in order: its kept lines, or those of a big or spooled file parsed one
// at a time (m is then valid only during the call). It fails only if a
// spooled file cannot be read back.
func (it *item) forEachLine(fn func(m *aptos.Metadata)) error {
	if it.sum == nil && it.spool == nil {
		for i := range it.lines {
			fn(&it.lines[i])
		}
		return nil
	}
	content, err := it.content()
	if err != nil {
		return err
	}
	for line := range aptos.Lines(content) {
		if m, err := aptos.ParseLine(line); err == nil {
			fn(&m)
		}
	}
	return nil
}

// countBad counts the lines of content that fail to parse or validate,
// splitting lines as [aptos.SplitLines] does without keeping them.
func countBad(content []byte) int {
	n := 0
	for line := range aptos.Lines(content) {
		m, err := aptos.ParseLine(line)
		if err != nil || aptos.ValidateEntry(&m) != nil {
			n++
		}
	}
	return n
}

// merge orders the items by handle, live before moved, and merges a name
// listed in both folders: the same content is one live file (the catalog
// still keeps it moved if it has it moved); other content is a conflict.
func (r *run) merge(items []*item) []*item {
	slices.SortStableFunc(items, func(a, b *item) int {
		return cmp.Or(cmp.Compare(a.Handle, b.Handle), cmp.Compare(a.State, b.State))
	})
	out := items[:0]
	for i := 0; i < len(items); i++ {
		it := items[i]
		for i+1 < len(items) && items[i+1].Handle == it.Handle {
			dup := items[i+1]
			i++
			if !it.known && !dup.known && dup.sha != it.sha {
				r.probs.add(Problem{Handle: it.shown, Err: fmt.Errorf("content (sha256 %x) differs from that of %s (sha256 %x), the same name: %w",
					it.sha[:8], dup.shown, dup.sha[:8], catalog.ErrConflict)})
				continue
			}
		}
		out = append(out, it)
	}
	return out
}

// checkIdentities refuses Identity lines that differ within the import:
// the first one (in handle and line order) is the reference. A streaming
// import calls it once per batch of items, in handle order.
func (r *run) checkIdentities(items []*item) {
	for _, it := range items {
		for i := range it.ids {
			l := it.ids[i]
			first := r.firstID
			if first == nil {
				r.firstID, r.firstIn = &l, it.shown
				continue
			}
			if l.id != first.id {
				r.probs.add(Problem{Handle: it.shown, Line: l.line, Err: fmt.Errorf("identity %s differs from identity %s in %s:%d (two chains in one storage): %w",
					l.id, first.id, r.firstIn, first.line, catalog.ErrConflict)})
			}
		}
	}
}

type action uint8

const (
	actNone action = iota
	actAdd
	actMove
)

// plan is what the import does to the catalog.
type plan struct {
	actions                 []action // per item
	added, moved, unchanged int
	keptMoved, missing      []string
	deleted                 []string // moved files the catalog deleted, same content
	duplicates              int
	entries                 int
	before                  *aptos.View // the view before the import (full plans, unless fromIndex)
	// fromIndex: every live file read is added or already live in the
	// catalog, so the duplicates are the live entry lines less the
	// entries the added files add to the view (see Commit).
	fromIndex bool
	// otherLive: a live file read is one the catalog has moved, or
	// deleted (p.deleted): not fromIndex.
	otherLive                bool
	entriesBefore            int
	txnsBefore, epochsBefore []span
	warnings                 []Warning // warnings that depend on the catalog
}

// plan compares the items with the catalog, adding conflicts to the
// problems. With full, it also counts duplicate lines, which needs the
// whole view.
func (r *run) plan(tx catalog.Tx, items []*item, full bool) (*plan, error) {
	existing := make(map[string]*catalog.File)
	if err := tx.ForEachFile(false, func(f *catalog.File) error {
		existing[f.Handle] = f
		return nil
	}); err != nil {
		return nil, err
	}
	if id, ok := tx.Identity(); ok {
		for _, it := range items {
			for _, l := range it.ids {
				if l.id != id {
					r.probs.add(Problem{Handle: it.shown, Line: l.line, Err: fmt.Errorf("identity %s differs from the catalog's identity %s: %w",
						l.id, id, catalog.ErrConflict)})
				}
			}
		}
	}
	p := &plan{actions: make([]action, len(items))}
	listed := make(map[string]bool, len(items))
	var prunable map[uint64]bool // read when first needed
	for i, it := range items {
		listed[it.Handle] = true
		f, ok := existing[it.Handle]
		if it.known {
			switch {
			case !ok:
				// Gone from the catalog since it was read (an undo, a
				// cleanup): this batch has no content for it.
				if _, err := tx.Deleted(it.Handle); err == nil && it.State == catalog.Moved {
					p.deleted = append(p.deleted, it.Handle)
					continue
				}
				return nil, fmt.Errorf("%s: %w (run the import again)", it.shown, ErrStale)
			case f.State == it.State:
				p.unchanged++
			case f.State == catalog.Live:
				p.actions[i] = actMove
				p.moved++
			default:
				p.keptMoved = append(p.keptMoved, it.Handle)
			}
			continue
		}
		if !ok {
			// A file the catalog deleted (cleanup, an undo) is still in
			// a storage that was never pruned: the catalog's decision
			// stands, or every drop-in sync after a cleanup would import
			// it again. A moved file, whatever deleted it; a live one if
			// export --prune would remove it (cleanup, or an undo of the
			// compaction that wrote it: cleanup.PrunableGenerations), so
			// import and prune agree.
			d, err := tx.Deleted(it.Handle)
			switch {
			case err == nil && d.SHA256 == it.sha:
				if it.State != catalog.Moved && prunable == nil {
					if prunable, err = cleanup.PrunableGenerations(tx); err != nil {
						return nil, err
					}
				}
				if it.State == catalog.Moved || prunable[d.Generation] {
					p.deleted = append(p.deleted, it.Handle)
					p.otherLive = p.otherLive || it.State == catalog.Live
					continue
				}
			case err != nil && !errors.Is(err, catalog.ErrNotFound):
				return nil, err
			}
		}
		switch {
		case !ok:
			p.actions[i] = actAdd
			p.added++
		case f.SHA256 != it.sha:
			r.probs.add(Problem{Handle: it.shown, Err: fmt.Errorf("content (sha256 %x, from %s) differs from the catalog's %s file of the same name (sha256 %x, from %s, imported %s); a file's content never changes: %w",
				it.sha[:8], orUnknown(it.Source), f.State, f.SHA256[:8], orUnknown(f.Source), f.ImportedAt.UTC().Format(time.RFC3339), catalog.ErrConflict)})
		case f.State == it.State:
			p.unchanged++
		case f.State == catalog.Live: // and the source moved it
			p.actions[i] = actMove
			p.moved++
		default: // moved in the catalog, live in the source
			p.keptMoved = append(p.keptMoved, it.Handle)
			p.otherLive = true
		}
	}
	for h, f := range existing {
		if listed[h] || (f.State == catalog.Moved && !r.movedListed) {
			continue
		}
		p.missing = append(p.missing, storageHandle(h, f.State))
	}
	slices.Sort(p.missing)
	if !full || !r.probs.empty() {
		return p, nil
	}
	if p.added+p.moved == 0 && !slices.ContainsFunc(items, func(it *item) bool { return !it.known }) {
		// An incremental no-op: nothing read, nothing to change; the view
		// (the largest part of the work) is not needed.
		return p, nil
	}
	if !p.otherLive {
		// Every live file read is added or held live already: the
		// duplicate count comes from the entry index's growth while the
		// added files are written, before any move (fromIndex), not
		// from a map of every line. The gap warnings need only the
		// ranges of the view before, read from the entry index before
		// anything is written, and of the view after: those and the
		// added lines' ranges, or, if files move, the index's again. So
		// no whole view is built.
		p.fromIndex, p.entriesBefore = true, tx.EntryCount()
		var err error
		if p.txnsBefore, p.epochsBefore, err = entrySpans(tx); err != nil {
			return nil, err
		}
		return p, nil
	}
	// A live file read that the catalog has moved or deleted: whether
	// its lines are duplicates depends on the view before, line by line.
	v, err := tx.View()
	if err != nil {
		return nil, err
	}
	p.before = v
	if p.duplicates, err = countDuplicates(v, items); err != nil {
		return nil, err
	}
	return p, nil
}

// entrySpans returns the transaction and epoch-ending ranges of tx's
// view, read from its entry index (catalog.Tx.ForEachEntry, in key order:
// by first version or epoch), each run of overlapping or adjacent ranges
// merged into one: the holes, all the gap warnings look at, are the same,
// and a catalog's ranges take a few spans instead of 16 bytes an entry.
func entrySpans(tx catalog.Tx) (txns, epochs []span, err error) {
	add := func(spans []span, s span) []span {
		if n := len(spans); n > 0 && s.first <= spans[n-1].last+1 { // last < u64::MAX: validated
			spans[n-1].last = max(spans[n-1].last, s.last)
			return spans
		}
		return append(spans, s)
	}
	err = tx.ForEachEntry(func(m *aptos.Metadata) error {
		switch m.Kind {
		case aptos.KindTransaction:
			txns = add(txns, span{m.Transaction.FirstVersion, m.Transaction.LastVersion})
		case aptos.KindEpochEnding:
			epochs = add(epochs, span{m.EpochEnding.FirstEpoch, m.EpochEnding.LastEpoch})
		}
		return nil
	})
	return txns, epochs, err
}

// lineTally counts the live entry lines an import writes or holds and
// notes the ranges of those it adds (a plan fromIndex).
type lineTally struct {
	lines        int    // entry lines of the live items
	txns, epochs []span // ranges of the added live lines
}

func (t *lineTally) count(m *aptos.Metadata) bool {
	if !isEntry(m.Kind) {
		return false
	}
	t.lines++
	return true
}

func (t *lineTally) add(lines []aptos.Metadata) {
	for i := range lines {
		m := &lines[i]
		if !t.count(m) {
			continue
		}
		switch m.Kind {
		case aptos.KindTransaction:
			t.txns = append(t.txns, span{m.Transaction.FirstVersion, m.Transaction.LastVersion})
		case aptos.KindEpochEnding:
			t.epochs = append(t.epochs, span{m.EpochEnding.FirstEpoch, m.EpochEnding.LastEpoch})
		}
	}
}

// orUnknown returns provenance s for a message: without the stat
// [Provenance] records, or "an unknown source".
func orUnknown(s string) string {
	if src, _, _, ok := splitProvenance(s); ok {
		s = src
	}
	if s == "" {
		return "an unknown source"
	}
	return s
}

// entryKey identifies a view entry (Metadata without its map field is
// comparable).
type entryKey struct {
	kind aptos.Kind
	e    aptos.EpochEndingBackup
	s    aptos.StateSnapshotBackup
	t    aptos.TransactionBackup
}

func keyOf(m *aptos.Metadata) (entryKey, bool) {
	switch m.Kind {
	case aptos.KindEpochEnding:
		return entryKey{kind: m.Kind, e: m.EpochEnding}, true
	case aptos.KindStateSnapshot:
		return entryKey{kind: m.Kind, s: m.StateSnapshot}, true
	case aptos.KindTransaction:
		return entryKey{kind: m.Kind, t: m.Transaction}, true
	}
	return entryKey{}, false
}

// countDuplicates counts the entry lines of the live items whose entry is
// in the view v (the catalog's before the import) already or came earlier
// in the source.
func countDuplicates(v *aptos.View, items []*item) (int, error) {
	seen := make(map[entryKey]struct{}, v.Len())
	v.ForEachEntry(func(m *aptos.Metadata) {
		k, _ := keyOf(m)
		seen[k] = struct{}{}
	})
	n := 0
	for _, it := range items {
		if it.State != catalog.Live {
			continue
		}
		if err := it.forEachLine(func(m *aptos.Metadata) {
			k, ok := keyOf(m)
			if !ok {
				return
			}
			if _, dup := seen[k]; dup {
				n++
				return
			}
			seen[k] = struct{}{}
		}); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// journalNote is an import's journal note. Both paths (Commit and the
// streamed first import) write it, and must write it alike.
func journalNote(added, moved, unchanged, keptMoved, missing int) string {
	files := "files"
	if added == 1 {
		files = "file"
	}
	return fmt.Sprintf("%d %s added, %d moved, %d unchanged, %d kept moved, %d missing from the source",
		added, files, moved, unchanged, keptMoved, missing)
}
