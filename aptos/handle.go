package aptos

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// The two metadata folders of an Aptos backup storage (docs/aptos-format.md
// §1). A handle is one of these folder names, a slash and a file name.
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
// applies to every name it writes (docs/aptos-format.md §4): the whole
// string must match \A[a-zA-Z0-9][a-zA-Z0-9._-]{2,126}\z, so 3 to 127
// ASCII characters. It returns nil for a valid name and otherwise an error
// wrapping both [ErrIllegalName] and [ErrInvalid].
func ValidName(name string) error {
	ok := len(name) >= minNameLen && len(name) <= maxNameLen && isAlnum(name[0])
	for i := 1; ok && i < len(name); i++ {
		c := name[i]
		ok = isAlnum(c) || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return &invalidError{msg: fmt.Sprintf("illegal file name %q: want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit", name), also: ErrIllegalName}
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
	if !ok || (dir != MetadataDir && dir != MetadataBackupDir) || !ValidElement(name) {
		return "", "", fmt.Errorf(`%w %q: want "metadata/<name>" or "metadata_backup/<name>"`, ErrInvalidHandle, handle)
	}
	return dir, name, nil
}

// ValidElement reports whether name can be used as one file name inside a
// metadata folder without escaping it.
func ValidElement(name string) bool {
	return name != "" && name != "." && name != ".." &&
		!strings.ContainsRune(name, '/') &&
		!strings.ContainsRune(name, os.PathSeparator) &&
		!strings.ContainsRune(name, 0)
}

// BaseName returns the part of a handle after its last '/'.
func BaseName(handle string) string {
	if i := strings.LastIndexByte(handle, '/'); i >= 0 {
		return handle[i+1:]
	}
	return handle
}
