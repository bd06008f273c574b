package importer

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/storage"
)

// ErrStray is wrapped by the Problem that Options.Strict makes of a stray
// entry: a name in metadata/ or metadata_backup/ that is not a metadata file
// name, or an entry that is not a regular file.
var ErrStray = errors.New("stray entry")

// Problem is one thing wrong with the input: a bad line, a bad or unreadable
// file, or a conflict with another file or with the catalog.
type Problem struct {
	// Handle names the file as the storage does: "metadata/x.meta", or
	// "metadata_backup/x.meta" for a moved file.
	Handle string
	// Line is the 1-based line number, or 0 when the problem is about the
	// whole file.
	Line int
	// Err says what is wrong. It wraps catalog.ErrConflict for conflicts,
	// storage.ErrTooLarge for a file over the size limit and ErrStray for
	// stray entries (with Options.Strict); a line that does not parse gives
	// a *[aptos.SyntaxError].
	Err error
}

// Error returns "import <handle>:<line>: <reason>", or "import <handle>:
// <reason>" for a whole-file problem. For a line that does not parse the
// column follows the line, as compilers print it: "import
// metadata/x.meta:3:17: missing field `manifest`".
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString("import ")
	b.WriteString(aptos.Quote(p.Handle))
	if p.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
		var se *aptos.SyntaxError
		if errors.As(p.Err, &se) {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(se.Column()))
			b.WriteString(": ")
			b.WriteString(se.Msg)
			return b.String()
		}
	}
	b.WriteString(": ")
	b.WriteString(p.Err.Error())
	return b.String()
}

// Unwrap returns Err.
func (p Problem) Unwrap() error { return p.Err }

// InputError is returned when the input is bad: nothing was written, the
// catalog is exactly as it was. It lists every problem found, up to
// Options.MaxProblems.
type InputError struct {
	// Problems lists the problems, sorted by handle and line.
	Problems []Problem
	// More counts the problems found beyond those listed.
	More int
}

// Error returns one problem per line, then "... and N more" if More > 0.
func (e *InputError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Error())
	}
	if e.More > 0 {
		if len(e.Problems) > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "... and %d more", e.More)
	}
	return b.String()
}

// Unwrap returns [aptos.ErrInvalid] followed by every listed Problem, so
// errors.Is(err, [catalog.ErrConflict]) holds when a problem is a conflict,
// and errors.Is(err, [aptos.ErrInvalid]) always holds.
func (e *InputError) Unwrap() []error {
	errs := make([]error, 0, 1+len(e.Problems))
	errs = append(errs, aptos.ErrInvalid)
	for _, p := range e.Problems {
		errs = append(errs, p)
	}
	return errs
}

// problems collects Problems up to a limit and counts the rest.
type problems struct {
	max  int
	list []Problem
	more int
}

func (ps *problems) add(p Problem) {
	if len(ps.list) < ps.max {
		ps.list = append(ps.list, p)
	} else {
		ps.more++
	}
}

func (ps *problems) empty() bool { return len(ps.list) == 0 && ps.more == 0 }

func (ps *problems) err() *InputError {
	list := append([]Problem(nil), ps.list...)
	sortProblems(list)
	return &InputError{Problems: list, More: ps.more}
}

func sortProblems(list []Problem) {
	// Stable: problems of one line keep the order they were found in.
	slices.SortStableFunc(list, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Handle, b.Handle), cmp.Compare(a.Line, b.Line))
	})
}

// sizeError is the reason of a Problem for a file over the size limit.
type sizeError struct{ limit int64 }

func (e *sizeError) Error() string { return "file is larger than " + formatSize(e.limit) }

func (e *sizeError) Unwrap() error { return storage.ErrTooLarge }

// formatSize prints n bytes in the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + " " + u.name
		}
	}
	if n == 1 {
		return "1 byte"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// strayError is the reason of a Problem for a stray entry (Strict).
type strayError struct {
	reason     string
	inProgress bool  // a file still being written (Options.InProgress)
	cause      error // nil, or the storage error that revealed it
}

func (e *strayError) Error() string { return ErrStray.Error() + ": " + e.reason }

func (e *strayError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrStray}
	}
	return []error{ErrStray, e.cause}
}

var (
	errStrayDotfile = &strayError{reason: `not a metadata file name: a dotfile (a name starting with ".")`}
	errStrayNotMeta = &strayError{reason: `not a metadata file name: it does not end in ".meta"`}
	errStrayName    = &strayError{reason: `not a metadata file name (want a ShellSafeName ending in ".meta")`}
)

// strayNotRegular is the reason for an entry the storage refused to read
// as not a regular file; err wraps [storage.ErrNotRegular].
func strayNotRegular(err error) *strayError {
	what := "a subdirectory, a symbolic link or a special file"
	var nr *storage.NotRegularError
	if errors.As(err, &nr) {
		what = nr.What
		if what == "a directory" {
			what = "a sub-folder"
		}
	}
	return &strayError{reason: "not a regular file: it is " + what + " (never followed or read)", cause: storage.ErrNotRegular}
}

// wrapImport names the import operation in front of err, once: an error
// that already starts with it ("import: ...", "import metadata/x: ...") is
// returned as it is, so no message reads "import: import: ...".
func wrapImport(err error) error {
	if msg := err.Error(); strings.HasPrefix(msg, "import:") || strings.HasPrefix(msg, "import ") {
		return err
	}
	return fmt.Errorf("import: %w", err)
}
