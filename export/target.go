package export

import (
	"context"
	"crypto/sha256"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/storage"
	"golang.org/x/sync/errgroup"
)

// Target is a legacy Aptos backup storage that a catalog is published to:
// the write side, as [storage.Source] is the read side. [Dir] (a LocalFs
// folder) and [Adapter] (an Aptos command adapter) implement it, as
// [storage.Local] and [storage.CommandAdapter] implement [storage.Source].
type Target interface {
	// Publish makes the storage hold s, in the order and with the
	// guarantees of the package documentation: every new file written
	// before any old one is moved, nothing the catalog does not know
	// removed or overwritten (only, with opts.Prune, files s records as
	// deleted by cleanup). With opts.DryRun it changes nothing and
	// returns what it would do.
	Publish(ctx context.Context, s *Snapshot, opts Options) (*Result, error)
	// String names the storage for messages: the folder or the config
	// path.
	String() string
}

// Both backends implement Target.
var (
	_ Target = (*Dir)(nil)
	_ Target = (*Adapter)(nil)
)

// Options configures Publish. The zero value writes, and removes nothing
// the catalog does not know.
type Options struct {
	// Prune removes the files the snapshot records as deleted by cleanup
	// (Snapshot.Deleted) that are still in the storage. Nothing else the
	// catalog does not know is ever removed. An Adapter cannot remove
	// (the command adapter has no delete command): it reports them.
	Prune bool
	// DryRun reads the storage and returns what Publish would do,
	// changing nothing: no file, folder or lock file is created.
	DryRun bool
	// Force publishes over files the catalog never wrote (another
	// chain's identity, other content at a name the catalog owns), which
	// Publish otherwise refuses with a *ForeignError before changing
	// anything; Result.Overridden lists them.
	Force bool
	// Synced says the catalog was just synced from this very target (the
	// drop-in compaction: import, compact, publish back): the sync
	// refused another identity and checked every new name, and trusts
	// the names it knows, as export does then. An Adapter then reads
	// nothing to check (every read is a download); a Dir checks anyway,
	// since it reads those files to compare them in any case.
	Synced bool
	// Progress, if not nil, is called after each catalog file has been
	// checked or written (or each adapter command has run), with the
	// number done and the total. Calls may come from several goroutines,
	// but one at a time.
	Progress func(done, total int)
}

// Kept reasons: why an entry the catalog does not know was left alone.
const (
	// KeptNew is a valid metadata file the catalog does not know yet:
	// the backup coordinator wrote it after the last import.
	KeptNew = "new"
	// KeptDeleted is a file the catalog records as deleted by cleanup,
	// left because Prune was not given (or the target cannot delete).
	KeptDeleted = "deleted"
	// KeptOther is anything else: not a regular file, not a valid name,
	// content that does not parse. Export never removes it.
	KeptOther = "not-metadata"
	// KeptQuarantined is a file the catalog holds as quarantined (import
	// --quarantine): never written over, moved or removed while it is.
	KeptQuarantined = "quarantined"
)

// Kept is an entry of metadata/ or metadata_backup/ that the catalog does
// not know, left in place.
type Kept struct {
	// Path is "metadata/<name>" or "metadata_backup/<name>".
	Path string `json:"path"`
	// Reason is KeptNew, KeptDeleted or KeptOther.
	Reason string `json:"reason"`
	// Detail says more for KeptOther (what the entry is, why it does not
	// parse) and for a KeptDeleted file an Adapter cannot remove.
	Detail string `json:"detail,omitempty"`
}

// Message is the line the CLI prints for k, after its path.
func (k Kept) Message() string {
	switch k.Reason {
	case KeptNew:
		return "new in the storage, not in the catalog: run import"
	case KeptDeleted:
		if k.Detail != "" {
			return "deleted by cleanup: " + k.Detail
		}
		return "deleted from the catalog (cleanup, or an undo of a compaction): export --prune removes it"
	}
	if k.Reason == KeptQuarantined {
		return "quarantined (" + k.Detail + "): left alone; replace or remove it, then sync"
	}
	return "not in the catalog, not a metadata file (" + k.Detail + "): left alone"
}

// keepQuarantined returns s's files without those at a quarantined name,
// and the Kept entries for those names that the storage holds (present
// reports whether path, "metadata/<name>" or "metadata_backup/<name>", is
// in the storage). Publish calls it first: a quarantined file is never
// written over, moved or removed.
func (s *Snapshot) keepQuarantined(present func(path string) bool) ([]*catalog.File, []Kept) {
	if len(s.Quarantined) == 0 {
		return s.Files, nil
	}
	var files []*catalog.File
	for _, f := range s.Files {
		if _, q := s.Quarantined[f.Name()]; !q {
			files = append(files, f)
		}
	}
	var kept []Kept
	for name, why := range s.Quarantined {
		for _, dir := range []string{aptos.MetadataDir, aptos.MetadataBackupDir} {
			if p := dir + "/" + name; present(p) {
				kept = append(kept, Kept{Path: p, Reason: KeptQuarantined, Detail: why})
			}
		}
	}
	return files, kept
}

