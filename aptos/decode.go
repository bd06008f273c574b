package aptos

import (
	"strconv"
	"unicode/utf8"
)

// SyntaxError reports a metadata line that Aptos's Rust reader (serde_json
// with serde-derived types, docs/aptos-format.md §2.5) would refuse.
type SyntaxError struct {
	// Offset is the 0-based byte offset in the line of the byte at fault:
	// the first byte of the offending token or value, or len(line) when the
	// line ends too early.
	Offset int
	// Msg says what is wrong, in lowercase, worded after serde_json's
	// messages where they are precise enough.
	Msg string
}

// Column returns the 1-based byte column of the fault: Offset+1.
func (e *SyntaxError) Column() int { return e.Offset + 1 }

// Error returns "column N: msg".
func (e *SyntaxError) Error() string {
	return "column " + strconv.Itoa(e.Column()) + ": " + e.Msg
}

// Messages shared by several call sites.
const (
	msgEOFValue     = "EOF while parsing a value"
	msgEOFObject    = "EOF while parsing an object"
	msgEOFList      = "EOF while parsing a list"
	msgEOFString    = "EOF while parsing a string"
	msgControlChar  = "control character (\\u0000-\\u001F) found while parsing a string"
	msgBadEscape    = "invalid escape"
	msgLoneSurr     = "lone surrogate in hex escape"
	msgBadNumber    = "invalid number"
	msgOutOfRange   = "number out of range"
	msgBadIdent     = "expected ident"
	msgNoValue      = "expected value"
	msgColon        = "expected `:`"
	msgObjCommaEnd  = "expected `,` or `}`"
	msgListCommaEnd = "expected `,` or `]`"
	msgKeyString    = "key must be a string"
	msgTrailComma   = "trailing comma"
	msgTrailing     = "trailing characters"
	msgOneVariant   = "expected exactly one variant key"
	msgBadID        = "invalid value: want 64 hex digits"
	msgBadUTF8      = "invalid utf-8"

	msgUnknownVariant = "`, expected one of `EpochEndingBackup`, `StateSnapshotBackup`, `TransactionBackup`, `Identity`, `CompactionTimestamps`"
)

// Names of expected types, as they appear after "expected" in messages.
const (
	expU64       = "u64"
	expU64OrNull = "u64 or null"
	expString    = "a string"
	expMap       = "a map"
	expEnum      = "enum Metadata"
)

// structDesc describes one payload struct: its Rust name (used in messages,
// as serde does) and its fields in declaration order, which is also the
// element order of the array form.
type structDesc struct {
	rust   string
	fields []string
}

var structs = [...]structDesc{
	KindEpochEnding: {"struct EpochEndingBackupMeta",
		[]string{"first_epoch", "last_epoch", "first_version", "last_version", "manifest"}},
	KindStateSnapshot: {"struct StateSnapshotBackupMeta",
		[]string{"epoch", "version", "manifest"}},
	KindTransaction: {"struct TransactionBackupMeta",
		[]string{"first_version", "last_version", "manifest"}},
	KindIdentity: {"struct IdentityMeta",
		[]string{"id"}},
	KindCompactionTimestamps: {"struct CompactionTimestampsMeta",
		[]string{"file_compacted_at", "compaction_timestamps"}},
}

// fieldIndex returns the index of the field named name, or -1 for a field
// the struct does not have (serde ignores those).
func (s *structDesc) fieldIndex(name []byte) int {
	for i, f := range s.fields {
		if string(name) == f {
			return i
		}
	}
	return -1
}

// variantKind returns the Kind whose serde variant name is exactly name
// (case-sensitive), or 0.
func variantKind(name []byte) Kind {
	switch string(name) {
	case "EpochEndingBackup":
		return KindEpochEnding
	case "StateSnapshotBackup":
		return KindStateSnapshot
	case "TransactionBackup":
		return KindTransaction
	case "Identity":
		return KindIdentity
	case "CompactionTimestamps":
		return KindCompactionTimestamps
	}
	return 0
}

