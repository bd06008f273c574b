package catalog

import (
	"time"

	"github.com/metactl/metactl/aptos"
)

// MaxListed caps the handles an Operation lists per category; the counts
// are always exact.
const MaxListed = 1000

// Operation is one committed write, as recorded in the journal.
type Operation struct {
	Generation   uint64       `json:"generation"`
	Kind         Kind         `json:"kind"`
	Time         time.Time    `json:"time"`
	Command      string       `json:"command,omitempty"`
	Inputs       []string     `json:"inputs,omitempty"`
	Note         string       `json:"note,omitempty"`
	Added        Changes      `json:"added"`
	Replaced     Changes      `json:"replaced"`
	Moved        Changes      `json:"moved"`
	Revived      Changes      `json:"revived"`
	Deleted      Changes      `json:"deleted"`
	Entries      int          `json:"entries"` // entries in the view after the write
	DigestBefore aptos.Digest `json:"digest_before"`
	DigestAfter  aptos.Digest `json:"digest_after"`
	// Undoes is the generation an undo operation reversed (kind "undo").
	Undoes uint64 `json:"undoes,omitempty"`
	// Purged counts the change records a cleanup dropped after the grace
	// period (WriteTx.PurgeRetained): those operations can no longer be
	// undone.
	Purged int `json:"purged,omitempty"`
	// Quarantined counts the quarantine records the write added, replaced
	// or released (WriteTx.Quarantine, WriteTx.Release). Undo does not
	// reverse them: the next import with --quarantine records again what
	// the storage holds.
	Quarantined int `json:"quarantined,omitempty"`
}

// Changes counts the files of one kind of change and lists their handles
// (at most 1000 of them; Truncated says more were left out).
type Changes struct {
	Count     int      `json:"count"`
	Handles   []string `json:"handles,omitempty"`
	Truncated bool     `json:"truncated,omitempty"`
}

// Add counts handle h, and lists it while fewer than MaxListed are listed.
func (c *Changes) Add(h string) {
	c.Count++
	if len(c.Handles) < MaxListed {
		c.Handles = append(c.Handles, h)
	} else {
		c.Truncated = true
	}
}

// Changed reports whether the operation changed any file.
func (op *Operation) Changed() bool {
	return op.Added.Count+op.Replaced.Count+op.Moved.Count+op.Revived.Count+op.Deleted.Count+op.Purged+op.Quarantined > 0
}

// NewFile describes a file to add with WriteTx.PutFile, which keeps no
// reference to Content or Lines: the caller may reuse them afterwards.
type NewFile struct {
	Handle  string // "metadata/<ShellSafeName>"
	Content []byte // the file's bytes
	State   State  // Live or Moved
	Source  string // provenance, free text
	// Lines are Content parsed; nil means PutFile parses Content itself
	// (a batch of lines at a time) or, if set, calls LineBatches.
	Lines []aptos.Metadata
	// LineBatches, if not nil (and Lines nil), gives Content's lines,
	// parsed and in order, a batch at a time: it calls fn with each batch
	// (which it may reuse once fn returns) and returns fn's first error.
	// A caller that validated a large file as it read it (the importer)
	// passes it so that the file is parsed once more, not twice, and
	// never held parsed whole. PutFile then changes the transaction as
	// the batches come: if it fails, the caller must fail the transaction.
	LineBatches func(fn func(batch []aptos.Metadata) error) error
	// SHA256 is Content's SHA-256 if the caller has it (an importer hashed
	// it to compare); zero means PutFile computes it.
	SHA256 [32]byte
	// Encoded promises that Content is exactly Lines, each encoded by
	// [aptos.AppendLine] and followed by "\n", as compaction builds its
	// files: a backend that stores a line's canonical encoding (the
	// latest CompactionTimestamps line) may then copy it from Content
	// instead of encoding the line again (for a one-line file; at 40k
	// files the timestamps map's encoding was a sort of 40k keys). A
	// false promise stores a wrong value; leave it false if unsure.
	Encoded bool
	// Replace allows overwriting a handle that holds other content
	// (compaction rewriting a compacted file whose chunk changed).
	// Without it that is a conflict.
	Replace bool
}

// PutResult says what PutFile did.
type PutResult int

const (
	// Unchanged: the handle already held this content in this state.
	Unchanged PutResult = iota
	// Added: a new file.
	Added
	// StateChanged: same content, the state was changed.
	StateChanged
	// Replaced: other content was overwritten (NewFile.Replace).
	Replaced
)

// Kind names the kind of an operation in the journal. Update derives the
// failpoints "<kind>.before-commit" and "<kind>.after-commit" from it.
type Kind string

// The kinds of operation; the one place they are spelled.
const (
	KindImport  Kind = "import"
	KindCompact Kind = "compact"
	KindCleanup Kind = "cleanup"
	KindUndo    Kind = "undo"
)