// Result says what Publish did, or with Options.DryRun would do. Paths are
// "metadata/<name>" or "metadata_backup/<name>", each list in the order
// the work is done (handle order within a phase).
type Result struct {
	// Target is the storage's String.
	Target string `json:"target"`
	// Generation is the catalog generation published.
	Generation uint64 `json:"generation"`
	// DryRun is Options.DryRun: nothing was changed.
	DryRun bool `json:"dry_run"`
	// Written lists the files created or replaced (a Dir rewrites a file
	// whose bytes differ; an Adapter saves the live files the remote does
	// not list). The copy a Dir writes into the other folder for a move is
	// not listed here: the move is listed once, in Moved.
	Written []string `json:"written"`
	// Moved lists the stale copies removed once the right copy was in
	// place: "metadata/<name>" for a file the catalog moved (the move
	// itself: an Adapter runs backup_metadata_file), and
	// "metadata_backup/<name>" for a file the catalog has live again.
	Moved []string `json:"moved"`
	// Unchanged counts catalog files that needed nothing.
	Unchanged int `json:"unchanged"`
	// Removed lists the files removed with Options.Prune: deleted by
	// cleanup.
	Removed []string `json:"removed"`
	// Kept lists, sorted by path, the entries the catalog does not know
	// that were left in place.
	Kept []Kept `json:"kept"`
	// LeftoversRemoved counts temporary files of interrupted exports
	// removed from a Dir's staging folder.
	LeftoversRemoved int `json:"leftovers_removed"`
	// Overridden lists, with Options.Force, the files the catalog never
	// wrote that Publish went past (see ForeignError): replaced or moved
	// if at a name the catalog owns, else (another chain's identity file
	// the catalog does not hold) kept.
	Overridden []Foreign `json:"overridden"`
}

// NewCount counts the Kept entries that are new metadata files.
func (r *Result) NewCount() int {
	n := 0
	for _, k := range r.Kept {
		if k.Reason == KeptNew {
			n++
		}
	}
	return n
}

func newResult(t Target, s *Snapshot, opts Options) *Result {
	return &Result{Target: t.String(), Generation: s.Generation, DryRun: opts.DryRun,
		Written: []string{}, Moved: []string{}, Removed: []string{}, Kept: []Kept{}, Overridden: []Foreign{}}
}

// Publish checks s and publishes it to t: every handle valid and every
// state live or moved, before anything is read or written.
func (s *Snapshot) Publish(ctx context.Context, t Target, opts Options) (*Result, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return t.Publish(ctx, s, opts)
}

// classify says why a regular file the catalog does not know, with raw
// bytes raw (read from the storage), is kept: KeptNew if it is a valid
// metadata file.
func classify(name string, raw []byte) Kept {
	k := Kept{Reason: KeptOther}
	if err := aptos.ValidName(name); err != nil {
		k.Detail = err.Error()
		return k
	}
	content, err := storage.Decode(raw, 0)
	if err != nil {
		k.Detail = err.Error()
		return k
	}
	if _, err := aptos.ParseFile(content); err != nil {
		k.Detail = err.Error()
		return k
	}
	k.Reason = KeptNew
	return k
}

// deleted returns the SHA-256 of the content of each file s records as
// deleted by cleanup, by name.
func (s *Snapshot) deleted() map[string][32]byte {
	m := make(map[string][32]byte, len(s.Deleted))
	for _, d := range s.Deleted {
		m[aptos.BaseName(d.Handle)] = d.SHA256
	}
	return m
}

// isDeleted reports whether raw (a storage file's bytes, plain or gzip) is
// the content cleanup deleted, given its SHA-256.
func isDeleted(raw []byte, sum [32]byte) bool {
	content, err := storage.Decode(raw, 0)
	return err == nil && sha256.Sum256(content) == sum
}

// WithChanges returns a copy of s with the files add put in (replacing
// files of the same handle) and the handles move made moved: what the
// catalog would hold after a compaction, for a dry run of its publish.
func (s *Snapshot) WithChanges(add []*catalog.File, move []string) *Snapshot {
	byHandle := make(map[string]*catalog.File, len(s.Files)+len(add))
	for _, f := range s.Files {
		byHandle[f.Handle] = f
	}
	for _, f := range add {
		byHandle[f.Handle] = f
	}
	for _, h := range move {
		if f, ok := byHandle[h]; ok {
			c := *f
			c.State = catalog.Moved
			byHandle[h] = &c
		}
	}
	out := &Snapshot{Generation: s.Generation, ViewDigest: s.ViewDigest, Deleted: s.Deleted, Identity: s.Identity, held: s.held, Quarantined: s.Quarantined,
		rewritten: s.rewritten, rewrittenAll: s.rewrittenAll}
	for _, f := range byHandle {
		out.Files = append(out.Files, f)
	}
	sortFiles(out.Files)
	return out
}

// Publish reads db in one read-only transaction ([TakeSnapshot]) and
// publishes that generation to t. It writes nothing to the catalog. A
// caller that opened the catalog only for the export can instead take the
// snapshot, close the catalog, then call [Snapshot.Publish], so the slow
// writes hold no lock on it.
func Publish(ctx context.Context, db catalog.DB, t Target, opts Options) (*Result, error) {
	s, err := TakeSnapshot(ctx, db)
	if err != nil {
		return nil, err
	}
	return s.Publish(ctx, t, opts)
}

// runLimited calls fn for 0..n-1, at most limit at once, and returns the
// first error; after an error no new call starts and ctx is cancelled. It
// is the package's one bounded pool (an errgroup with SetLimit): a Dir's
// file writers and an Adapter's commands both run through it.
func runLimited(ctx context.Context, n, limit int, fn func(context.Context, int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}
