package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The two metadata folders of an Aptos backup storage (spec §1.2). A handle
// is one of these folder names, a slash and a file name.
const (
	// MetadataDir holds the live metadata files: "metadata/<name>".
	MetadataDir = "metadata"
	// MetadataBackupDir holds the files compaction moved away:
	// "metadata_backup/<name>".
	MetadataBackupDir = "metadata_backup"
)

// ErrIllegalName is returned (wrapped) by [ValidName] for a name that is not
// an Aptos ShellSafeName.
var ErrIllegalName = errors.New("illegal name")

// ErrInvalidHandle is returned (wrapped) by [ParseHandle] for a string that is
// not "metadata/<name>" or "metadata_backup/<name>".
var ErrInvalidHandle = errors.New("invalid handle")

// Bounds of a ShellSafeName: 1 leading character plus 2 to 126 more.
const (
	minNameLen = 3
	maxNameLen = 127
)

// ValidName reports whether name is an Aptos ShellSafeName, the rule Aptos
// applies to every name it writes (spec §4): the whole string must match
// \A[a-zA-Z0-9][a-zA-Z0-9._-]{2,126}\z, so 3 to 127 ASCII characters.
// It returns nil for a valid name and otherwise an error wrapping
// [ErrIllegalName] whose text is `illegal name: "<name>"`.
func ValidName(name string) error {
	if len(name) < minNameLen || len(name) > maxNameLen || !isAlnum(name[0]) {
		return fmt.Errorf("%w: %q", ErrIllegalName, name)
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("%w: %q", ErrIllegalName, name)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// LiveHandle returns the handle of the live metadata file name:
// "metadata/<name>". It does not validate name.
func LiveHandle(name string) string { return MetadataDir + "/" + name }

// MovedHandle returns the handle of the moved metadata file name:
// "metadata_backup/<name>". It does not validate name.
func MovedHandle(name string) string { return MetadataBackupDir + "/" + name }

// ParseHandle splits a metadata file handle into its folder ([MetadataDir]
// or [MetadataBackupDir]) and its file name. The name must be one non-empty
// path element: no slash (or OS path separator), no NUL byte, and not "." or
// "..". A name such as "a..b" is fine. The name is not checked with
// [ValidName]: listings may hold any name and the caller decides.
//
// Any other string, including an absolute path, gives an error wrapping
// [ErrInvalidHandle].
func ParseHandle(handle string) (dir, name string, err error) {
	dir, name, ok := strings.Cut(handle, "/")
	if !ok || (dir != MetadataDir && dir != MetadataBackupDir) || !validElement(name) {
		return "", "", fmt.Errorf(`%w %q: want "metadata/<name>" or "metadata_backup/<name>"`, ErrInvalidHandle, handle)
	}
	return dir, name, nil
}

// validElement reports whether name can be used as one file name inside a
// metadata folder without escaping it.
func validElement(name string) bool {
	return name != "" && name != "." && name != ".." &&
		!strings.ContainsRune(name, '/') &&
		!strings.ContainsRune(name, os.PathSeparator) &&
		!strings.ContainsRune(name, 0)
}

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

// Both backends implement Source.
var (
	_ Source = (*Local)(nil)
	_ Source = (*CommandAdapter)(nil)
)
