package catalog

import (
	"os"
	"path/filepath"
	"time"
)

// DefaultTimeout is the lock timeout used when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Options configures Open. A nil *Options means all defaults.
type Options struct {
	// ReadOnly opens the catalog with a shared lock and refuses writes.
	// A read-only open never creates or modifies any file.
	ReadOnly bool
	// Mode says what to do about a catalog that exists or not; every
	// backend honours it, so no caller needs to look at the location.
	Mode Mode
	// Timeout bounds the wait for the catalog's lock. Zero means
	// DefaultTimeout; a negative value means do not wait at all.
	Timeout time.Duration
	// Command describes this process in the holder record and the journal
	// (for example "metactl compact"). Empty means the program name.
	Command string
	// Now is the clock; nil means time.Now. Each transaction reads it once.
	Now func() time.Time
	// NoSync skips fsync on commit. DANGEROUS: only for benchmarks and
	// throwaway catalogs (an archive opened for reading).
	NoSync bool
	// CheckpointBytes is how much a Create transaction writes to its
	// scratch file between two checkpoints (and how much index change it
	// keeps in memory before spilling it); zero means
	// DefaultCheckpointBytes. Other transactions ignore it.
	CheckpointBytes int
	// Backend holds settings that only some backend understands, such as
	// the etcd backend's TLS files and credentials (etcdstore.Connection).
	// A backend uses the values of the types it knows and ignores the rest.
	Backend []any
}

// Mode says what Open does about whether the catalog exists.
type Mode uint8

const (
	// OpenOrCreate (the default): a writable open creates a missing
	// catalog, a read-only open refuses it with ErrNoCatalog.
	OpenOrCreate Mode = iota
	// MustExist refuses a missing catalog with ErrNoCatalog, creating
	// nothing, even for a writable open.
	MustExist
	// MustBeNew refuses an existing catalog with ErrExist and creates a
	// new one; not with ReadOnly.
	MustBeNew
)

// WithDefaults returns a copy of o (nil: all defaults) with Timeout, Now
// and Command filled in.
func (o *Options) WithDefaults() *Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < 0 {
		c.Timeout = time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Command == "" {
		c.Command = filepath.Base(os.Args[0])
	}
	return &c
}

// DefaultCheckpointBytes is how much a bulk transaction writes between two
// checkpoints when Options.CheckpointBytes is zero. Smaller saves memory
// (bbolt holds the dirty pages, and their node, until the commit) at no
// measurable cost: at 1M lines, 2 MiB and 8 MiB take the same CPU time and
// give the same file, and 2 MiB peaks 20-30 MiB lower.
const DefaultCheckpointBytes = 2 << 20

// DefaultRetention is how long the catalog keeps an operation's change
// records, with the content of the files it deleted or replaced, so that
// 'metactl undo' can reverse it: a cleanup purges older ones (see
// WriteTx.PurgeRetained). It is the undo window.
const DefaultRetention = 30 * 24 * time.Hour
