package catalog

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned when opening a catalog.
var (
	// ErrNoCatalog is returned by Open in read-only mode when the catalog
	// file does not exist.
	ErrNoCatalog = errors.New("catalog does not exist")
	// ErrCorrupt is returned when a catalog file is damaged: truncated,
	// zeroed, overwritten, a bbolt file that is not a metactl catalog. A
	// path that is certainly not a catalog (a directory, a metadata file)
	// is ErrNotCatalog instead. The error text carries a hint.
	ErrCorrupt = errors.New("catalog file is damaged")
	// ErrSchema is returned when the catalog was written by a newer metactl
	// (a schema version this build does not know).
	ErrSchema = errors.New("unsupported catalog schema")
)

// Errors returned by transactions.
var (
	// ErrNotFound is returned when a named file is not in the catalog.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a file handle already holds other
	// content, or when an Identity differs from the catalog's.
	ErrConflict = errors.New("conflict")
	// ErrReadOnly is returned by a write on a read-only catalog.
	ErrReadOnly = errors.New("catalog is open read-only")
	// ErrViewChanged is returned when a write that must preserve the view
	// (compaction) would change it; the transaction is rolled back.
	ErrViewChanged = errors.New("view digest would change")
	// ErrInvalidHistory is returned by RestoreHistory for a journal that
	// does not fit the catalog (out of order, or ending at another view).
	ErrInvalidHistory = errors.New("history does not fit the catalog")
)

// BusyError is returned by Open when the catalog's lock could not be taken
// within Options.Timeout. Holder describes the writer, if it left a record.
type BusyError struct {
	Path    string
	Timeout time.Duration
	Holder  *Holder // nil if no holder record was found
}

func (e *BusyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "catalog %q is busy: lock not acquired within %s", e.Path, e.Timeout)
	if h := e.Holder; h != nil {
		fmt.Fprintf(&b, " (held by pid %d, %q, since %s", h.PID, h.Command, h.Started.UTC().Format(time.RFC3339))
		if h.Host != "" && h.Host != hostname() {
			// Another host's writer (a shared backend such as etcd):
			// its pid means nothing here.
			fmt.Fprintf(&b, ", on host %s", h.Host)
		} else if !h.alive() {
			b.WriteString("; that process no longer runs, so a reader may hold it")
		}
		b.WriteString(")")
	}
	return b.String()
}

// LostEntriesError is returned (wrapping ErrViewChanged) when a
// view-preserving write would drop or add entries. Lost and Added hold the
// affected entries as serde_json lines, at most a few of each.
type LostEntriesError struct {
	Lost  []string
	Added []string
	More  int // entries changed beyond those listed
}

func (e *LostEntriesError) Error() string {
	var parts []string
	for _, l := range e.Lost {
		parts = append(parts, "lost "+l)
	}
	for _, a := range e.Added {
		parts = append(parts, "added "+a)
	}
	s := ErrViewChanged.Error() + ": " + strings.Join(parts, "; ")
	if e.More > 0 {
		s += fmt.Sprintf("; and %d more", e.More)
	}
	return s
}

func (e *LostEntriesError) Unwrap() error { return ErrViewChanged }

// ErrExist means Create found a catalog at its location: use Open and
// Update instead.
var ErrExist = errors.New("catalog already exists")

// ErrUndoRefused is wrapped by an *UndoRefusedError.
var ErrUndoRefused = errors.New("undo refused")

// UndoRefusedError says why generation Generation cannot be undone exactly.
// By names the operation that stands in the way, if one does.
type UndoRefusedError struct {
	Generation uint64
	Reason     string
	By         *Operation
	Hint       string // what to do, if anything
}

func (e *UndoRefusedError) Error() string {
	s := fmt.Sprintf("undo generation %d: %s", e.Generation, e.Reason)
	if e.By != nil {
		s += fmt.Sprintf(" by generation %d (%s at %s)", e.By.Generation, e.By.Kind, e.By.Time.UTC().Format(time.RFC3339))
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

func (e *UndoRefusedError) Unwrap() error { return ErrUndoRefused }

// ErrNotCatalog is returned (by a *NotCatalogError) when a location names
// something that is certainly not a catalog: a directory, an Aptos
// metadata file, an archive. It is a mistake in the path, not damage:
// ErrCorrupt is reserved for a file that is a catalog and is damaged (or
// cannot be told apart from one: zeroed, truncated, random bytes).
var ErrNotCatalog = errors.New("not a catalog")

// NotCatalogError says what a location is instead of a catalog, and what
// to do.
type NotCatalogError struct {
	Path string // the location as given
	What string // "a directory", "a metadata file", "an archive", ...
	Hint string // what to do instead
}

func (e *NotCatalogError) Error() string {
	return fmt.Sprintf("open catalog: %s is %s; %s", e.Path, e.What, e.Hint)
}

func (e *NotCatalogError) Unwrap() error { return ErrNotCatalog }