// strStop marks the bytes that end the fast scan of a string: the closing
// quote, a backslash, and the control bytes JSON forbids raw.
var strStop = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'] = true
	t['\\'] = true
	return t
}()

// ParseLine parses one metadata line, without its "\n", as Aptos's Rust
// reader does (docs/aptos-format.md §2.5): serde_json's grammar, whitespace
// between any two tokens (a trailing "\r" included), payload fields in any
// order, unknown payload fields skipped, the array form of a payload struct,
// duplicate fields refused, duplicate keys in the compaction_timestamps map
// resolved last-wins. Every error is a *SyntaxError. ParseLine does not retain
// line.
func ParseLine(line []byte) (Metadata, error) {
	if !utf8.Valid(line) {
		return Metadata{}, &SyntaxError{Offset: invalidUTF8Offset(line), Msg: msgBadUTF8}
	}
	d := decoder{b: line}
	var m Metadata
	if err := d.metadata(&m); err != nil {
		return Metadata{}, err
	}
	return m, nil
}

// invalidUTF8Offset returns the offset of the first byte of b that does not
// start a valid UTF-8 sequence, or len(b).
func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// decoder is a cursor over one line that is known to be valid UTF-8.
type decoder struct {
	b   []byte
	pos int
	// scratch holds the unescaped bytes of the last string that had
	// escapes. It is reused, so a result of str is valid only until the
	// next call.
	scratch []byte
	// field names the payload field whose value is being parsed ("manifest",
	// `compaction_timestamps["metadata/x.meta"]`), or is empty. Errors
	// inside a value start with it, so a message says which field is wrong.
	field string
}

func (d *decoder) errAt(off int, msg string) error {
	if d.field != "" {
		msg = d.field + ": " + msg
	}
	return &SyntaxError{Offset: off, Msg: msg}
}

func (d *decoder) errEOF(msg string) error {
	return d.errAt(len(d.b), msg)
}

