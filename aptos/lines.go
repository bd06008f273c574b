package aptos

import (
	"bytes"
	"iter"
	"strconv"
	"unicode/utf8"
)

// LineError is a metadata line that does not parse, with its 1-based line
// number in the file.
type LineError struct {
	Line int
	Err  error
}

// Error returns "line N: <err>".
func (e *LineError) Error() string {
	return "line " + strconv.Itoa(e.Line) + ": " + e.Err.Error()
}

// Unwrap returns the parse error, usually a *SyntaxError.
func (e *LineError) Unwrap() error { return e.Err }

// UTF8Error reports file content that is not valid UTF-8, which Aptos's
// reader refuses as a whole before looking at any line.
type UTF8Error struct {
	// Offset is the 0-based byte offset of the first invalid byte.
	Offset int
}

// Error returns "invalid utf-8 at byte offset N".
func (e *UTF8Error) Error() string {
	return "invalid utf-8 at byte offset " + strconv.Itoa(e.Offset)
}

// SplitLines splits the content of a metadata file into lines as Rust's
// str::lines does (docs/aptos-format.md §5.1 step 6): content must be valid
// UTF-8 (else a
// *UTF8Error); lines end at "\n", and one "\r" just before the "\n" is
// dropped; a "\r" anywhere else stays; there is no empty last line after a
// final "\n", but an empty line in the middle is kept as an empty slice.
// The lines are sub-slices of content, not copies.
func SplitLines(content []byte) ([][]byte, error) {
	if !utf8.Valid(content) {
		return nil, &UTF8Error{Offset: invalidUTF8Offset(content)}
	}
	n := bytes.Count(content, []byte{'\n'})
	if len(content) > 0 && content[len(content)-1] != '\n' {
		n++
	}
	lines := make([][]byte, 0, n)
	for rest := content; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		lines = append(lines, line)
	}
	return lines, nil
}

// Lines yields the lines of content as Rust's str::lines splits them, the
// rules of [SplitLines], without checking UTF-8 and without collecting
// them: it is the one line splitter, for callers that look at each line
// once (a count of bad lines, a storage's listing output).
func Lines(content []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for rest := content; len(rest) > 0; {
			var line []byte
			line, rest = nextLine(rest)
			if !yield(line) {
				return
			}
		}
	}
}

// nextLine cuts the first line off content, which must not be empty, with
// str::lines semantics.
func nextLine(content []byte) (line, rest []byte) {
	i := bytes.IndexByte(content, '\n')
	if i < 0 {
		return content, nil
	}
	line, rest = content[:i], content[i+1:]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, rest
}

// ParseFile parses every line of a metadata file, as Aptos's reader does:
// the file is refused as a whole if any line fails. The error is a
// *LineError for the first bad line; content that is not valid UTF-8 fails
// on the line holding the first invalid byte.
func ParseFile(content []byte) ([]Metadata, error) {
	out := make([]Metadata, 0, bytes.Count(content, []byte{'\n'})+1)
	lineNo := 0
	for rest := content; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		lineNo++
		m, err := ParseLine(line)
		if err != nil {
			return nil, &LineError{Line: lineNo, Err: err}
		}
		out = append(out, m)
	}
	return out, nil
}

// ParseFileAll is ParseFile that does not stop at the first bad line: it
// returns the entries of the good lines and one *LineError per bad line, in
// line order. It stops after max bad lines when max > 0; the entries then
// cover only the lines before the stop. The file is good only if the error
// list is empty.
func ParseFileAll(content []byte, max int) ([]Metadata, []*LineError) {
	out := make([]Metadata, 0, bytes.Count(content, []byte{'\n'})+1)
	var errs []*LineError
	lineNo := 0
	for rest := content; len(rest) > 0; {
		var line []byte
		line, rest = nextLine(rest)
		lineNo++
		m, err := ParseLine(line)
		if err != nil {
			errs = append(errs, &LineError{Line: lineNo, Err: err})
			if max > 0 && len(errs) == max {
				break
			}
			continue
		}
		out = append(out, m)
	}
	return out, errs
}
