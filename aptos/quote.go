package aptos

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Quote returns s ready to print in a message: s itself when it is valid
// UTF-8 holding only printable characters (spaces included), otherwise
// s quoted as strconv.Quote does, so a control byte (ESC, newline, CR,
// NUL, DEL, C1 codes) or invalid UTF-8 in a file name, handle or manifest
// never reaches an operator's terminal raw. Every message that names a
// file, handle or manifest goes through it (or through %q).
func Quote(s string) string {
	if NeedsQuote(s) {
		return strconv.Quote(s)
	}
	return s
}

// NeedsQuote reports whether [Quote] would quote s: it holds invalid
// UTF-8, a non-printable character, or a double quote or backslash at its
// start (so a quoted name cannot pass for a plain one).
func NeedsQuote(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '"' || s[0] == '\\' {
		return true
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return true
		}
		if r != ' ' && !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// Sanitize escapes every control byte and invalid UTF-8 in a whole
// message, keeping its line breaks and tabs: the last line of defence of
// what metactl prints on a terminal (names in it should already be
// [Quote]d).
func Sanitize(msg string) string {
	clean := true
	for i := 0; i < len(msg); {
		r, size := utf8.DecodeRuneInString(msg[i:])
		if (r == utf8.RuneError && size <= 1) || (r != '\n' && r != '\t' && r != ' ' && !unicode.IsPrint(r)) {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return msg
	}
	var b []byte
	for i := 0; i < len(msg); {
		r, size := utf8.DecodeRuneInString(msg[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b = append(b, `\x`...)
			b = append(b, "0123456789abcdef"[msg[i]>>4], "0123456789abcdef"[msg[i]&15])
		case r == '\n' || r == '\t' || r == ' ' || unicode.IsPrint(r):
			b = append(b, msg[i:i+size]...)
		default:
			q := strconv.QuoteRune(r)
			b = append(b, q[1:len(q)-1]...)
		}
		i += size
	}
	return string(b)
}
