package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/metactl/metactl/aptos"
)

// DB is an open catalog on some backend. Every package above catalog
// (importer, compaction, export, archive, cmd) uses only this interface,
// [Tx] and [WriteTx], and gets a DB from [Open]; a backend is chosen by
// the location string alone. See the package doc for what each method
// promises and why the interface has this shape.
//
// A DB is safe for concurrent use by goroutines of one process. Close it
// as soon as its work is done: a writable DB may hold the catalog's write
// lock for as long as it is open.
type DB interface {
	// Location returns the location the catalog was opened with: a file
	// path for the embedded backend, a URL for the others.
	Location() string

	// View runs fn in a read-only transaction: fn sees one committed
	// generation, whole, however long it runs, and nothing another
	// writer commits meanwhile.
	View(ctx context.Context, fn func(Tx) error) error

	// Update runs fn in a read-write transaction and publishes its
	// changes, all or nothing, if fn returns nil. kind names the
	// operation in the journal ("import", "compact", ...). Update calls
	// fn exactly once. A transaction that changed no file publishes
	// nothing: the returned Operation then has Changed() == false and
	// the current generation. Otherwise the generation is bumped by one,
	// and the Operation is appended to the journal in the same
	// publication. A DB opened with Options.ReadOnly returns ErrReadOnly.
	Update(ctx context.Context, kind Kind, fn func(WriteTx) error) (*Operation, error)

	// Undo reverses the operation committed at generation gen as a new
	// write of kind "undo" (see the bbolt backend's doc for the rules it
	// checks); with dry true it checks everything and publishes nothing.
	// It fails with an *UndoRefusedError when the operation cannot be
	// reversed exactly.
	Undo(ctx context.Context, gen uint64, dry bool) (*Operation, error)

	// RestoreHistory gives a catalog just rebuilt from an archive the
	// history the archive carries: the journal becomes ops (oldest first)
	// and the generation gen. It fails with ErrInvalidHistory for a
	// journal that does not fit the catalog's files.
	RestoreHistory(gen uint64, ops []Operation) error

	// Check verifies the backend's own storage structure (for bbolt:
	// every page reachable once, freelist consistent) and returns an
	// error wrapping ErrCorrupt if it is not sound. The view's agreement
	// with the files is Tx.StoredEntriesMatch.
	Check(ctx context.Context) error

	// Close releases the catalog and any lock this DB holds.
	Close() error
}

