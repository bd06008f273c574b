package catalog

import (
	"fmt"
	"time"

	"github.com/metactl/metactl/aptos"
)

// State says where a metadata file lives in the legacy layout.
type State uint8

const (
	// Live files are in metadata/ and make up the view.
	Live State = 1
	// Moved files were superseded by compaction; they live in
	// metadata_backup/ and are not part of the view.
	Moved State = 2
)

// String returns "live" or "moved".
func (s State) String() string {
	switch s {
	case Live:
		return "live"
	case Moved:
		return "moved"
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: "live" or "moved".
func (s *State) UnmarshalText(b []byte) error {
	switch string(b) {
	case "live":
		*s = Live
	case "moved":
		*s = Moved
	default:
		return fmt.Errorf("unknown file state %q: %w", b, aptos.ErrInvalid)
	}
	return nil
}

// File is one metadata file in the catalog. Handle is the Aptos FileHandle
// of the file while it is live ("metadata/<name>"); a moved file keeps its
// handle (Aptos's timestamps map names it that way) and its State says it
// now lives in metadata_backup/.
//
// Files returned by a Tx are copies, valid after the transaction ends.
type File struct {
	Handle         string
	State          State
	Content        []byte    // the file's bytes; nil in listings
	Size           int       // len(Content)
	Lines          int       // number of metadata lines
	SHA256         [32]byte  // of Content
	Source         string    // provenance: where the content came from
	ImportedAt     time.Time // when it entered the catalog
	StateChangedAt time.Time // when State last changed (ImportedAt at first)
}

// Name returns the base name of the handle ("x.meta" for "metadata/x.meta").
func (f *File) Name() string { return aptos.BaseName(f.Handle) }

// DeletedFile is a file a write removed from the catalog for good
// (cleanup, or an undo removing what an operation added). The catalog keeps
// this record after the content is purged, so that 'export --prune' can
// still remove the file from a legacy folder: check SHA256 before removing
// a file there, a file of the same name with other content is not the one
// the catalog deleted.
type DeletedFile struct {
	Handle     string
	State      State     // the state it had when deleted: where it lived in a legacy folder
	Generation uint64    // the generation that deleted it
	DeletedAt  time.Time // that generation's time
	SHA256     [32]byte  // of the deleted content
	Size       int       // of the deleted content
	// Retained reports whether the catalog still holds the content (for
	// 'metactl undo'); false once a cleanup purged it after the grace
	// period.
	Retained bool
}

// QuarantinedFile is a storage file that failed to parse or validate and
// was kept aside (import --quarantine) instead of stopping the import: the
// catalog records where it was, why it was refused and its bytes, so
// verify can name it and an operator can repair it. It is not a File: no
// view, compaction or export sees it.
type QuarantinedFile struct {
	// Handle is "metadata/<name>", whichever folder held it.
	Handle string
	// State says which folder held it: Live (metadata/) or Moved
	// (metadata_backup/).
	State State
	// Error is why it was refused, as import would have said it.
	Error string
	// Content is the file's bytes as read (decompressed), nil if they
	// could not be read (too large, not valid gzip).
	Content []byte
	SHA256  [32]byte // of Content
	Source  string   // provenance, as a File's
	// At is when the catalog first recorded it with this content and
	// error (the transaction's clock).
	At time.Time
}