// ws skips JSON whitespace.
func (d *decoder) ws() {
	for d.pos < len(d.b) {
		switch d.b[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// metadata parses the whole line: the externally tagged enum, then nothing
// but whitespace.
func (d *decoder) metadata(m *Metadata) error {
	d.ws()
	if d.pos == len(d.b) {
		return d.errEOF(msgEOFValue)
	}
	if d.b[d.pos] != '{' {
		return d.invalidType(expEnum)
	}
	d.pos++
	d.ws()
	if d.pos == len(d.b) {
		return d.errEOF(msgEOFValue)
	}
	switch d.b[d.pos] {
	case '"':
	case '}':
		return d.errAt(d.pos, msgOneVariant)
	default:
		return d.errAt(d.pos, msgKeyString)
	}
	start := d.pos
	name, err := d.str()
	if err != nil {
		return err
	}
	if m.Kind = variantKind(name); m.Kind == 0 {
		return d.errAt(start, "unknown variant `"+quoteName(name)+msgUnknownVariant)
	}
	if err := d.colon(); err != nil {
		return err
	}
	if err := d.payload(m); err != nil {
		return err
	}
	d.ws()
	if d.pos == len(d.b) {
		return d.errEOF(msgEOFObject)
	}
	switch d.b[d.pos] {
	case '}':
		d.pos++
	case ',':
		return d.errAt(d.pos, msgOneVariant)
	default:
		return d.errAt(d.pos, "expected `}`")
	}
	d.ws()
	if d.pos != len(d.b) {
		return d.errAt(d.pos, msgTrailing)
	}
	return nil
}

// maxNameInError caps how much of an unknown variant name an error quotes.
const maxNameInError = 64

// quoteName renders a decoded variant name for an error message: escaped
// as AppendString escapes it (so the message stays on one line) and cut to
// maxNameInError bytes of the name, marked with "...".
func quoteName(name []byte) string {
	cut := len(name) > maxNameInError
	if cut {
		name = name[:maxNameInError]
		for len(name) > 0 && !utf8.Valid(name) {
			name = name[:len(name)-1] // don't split a rune
		}
	}
	q := AppendString(nil, string(name))
	q = q[1 : len(q)-1]
	if cut {
		q = append(q, "..."...)
	}
	return string(q)
}

// colon consumes the ':' after an object key.
func (d *decoder) colon() error {
	d.ws()
	if d.pos == len(d.b) {
		return d.errEOF(msgEOFObject)
	}
	if d.b[d.pos] != ':' {
		return d.errAt(d.pos, msgColon)
	}
	d.pos++
	return nil
}

// payload parses the struct of variant m.Kind, in map or array form.
func (d *decoder) payload(m *Metadata) error {
	s := &structs[m.Kind]
	d.ws()
	if d.pos == len(d.b) {
		return d.errEOF(msgEOFValue)
	}
	switch d.b[d.pos] {
	case '{':
		return d.structMap(m, s)
	case '[':
		return d.structSeq(m, s)
	}
	return d.invalidType(s.rust)
}

// structMap parses a payload in map form: known fields once each, in any
// order, unknown fields skipped, then every field present.
func (d *decoder) structMap(m *Metadata, s *structDesc) error {
	d.pos++ // '{'
	var seen uint8
	d.ws()
	if d.pos == len(d.b) {
		return d.errEOF(msgEOFObject)
	}
	if d.b[d.pos] != '}' {
		for {
			if d.b[d.pos] != '"' {
				return d.errAt(d.pos, msgKeyString)
			}
			keyStart := d.pos
			key, err := d.str()
			if err != nil {
				return err
			}
			i := s.fieldIndex(key)
			// serde checks for a duplicate before it reads the ':'.
			if i >= 0 && seen&(1<<i) != 0 {
				return d.errAt(keyStart, "duplicate field `"+s.fields[i]+"`")
			}
			if err := d.colon(); err != nil {
				return err
			}
			if i < 0 {
				d.field = quoteName(key)
				err = d.skip()
				d.field = ""
			} else {
				seen |= 1 << i
				err = d.value(m, i)
			}
			if err != nil {
				return err
			}
			d.ws()
			if d.pos == len(d.b) {
				return d.errEOF(msgEOFObject)
			}
			c := d.b[d.pos]
			if c == '}' {
				break
			}
			if c != ',' {
				return d.errAt(d.pos, msgObjCommaEnd)
			}
			d.pos++
			d.ws()
			if d.pos == len(d.b) {
				return d.errEOF(msgEOFValue)
			}
			if d.b[d.pos] == '}' {
				return d.errAt(d.pos, msgTrailComma)
			}
		}
	}
	end := d.pos
	d.pos++ // '}'
	for i, f := range s.fields {
		if seen&(1<<i) == 0 {
			return d.errAt(end, "missing field `"+f+"`")
		}
	}
	return nil
}

// structSeq parses a payload in array form: exactly one element per field,
// in declaration order.
func (d *decoder) structSeq(m *Metadata, s *structDesc) error {
	d.pos++ // '['
	for i := range s.fields {
		d.ws()
		if d.pos == len(d.b) {
			return d.errEOF(msgEOFList)
		}
		c := d.b[d.pos]
		if c == ']' {
			return d.errAt(d.pos, "invalid length "+strconv.Itoa(i)+", expected "+s.withElements())
		}
		if i > 0 {
			if c != ',' {
				return d.errAt(d.pos, msgListCommaEnd)
			}
			d.pos++
			d.ws()
			if d.pos == len(d.b) {
				return d.errEOF(msgEOFValue)
			}
			if d.b[d.pos] == ']' {
				return d.errAt(d.pos, msgTrailComma)
			}
		}
		if err := d.value(m, i); err != nil {
			return err
		}
	}
	d.ws()
	if d.pos == len(d.b) {
		return d.errEOF(msgEOFList)
	}
	switch d.b[d.pos] {
	case ']':
		d.pos++
		return nil
	case ',':
		comma := d.pos
		d.pos++
		d.ws()
		if d.pos < len(d.b) && d.b[d.pos] == ']' {
			return d.errAt(d.pos, msgTrailComma)
		}
		return d.errAt(comma, "invalid length: too many elements, expected "+s.withElements())
	}
	return d.errAt(d.pos, msgListCommaEnd)
}

// withElements returns serde's description of the array form, such as
// "struct TransactionBackupMeta with 3 elements".
func (s *structDesc) withElements() string {
	if len(s.fields) == 1 {
		return s.rust + " with 1 element"
	}
	return s.rust + " with " + strconv.Itoa(len(s.fields)) + " elements"
}

// value parses the value of field i of m's payload; its errors name the
// field.
func (d *decoder) value(m *Metadata, i int) error {
	d.field = structs[m.Kind].fields[i]
	defer func() { d.field = "" }()
	var err error
	switch m.Kind {
	case KindEpochEnding:
		e := &m.EpochEnding
		switch i {
		case 0:
			e.FirstEpoch, err = d.u64(expU64)
		case 1:
			e.LastEpoch, err = d.u64(expU64)
		case 2:
			e.FirstVersion, err = d.u64(expU64)
		case 3:
			e.LastVersion, err = d.u64(expU64)
		case 4:
			e.Manifest, err = d.string()
		}
	case KindStateSnapshot:
		s := &m.StateSnapshot
		switch i {
		case 0:
			s.Epoch, err = d.u64(expU64)
		case 1:
			s.Version, err = d.u64(expU64)
		case 2:
			s.Manifest, err = d.string()
		}
	case KindTransaction:
		t := &m.Transaction
		switch i {
		case 0:
			t.FirstVersion, err = d.u64(expU64)
		case 1:
			t.LastVersion, err = d.u64(expU64)
		case 2:
			t.Manifest, err = d.string()
		}
	case KindIdentity:
		m.Identity.ID, err = d.hash()
	case KindCompactionTimestamps:
		c := &m.Timestamps
		switch i {
		case 0:
			c.FileCompactedAt, err = d.u64(expU64)
		case 1:
			c.Timestamps, err = d.timestamps()
		}
	}
	return err
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// u64 parses a JSON integer that fits in a u64. exp names the expected type
// in "invalid type" messages.
func (d *decoder) u64(exp string) (uint64, error) {
	d.ws()
	if d.pos == len(d.b) {
		return 0, d.errEOF(msgEOFValue)
	}
	start := d.pos
	if !isDigit(d.b[start]) {
		return 0, d.invalidType(exp)
	}
	i := start
	var v uint64
	overflow := false
	if d.b[i] == '0' {
		i++
		if i < len(d.b) && isDigit(d.b[i]) {
			return 0, d.errAt(i, msgBadNumber)
		}
	} else {
		for ; i < len(d.b) && isDigit(d.b[i]); i++ {
			digit := uint64(d.b[i] - '0')
			if v > (^uint64(0)-digit)/10 {
				overflow = true
			} else if !overflow {
				v = v*10 + digit
			}
		}
	}
	if i < len(d.b) {
		switch d.b[i] {
		case '.', 'e', 'E':
			if _, _, err := d.scanNumber(start); err != nil {
				return 0, err
			}
			return 0, d.errAt(start, "invalid type: floating point, expected "+exp)
		}
	}
	if overflow {
		return 0, d.errAt(start, msgOutOfRange)
	}
	d.pos = i
	return v, nil
}

// scanNumber checks the JSON number grammar from offset i and returns the
// offset just past the number and whether it has a fraction or exponent.
func (d *decoder) scanNumber(i int) (end int, float bool, err error) {
	n := len(d.b)
	if i < n && d.b[i] == '-' {
		i++
	}
	switch {
	case i == n:
		return 0, false, d.errAt(i, msgBadNumber)
	case d.b[i] == '0':
		i++
		if i < n && isDigit(d.b[i]) {
			return 0, false, d.errAt(i, msgBadNumber)
		}
	case isDigit(d.b[i]):
		for i < n && isDigit(d.b[i]) {
			i++
		}
	default:
		return 0, false, d.errAt(i, msgBadNumber)
	}
	if i < n && d.b[i] == '.' {
		float = true
		i++
		j := i
		for i < n && isDigit(d.b[i]) {
			i++
		}
		if i == j {
			return 0, false, d.errAt(i, msgBadNumber)
		}
	}
	if i < n && (d.b[i] == 'e' || d.b[i] == 'E') {
		float = true
		i++
		if i < n && (d.b[i] == '+' || d.b[i] == '-') {
			i++
		}
		j := i
		for i < n && isDigit(d.b[i]) {
			i++
		}
		if i == j {
			return 0, false, d.errAt(i, msgBadNumber)
		}
	}
	return i, float, nil
}

// literal consumes the keyword lit ("null", "true" or "false") at d.pos.
func (d *decoder) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		p := d.pos + i
		if p == len(d.b) {
			return d.errEOF(msgEOFValue)
		}
		if d.b[p] != lit[i] {
			return d.errAt(d.pos, msgBadIdent)
		}
	}
	d.pos += len(lit)
	return nil
}

// invalidType reports the value at d.pos as the wrong type for exp, after
// checking that it is at least a well-formed JSON token, as serde_json does.
func (d *decoder) invalidType(exp string) error {
	start := d.pos
	var what string
	switch c := d.b[start]; {
	case c == 'n':
		if err := d.literal("null"); err != nil {
			return err
		}
		what = "null"
	case c == 't':
		if err := d.literal("true"); err != nil {
			return err
		}
		what = "boolean"
	case c == 'f':
		if err := d.literal("false"); err != nil {
			return err
		}
		what = "boolean"
	case c == '-' || isDigit(c):
		_, float, err := d.scanNumber(start)
		if err != nil {
			return err
		}
		switch {
		case float:
			what = "floating point"
		case c != '-':
			what = "integer"
		case exp == expU64 || exp == expU64OrNull:
			// serde: a negative integer has the right type for a u64,
			// but not a valid value.
			return d.errAt(start, "invalid value: negative integer, expected "+exp)
		default:
			what = "negative integer"
		}
	case c == '"':
		what = "string"
	case c == '[':
		what = "sequence"
	case c == '{':
		what = "map"
	default:
		return d.errAt(start, msgNoValue)
	}
	return d.errAt(start, "invalid type: "+what+", expected "+exp)
}

// string parses a JSON string value into a new Go string.
func (d *decoder) string() (string, error) {
	d.ws()
	if d.pos == len(d.b) {
		return "", d.errEOF(msgEOFValue)
	}
	if d.b[d.pos] != '"' {
		return "", d.invalidType(expString)
	}
	s, err := d.str()
	if err != nil {
		return "", err
	}
	return string(s), nil
}

// hash parses a HashValue: a string of exactly 64 hex digits, either case.
func (d *decoder) hash() (HashValue, error) {
	var h HashValue
	d.ws()
	if d.pos == len(d.b) {
		return h, d.errEOF(msgEOFValue)
	}
	if d.b[d.pos] != '"' {
		return h, d.invalidType(expString)
	}
	start := d.pos
	s, err := d.str()
	if err != nil {
		return h, err
	}
	if len(s) != 2*len(h) {
		return h, d.errAt(start, msgBadID)
	}
	for i := range h {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return h, d.errAt(start, msgBadID)
		}
		h[i] = hi<<4 | lo
	}
	return h, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// timestamps parses the compaction_timestamps map: string keys, u64 or null
// values, a repeated key overriding the earlier one (serde's HashMap
// insert).
func (d *decoder) timestamps() (map[string]*uint64, error) {
	d.ws()
	if d.pos == len(d.b) {
		return nil, d.errEOF(msgEOFValue)
	}
	if d.b[d.pos] != '{' {
		return nil, d.invalidType(expMap)
	}
	d.pos++
	m := make(map[string]*uint64)
	d.ws()
	if d.pos == len(d.b) {
		return nil, d.errEOF(msgEOFObject)
	}
	if d.b[d.pos] == '}' {
		d.pos++
		return m, nil
	}
	for {
		if d.b[d.pos] != '"' {
			return nil, d.errAt(d.pos, msgKeyString)
		}
		key, err := d.str()
		if err != nil {
			return nil, err
		}
		k := string(key)
		if err := d.colon(); err != nil {
			return nil, err
		}
		outer := d.field
		d.field = outer + `["` + quoteName(key) + `"]`
		d.ws()
		if d.pos == len(d.b) {
			return nil, d.errEOF(msgEOFValue)
		}
		if d.b[d.pos] == 'n' {
			if err := d.literal("null"); err != nil {
				return nil, err
			}
			m[k] = nil
		} else {
			v, err := d.u64(expU64OrNull)
			if err != nil {
				return nil, err
			}
			m[k] = &v
		}
		d.field = outer
		d.ws()
		if d.pos == len(d.b) {
			return nil, d.errEOF(msgEOFObject)
		}
		switch d.b[d.pos] {
		case '}':
			d.pos++
			return m, nil
		case ',':
			d.pos++
			d.ws()
			if d.pos == len(d.b) {
				return nil, d.errEOF(msgEOFValue)
			}
			if d.b[d.pos] == '}' {
				return nil, d.errAt(d.pos, msgTrailComma)
			}
		default:
			return nil, d.errAt(d.pos, msgObjCommaEnd)
		}
	}
}

// str parses the string whose opening quote is at d.pos and returns its
// decoded bytes: a sub-slice of the line when it has no escapes, otherwise
// d.scratch (valid until the next call). Escapes are decoded as serde_json
// decodes them for a String: \uXXXX surrogate pairs combine, and an
// unpaired surrogate is an error.
func (d *decoder) str() ([]byte, error) {
	d.pos++ // opening quote
	start := d.pos
	for i := start; i < len(d.b); i++ {
		c := d.b[i]
		if !strStop[c] {
			continue
		}
		switch c {
		case '"':
			d.pos = i + 1
			return d.b[start:i], nil
		case '\\':
			return d.strEscaped(start, i)
		}
		return nil, d.errAt(i, msgControlChar)
	}
	return nil, d.errEOF(msgEOFString)
}

// strEscaped finishes str for a string whose first escape is at i.
func (d *decoder) strEscaped(start, i int) ([]byte, error) {
	out := append(d.scratch[:0], d.b[start:i]...)
	n := len(d.b)
	for i < n {
		c := d.b[i]
		if !strStop[c] {
			out = append(out, c)
			i++
			continue
		}
		switch c {
		case '"':
			d.pos = i + 1
			d.scratch = out
			return out, nil
		case '\\':
		default:
			return nil, d.errAt(i, msgControlChar)
		}
		esc := i
		if i+1 == n {
			return nil, d.errEOF(msgEOFString)
		}
		i += 2
		switch d.b[i-1] {
		case '"':
			out = append(out, '"')
		case '\\':
			out = append(out, '\\')
		case '/':
			out = append(out, '/')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, err := d.hex4(esc, i)
			if err != nil {
				return nil, err
			}
			i += 4
			switch {
			case 0xDC00 <= r && r <= 0xDFFF:
				return nil, d.errAt(esc, msgLoneSurr)
			case 0xD800 <= r && r <= 0xDBFF:
				// A high surrogate must be followed by an escaped low one.
				if i+1 < n && d.b[i] == '\\' && d.b[i+1] == 'u' {
					lo, err := d.hex4(i, i+2)
					if err != nil {
						return nil, err
					}
					if lo < 0xDC00 || lo > 0xDFFF {
						return nil, d.errAt(esc, msgLoneSurr)
					}
					i += 6
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				} else {
					if i == n || (i+1 == n && d.b[i] == '\\') {
						return nil, d.errEOF(msgEOFString)
					}
					return nil, d.errAt(esc, msgLoneSurr)
				}
			}
			out = utf8.AppendRune(out, rune(r))
		default:
			return nil, d.errAt(esc, msgBadEscape)
		}
	}
	return nil, d.errEOF(msgEOFString)
}

// hex4 decodes the 4 hex digits at i of the \u escape that starts at esc.
func (d *decoder) hex4(esc, i int) (uint32, error) {
	var r uint32
	for j := i; j < i+4; j++ {
		if j == len(d.b) {
			return 0, d.errEOF(msgEOFString)
		}
		v, ok := unhex(d.b[j])
		if !ok {
			return 0, d.errAt(esc, msgBadEscape)
		}
		r = r<<4 | uint32(v)
	}
	return r, nil
}

// skipStr skips the string whose opening quote is at d.pos without decoding
// it. Like serde_json's ignore_str it checks escapes and hex digits but not
// surrogate pairing: an ignored field may hold a lone surrogate.
func (d *decoder) skipStr() error {
	n := len(d.b)
	for i := d.pos + 1; i < n; i++ {
		c := d.b[i]
		if !strStop[c] {
			continue
		}
		switch c {
		case '"':
			d.pos = i + 1
			return nil
		case '\\':
		default:
			return d.errAt(i, msgControlChar)
		}
		esc := i
		i++
		if i == n {
			return d.errEOF(msgEOFString)
		}
		switch d.b[i] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			if _, err := d.hex4(esc, i+1); err != nil {
				return err
			}
			i += 4
		default:
			return d.errAt(esc, msgBadEscape)
		}
	}
	return d.errEOF(msgEOFString)
}

// skip skips one JSON value of any type and nesting depth, checking its
// grammar (serde_json's ignore_value, which has no depth limit). Only
// containers nested deeper than 64 levels allocate.
func (d *decoder) skip() error {
	n := len(d.b)
	var buf [64]byte
	stack := buf[:0] // the open brackets, '[' or '{'
	for {
		// One value.
		d.ws()
		if d.pos == n {
			return d.errEOF(msgEOFValue)
		}
		switch c := d.b[d.pos]; {
		case c == '{' || c == '[':
			d.pos++
			d.ws()
			if d.pos == n {
				return d.errEOF(eofIn(c))
			}
			if d.b[d.pos] == closer(c) {
				d.pos++
				break // an empty container is a complete value
			}
			stack = append(stack, c)
			if c == '{' {
				if err := d.skipKey(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if err := d.skipStr(); err != nil {
				return err
			}
		case c == '-' || isDigit(c):
			end, _, err := d.scanNumber(d.pos)
			if err != nil {
				return err
			}
			d.pos = end
		case c == 'n':
			if err := d.literal("null"); err != nil {
				return err
			}
		case c == 't':
			if err := d.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := d.literal("false"); err != nil {
				return err
			}
		default:
			return d.errAt(d.pos, msgNoValue)
		}
		// After a complete value: close containers until one wants
		// another element.
	next:
		for {
			if len(stack) == 0 {
				return nil
			}
			top := stack[len(stack)-1]
			d.ws()
			if d.pos == n {
				return d.errEOF(eofIn(top))
			}
			switch d.b[d.pos] {
			case closer(top):
				d.pos++
				stack = stack[:len(stack)-1]
			case ',':
				d.pos++
				d.ws()
				if d.pos == n {
					return d.errEOF(msgEOFValue)
				}
				if d.b[d.pos] == closer(top) {
					return d.errAt(d.pos, msgTrailComma)
				}
				if top == '{' {
					if err := d.skipKey(); err != nil {
						return err
					}
				}
				break next
			default:
				if top == '[' {
					return d.errAt(d.pos, msgListCommaEnd)
				}
				return d.errAt(d.pos, msgObjCommaEnd)
			}
		}
	}
}

// skipKey skips an object key and its ':' inside a skipped value; d.pos is
// at the key, after whitespace.
func (d *decoder) skipKey() error {
	if d.b[d.pos] != '"' {
		return d.errAt(d.pos, msgKeyString)
	}
	if err := d.skipStr(); err != nil {
		return err
	}
	return d.colon()
}

func closer(open byte) byte {
	if open == '[' {
		return ']'
	}
	return '}'
}

func eofIn(open byte) string {
	if open == '[' {
		return msgEOFList
	}
	return msgEOFObject
}