// Tx is a read-only view of one committed generation: the files, the
// derived Aptos view and the journal. A Tx is valid only inside the
// function it was passed to; values it returns are copies that stay
// valid afterwards.
type Tx interface {
	// Now returns the transaction's clock reading, taken once when it
	// began (UTC).
	Now() time.Time
	// Generation returns the generation this transaction sees: the
	// number of committed writes that changed something.
	Generation() uint64
	// ViewDigest returns the view digest (in a WriteTx: with its own
	// uncommitted changes).
	ViewDigest() aptos.Digest
	// Identity returns the catalog's identity, if any file ever carried
	// one.
	Identity() (aptos.HashValue, bool)

	// File returns the file with the given handle, content included, or
	// an error wrapping ErrNotFound.
	File(handle string) (*File, error)
	// ForEachFile calls fn for every file in handle order. With
	// withContent false, File.Content is nil (a cheap listing). An error
	// from fn stops the walk and is returned.
	ForEachFile(withContent bool, fn func(*File) error) error
	// Files returns every file in handle order, without content; with a
	// non-zero state, only files in that state.
	Files(state State) ([]*File, error)
	// CountFiles returns the number of live and moved files.
	CountFiles() (live, moved int, err error)

	// View returns the derived Aptos view of the live files (sorted,
	// deduplicated, as Aptos's MetadataView).
	View() (*aptos.View, error)
	// ForEachEntry calls fn for every entry of the view, in the view's
	// order (kind, then range), without building the view: m is valid
	// only during the call. An error from fn stops the walk and is
	// returned.
	ForEachEntry(fn func(m *aptos.Metadata) error) error
	// EntryCount returns the number of entries in the view.
	EntryCount() int
	// StorageState returns the view's BackupStorageState without
	// building the view in memory.
	StorageState() (aptos.StorageState, error)
	// LatestTimestamps returns the CompactionTimestamps entry with the
	// largest file_compacted_at among live files and its file's handle
	// (ties: the handle that sorts last), or nil if there is none.
	LatestTimestamps() (*aptos.CompactionTimestamps, string, error)
	// StoredEntriesMatch recomputes the view from the live files'
	// content and compares it, and its digest, with the stored index and
	// digest; nil if all agree.
	StoredEntriesMatch() error

	// Operations calls fn for journal records, newest first, until fn
	// returns false.
	Operations(fn func(*Operation) bool) error
	// DeletedFiles calls fn for every file recorded as deleted, in handle
	// order (a handle deleted and later added again is not listed).
	DeletedFiles(fn func(*DeletedFile) error) error
	// Deleted returns the deleted record of handle, or an error wrapping
	// ErrNotFound.
	Deleted(handle string) (*DeletedFile, error)
	// DeletedContent returns the content of a file recorded as deleted
	// while the catalog still retains it (DeletedFile.Retained: within
	// the undo window), or an error wrapping ErrNotFound. The command
	// adapter bridge serves it to a client that listed the file in an
	// earlier generation (workflow/bridge.go).
	DeletedContent(handle string) ([]byte, error)
	// QuarantinedFiles calls fn for every quarantined file (see
	// QuarantinedFile), content included, in handle order.
	QuarantinedFiles(fn func(*QuarantinedFile) error) error
}

// WriteTx is the transaction of DB.Update: a Tx that also changes files.
// Every change keeps the view index and digest in step, in the same
// transaction.
type WriteTx interface {
	Tx
	// PutFile adds a file, or brings an existing identical one to the
	// given state. It validates the handle and every line, and records
	// the catalog identity from an Identity line. It returns an error
	// wrapping ErrConflict if the handle holds other content (unless
	// NewFile.Replace) or an Identity differs from the catalog's, and
	// [aptos.ErrInvalid] for a bad handle or line.
	PutFile(nf NewFile) (PutResult, error)
	// SetState moves a file between Live and Moved.
	SetState(handle string, s State) error
	// DeleteFile removes a file from the catalog for good.
	DeleteFile(handle string) error
	// PreserveView declares that this transaction must not change the
	// view (compaction): Update then fails with a *LostEntriesError
	// naming the entries that would be lost or added.
	PreserveView()
	// SetInputs records what the operation read (sources, options) in
	// the journal.
	SetInputs(inputs ...string)
	// SetNote records a one-line summary in the journal.
	SetNote(note string)
	// PurgeRetained drops the change records (and the content they keep
	// for undo) of operations committed before cutoff and returns how many
	// it dropped (cleanup's grace period, the undo window).
	PurgeRetained(cutoff time.Time) (int, error)
	// Quarantine records (or replaces) the quarantine record of q.Handle:
	// a storage file that failed to parse or validate, kept aside with its
	// error and bytes instead of refusing the whole import (import
	// --quarantine). The record is not a file: it is in no view and
	// export never writes it. Recording the same content with the same
	// error again changes nothing; otherwise Operation.Quarantined counts
	// it, and the write publishes even if no file changed.
	Quarantine(q QuarantinedFile) error
	// Release removes the quarantine record of handle, if any (a good
	// copy under that name was imported, or the storage no longer lists
	// it); Operation.Quarantined counts it.
	Release(handle string) error
}

// OpenFunc opens a catalog of one backend. location is the whole string
// given to Open, scheme included; opts is never nil and has its defaults
// filled in (Timeout, Now, Command).
type OpenFunc func(ctx context.Context, location string, opts *Options) (DB, error)

