package storage

import (
	"context"
)

// Listing is what a [Source] holds: the file names (not handles) of its two
// metadata folders, each sorted and without duplicates. Names are returned as
// the storage spells them, unfiltered: dotfiles, non-.meta names and (for
// [Local]) subdirectories included. The same name may be in both lists.
type Listing struct {
	// Live holds the names in metadata/.
	Live []string
	// Moved holds the names in metadata_backup/. It is empty when
	// MovedListed is false.
	Moved []string
	// MovedListed reports whether the source could list metadata_backup/.
	// When false, an empty Moved says nothing about what was moved.
	MovedListed bool
}

// Source is a legacy Aptos backup storage that metadata can be read from.
// [Local] and [CommandAdapter] implement it. Implementations in this package
// are safe for concurrent use.
type Source interface {
	// List returns the names in metadata/ and, if the backend can list it,
	// metadata_backup/, sorted.
	List(ctx context.Context) (Listing, error)
	// ReadFile returns the decompressed content of handle ("metadata/x" or
	// "metadata_backup/x"). Content starting with the gzip magic bytes
	// 1f 8b is decompressed (bucket copies are gzip with a .meta name),
	// anything else is returned as is. Content larger than max bytes after
	// decompression is refused, while reading, with an error wrapping
	// [ErrTooLarge] that names the handle and the limit; max <= 0 means
	// [DefaultMaxFileSize].
	ReadFile(ctx context.Context, handle string, max int64) ([]byte, error)
}

// FileReader reads files of one storage, as [Source.ReadFile] does, from
// what it opened once; Close releases that.
type FileReader interface {
	ReadFile(ctx context.Context, handle string, max int64) ([]byte, error)
	Close() error
}

// ReaderSource is a [Source] that reads many files faster through a
// [FileReader] opened once for them ([Local]: its two folders). Readers of
// many files use it when a source has it.
type ReaderSource interface {
	Source
	OpenReader() (FileReader, error)
}

// Both backends implement Source; Local also ReaderSource.
var (
	_ Source       = (*Local)(nil)
	_ Source       = (*CommandAdapter)(nil)
	_ ReaderSource = (*Local)(nil)
	_ FileReader   = (*LocalReader)(nil)
)