// CreateFunc builds a new catalog of one backend with one bulk write (see
// [Create]); opts has its defaults filled in.
type CreateFunc func(ctx context.Context, location string, opts *Options, kind Kind, fn func(BulkWriteTx) error) (*Operation, error)

var (
	backendsMu sync.RWMutex
	backends   = map[string]OpenFunc{}
	creators   = map[string]CreateFunc{}
)

// RegisterCreate gives the backend registered under scheme a bulk build
// for [Create]. Call it from the backend's init function, after Register.
func RegisterCreate(scheme string, create CreateFunc) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if backends[scheme] == nil || create == nil || creators[scheme] != nil {
		panic(fmt.Sprintf("catalog.RegisterCreate: scheme %q not registered, registered twice, or nil CreateFunc", scheme))
	}
	creators[scheme] = create
}

// Register makes a backend available under a URL scheme: Open then hands
// every location of the form "<scheme>://..." to open. A backend package
// calls it from its init function, and a program links the backend in
// with a blank import (cmd/metactl does this for every backend of this
// repository). Register panics if the scheme is taken or malformed: that
// is a programming error, found at startup.
func Register(scheme string, open OpenFunc) {
	if !validScheme(scheme) || open == nil {
		panic(fmt.Sprintf("catalog.Register: invalid scheme %q or nil OpenFunc", scheme))
	}
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if _, dup := backends[scheme]; dup {
		panic(fmt.Sprintf("catalog.Register: scheme %q registered twice", scheme))
	}
	backends[scheme] = open
}

// Schemes returns the registered URL schemes, sorted.
func Schemes() []string {
	backendsMu.RLock()
	defer backendsMu.RUnlock()
	out := make([]string, 0, len(backends))
	for s := range backends {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// validScheme reports whether s has RFC 3986's scheme syntax, lowercase
// (^[a-z][a-z0-9+.-]*$). Written out rather than a regexp: every
// process links this package, and compiling a regexp at start-up cost a
// metactl-adapter call (one process per Aptos call) more than the check.
func validScheme(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '+' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// Scheme returns the URL scheme of a catalog location ("etcd" for
// "etcd://host:2379/prefix"), or "" for a file path, which the embedded
// bbolt backend opens.
func Scheme(location string) string {
	scheme, _, ok := strings.Cut(location, "://")
	if !ok || !validScheme(scheme) {
		return ""
	}
	return scheme
}

// IsURL reports whether location names a catalog behind a URL (etcd://,
// http(s)://) rather than a file: Scheme(location) != "".
func IsURL(location string) bool { return Scheme(location) != "" }

// backendScheme is the scheme whose backend serves location: its URL
// scheme, or FileScheme for a plain path.
func backendScheme(location string) string {
	if scheme := Scheme(location); scheme != "" {
		return scheme
	}
	return FileScheme
}

// FileScheme is the scheme of the backend that opens plain file paths
// (package boltstore registers it): Open hands it every location without
// a URL scheme, as given, and "file://PATH" locations too.
const FileScheme = "file"

// Open opens the catalog at location. A location with a URL scheme
// ("etcd://...") goes to the backend registered for that scheme; anything
// else is a file path, opened by the backend registered as FileScheme
// (the embedded bbolt backend, package boltstore). A nil opts means all
// defaults.
//
// Every backend returns a *BusyError if the write lock is not acquired
// within the timeout, an error wrapping ErrNoCatalog for a read-only open
// of a catalog that does not exist, ErrCorrupt for a damaged catalog, and
// ErrSchema for one a newer metactl wrote.
func Open(ctx context.Context, location string, opts *Options) (DB, error) {
	o := opts.WithDefaults()
	scheme := backendScheme(location)
	backendsMu.RLock()
	open := backends[scheme]
	backendsMu.RUnlock()
	if o.ReadOnly && o.Mode == MustBeNew {
		return nil, fmt.Errorf("open catalog %q: a read-only open cannot make a new catalog", location)
	}
	if open == nil {
		if scheme == FileScheme {
			return nil, fmt.Errorf("open catalog %q: no backend for catalog files is linked in (import github.com/metactl/metactl/catalog/boltstore)", location)
		}
		known := "none"
		if s := Schemes(); len(s) > 0 {
			known = strings.Join(s, ", ")
		}
		return nil, fmt.Errorf("open catalog %q: unknown scheme %q (registered: %s; a plain path opens a catalog file)", location, scheme, known)
	}
	return open(ctx, location, o)
}

// HandleLister is implemented by a Tx that can list the handles of the
// files in one state without decoding their records (the embedded
// backend): compaction lists every live handle, and ForEachFile built a
// File per record for it (9% of a 40k-file compaction's CPU). A caller
// type-asserts it and falls back to ForEachFile.
type HandleLister interface {
	// ForEachHandle calls fn with the handle of every file in state, in
	// handle order; an error from fn stops the walk and is returned. A
	// record ForEachFile would refuse as corrupt is refused the same way.
	ForEachHandle(state State, fn func(handle string) error) error
}

// FileCountHinter is implemented by a BulkWriteTx that can size its
// per-file bookkeeping up front (the embedded backend): a first import
// says how many files it listed, each of which it puts. Grown one file at
// a time, that bookkeeping's maps were 4% of the CPU of a first import of
// 40k one-line files. A hint is no limit: more files may follow.
type FileCountHinter interface {
	ExpectFiles(n int)
}

// BulkWriteTx is the transaction of a large write ([Create]): a WriteTx
// that may commit what it has written so far to a scratch file nobody else
// sees, so that memory stays bounded however much it writes.
type BulkWriteTx interface {
	WriteTx
	// Checkpoint commits the scratch file's transaction and begins the
	// next one if at least Options.CheckpointBytes were written since the
	// last checkpoint; otherwise it does nothing. Call it often (after
	// each batch of files). Nothing becomes visible: the operation is
	// published whole when the function given to Create returns nil.
	Checkpoint() error
}

// BulkUpdater is implemented by a DB that can run one large write on a
// scratch copy of its catalog file, with checkpoints (the embedded
// backend; the etcd backend runs it so on its local copy and stages the
// changes in etcd as it finds them, publishing them with its one
// compare-and-swap). See "Large writes" in the package documentation.
type BulkUpdater interface {
	// UpdateBulk is Update for a write too large to hold in one bbolt
	// transaction's memory (compaction of a million entries): it copies
	// the catalog to a scratch file beside it, runs fn there in a
	// transaction that may checkpoint (BulkWriteTx.Checkpoint), syncs the
	// result and renames it over the catalog. Readers and other writers
	// see the catalog before or after, never between: the scratch file is
	// nobody else's, the rename is atomic, and the caller holds the
	// writer's locks throughout. A crash before the rename leaves the
	// catalog as it was (and a scratch file that the next writable Open
	// removes); after it, the new generation. The operation, its journal
	// record and change records (so undo) are exactly what Update would
	// leave. Failpoints: "<kind>.before-commit" before the scratch
	// file's last commit, "<kind>.before-publish" before the rename,
	// "<kind>.after-commit" after it.
	UpdateBulk(ctx context.Context, kind Kind, fn func(BulkWriteTx) error) (*Operation, error)
}

// Create makes a new catalog at location with one write of the given
// kind, in which fn may checkpoint ([BulkWriteTx.Checkpoint]) so that
// memory stays bounded however much it writes. The catalog appears only if
// fn returns nil; it then holds exactly what Open followed by one Update
// would leave. Create returns an error wrapping ErrExist, having run
// nothing, if a catalog exists at location: use Open and Update then.
//
// A backend without a bulk build ([RegisterCreate]) runs fn in one Update
// of a catalog opened with MustBeNew (Checkpoint does nothing), so a
// failure may leave that backend's empty catalog behind.
func Create(ctx context.Context, location string, opts *Options, kind Kind, fn func(BulkWriteTx) error) (*Operation, error) {
	o := opts.WithDefaults()
	if o.ReadOnly {
		return nil, ErrReadOnly
	}
	scheme := backendScheme(location)
	backendsMu.RLock()
	create := creators[scheme]
	backendsMu.RUnlock()
	if create != nil {
		return create(ctx, location, o, kind, fn)
	}
	o.Mode = MustBeNew
	db, err := Open(ctx, location, o)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.Update(ctx, kind, func(tx WriteTx) error { return fn(noCheckpoints{tx}) })
}

// FileReader is implemented by a DB that can read one file of its newest
// committed generation in a single request to its storage (the etcd
// backend: one transaction for the current key, the file's header and its
// content), where View would take several. The read is as consistent as
// a View's File: it reflects every write committed before the call.
type FileReader interface {
	// ReadFile returns the file handle (live or moved, with its content)
	// and the generation it was read from. ok false, with a nil error,
	// says the one request cannot answer (no such file in that
	// generation, a large file kept in pieces, a write staged, an old
	// layout, a writable DB): the caller reads it with View as before. An
	// error is the one View would give for the same failure.
	ReadFile(ctx context.Context, handle string) (f *File, gen uint64, ok bool, err error)
	// ReadFiles is ReadFile of several handles in the one request, all
	// from one generation: a nil file is one ReadFile would decline. It
	// takes at most ReadFilesMax handles.
	ReadFiles(ctx context.Context, handles []string) (files []*File, gen uint64, err error)
	ReadFilesMax() int
}

// HasCreate reports whether the backend of location builds a new catalog
// with a bulk write of its own ([RegisterCreate]), so that [Create]
// there runs in bounded memory.
func HasCreate(location string) bool {
	backendsMu.RLock()
	defer backendsMu.RUnlock()
	return creators[backendScheme(location)] != nil
}

// noCheckpoints is a WriteTx as a BulkWriteTx whose Checkpoint does nothing.
type noCheckpoints struct{ WriteTx }

func (noCheckpoints) Checkpoint() error { return nil }

// EmptyRemover is implemented by a writable DB that can remove its own
// catalog (the bbolt backend); see [RemoveIfEmpty].
type EmptyRemover interface {
	// RemoveIfEmpty removes the catalog, under the DB's write lock, if no
	// write was ever committed to it (generation 0, no file), and reports
	// whether it did. Close the DB afterwards.
	RemoveIfEmpty(ctx context.Context) (bool, error)
}

// RemoveIfEmpty removes the catalog at location if no write was ever
// committed to it: what a failed first write leaves behind, so that it
// leaves nothing. It takes the write lock to look (waiting at most
// timeout), so it never removes a catalog another process wrote to, and
// reports whether it removed anything. A missing catalog, and one whose
// backend cannot remove it, are left alone.
func RemoveIfEmpty(ctx context.Context, location string, timeout time.Duration) (bool, error) {
	db, err := Open(ctx, location, &Options{Timeout: timeout, Command: "remove empty catalog", Mode: MustExist})
	if errors.Is(err, ErrNoCatalog) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer db.Close()
	r, ok := db.(EmptyRemover)
	if !ok {
		return false, nil
	}
	return r.RemoveIfEmpty(ctx)
}

// FilesOf is [Tx.Files] built on a backend's [Tx.ForEachFile]: every file
// without content, in handle order, only those in state unless it is 0.
func FilesOf(forEach func(withContent bool, fn func(*File) error) error, state State) ([]*File, error) {
	var out []*File
	err := forEach(false, func(f *File) error {
		if state == 0 || f.State == state {
			out = append(out, f)
		}
		return nil
	})
	return out, err
}
