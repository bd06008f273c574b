package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/metactl/metactl/aptos"
)

// FormatName is the value of the header's "format" field.
const FormatName = "metactl-archive"

// FormatVersion is the archive format version this package writes. It
// reads this one and version 1 (an archive without the journal).
const FormatVersion = 2

// minVersion is the oldest format version a reader accepts.
const minVersion = 1

// Limits a reader enforces on untrusted input.
const (
	// MaxLineSize bounds a header, record or trailer line (handles are
	// short; a source is at most 64 KiB in the catalog).
	MaxLineSize = 1 << 20
	// MaxFileSize bounds one file's content, as storage.DefaultMaxFileSize
	// bounds a file read from storage.
	MaxFileSize = 256 << 20
	// MaxPlainSize bounds the whole plaintext. Import holds every file in
	// memory before it commits, so this also bounds its memory.
	MaxPlainSize = 4 << 30
	// decoderMaxMemory caps the zstd decoder's window (restic's rule: set a
	// memory cap whenever decoding input you did not write).
	decoderMaxMemory = 512 << 20
)

// zstdMagic starts every zstd frame (RFC 8878 §3.1.1).
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// IsArchive reports whether prefix, the first bytes of a file, starts with
// the zstd frame magic 28 b5 2f fd. It needs at least four bytes; it does
// not prove the file is a valid archive ([Read] does).
func IsArchive(prefix []byte) bool { return bytes.HasPrefix(prefix, zstdMagic) }

// ErrBadArchive is returned (wrapped, usually by a [*BadArchiveError]) when
// an archive is not exactly the format this package writes: not zstd,
// corrupt, truncated, the wrong version, oversized, or failing a digest.
var ErrBadArchive = errors.New("bad archive")

// ErrViewMismatch is returned (wrapped) by an archive import
// ([importer.ReadArchive]'s batch) when the catalog's view
// after the import differs from the archive's (for example because the
// catalog already held other live files); the transaction is rolled back.
var ErrViewMismatch = errors.New("view digest mismatch")

// BadArchiveError is the error a reader returns for an archive it refuses.
// errors.Is(err, ErrBadArchive) holds for every *BadArchiveError.
type BadArchiveError struct {
	// Reason says what is wrong, such as "truncated: no trailer after 12
	// files".
	Reason string
	// Err is the underlying cause (a zstd or JSON error), or nil.
	Err error
}

// Error returns "read archive: <reason>[: <cause>]".
func (e *BadArchiveError) Error() string {
	s := "read archive: " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is ErrBadArchive.
func (e *BadArchiveError) Is(target error) bool { return target == ErrBadArchive }

// Unwrap returns the underlying cause, or nil.
func (e *BadArchiveError) Unwrap() error { return e.Err }

// Header is the first line of an archive: what it holds and which catalog
// state it is.
type Header struct {
	// Format is always FormatName.
	Format string `json:"format"`
	// Version is the format version, FormatVersion.
	Version int `json:"version"`
	// Generation is the catalog generation the archive was made from.
	Generation uint64 `json:"generation"`
	// Identity is the catalog's identity as 64 lowercase hex digits, or ""
	// if it has none.
	Identity string `json:"identity"`
	// ViewDigest is the catalog's view digest at that generation.
	ViewDigest aptos.Digest `json:"view_digest"`
	// Files is the number of file records that follow.
	Files int `json:"files"`
	// Entries is the number of entries in the view.
	Entries int `json:"entries"`
	// Journal is the number of journal lines that follow the file records
	// (version 2); 0 in a version 1 archive, which has no journal.
	Journal int `json:"journal,omitempty"`
}

// FileState says which folder of the legacy layout a file lives in.
type FileState string

const (
	// Live files are in metadata/ and make up the view.
	Live FileState = "live"
	// Moved files were superseded by compaction and live in
	// metadata_backup/.
	Moved FileState = "moved"
)

// FileRecord is one metadata file in an archive: the catalog's file minus
// what derives from the content.
// Its JSON form (for --json output; the archive's own record line is
// written separately, see the package documentation) leaves out Content.
type FileRecord struct {
	Handle         string    `json:"handle"`           // "metadata/<name>"
	State          FileState `json:"state"`            // Live or Moved
	Source         string    `json:"source"`           // provenance, as the catalog recorded it
	ImportedAt     time.Time `json:"imported_at"`      // as the catalog recorded it (UTC)
	StateChangedAt time.Time `json:"state_changed_at"` // as the catalog recorded it (UTC)
	Size           int       `json:"size"`             // len(Content)
	SHA256         string    `json:"sha256"`           // of Content, 64 lowercase hex digits
	Content        []byte    `json:"-"`                // the file's bytes
}

// wireRecord is the JSON of a record line. It is separate from FileRecord
// so that the layout does not depend on how catalog types marshal.
type wireRecord struct {
	Handle         string    `json:"handle"`
	State          string    `json:"state"`
	Source         string    `json:"source"`
	ImportedAt     time.Time `json:"imported_at"`
	StateChangedAt time.Time `json:"state_changed_at"`
	Size           int       `json:"size"`
	SHA256         string    `json:"sha256"`
}

// wireTrailer is the JSON of the trailer line. End comes first so that a
// reader can tell the trailer from a record by its prefix.
type wireTrailer struct {
	End    bool   `json:"end"`
	Files  int    `json:"files"`
	SHA256 string `json:"sha256"`
}

// trailerPrefix starts the trailer line and no record line.
var trailerPrefix = []byte(`{"end":`)

// opPrefix starts a journal line (version 2) and no record line.
var opPrefix = []byte(`{"op":`)

// wireOp is the JSON of a journal line: one Op.
type wireOp struct {
	Op *Op `json:"op"`
}

// Op is one record of the catalog's journal as an archive carries it,
// field for field the catalog's own record (importing an archive restores
// the journal from these). A reader refuses a field it does not know.
type Op struct {
	Generation   uint64       `json:"generation"`
	Kind         string       `json:"kind"`
	Time         time.Time    `json:"time"`
	Command      string       `json:"command,omitempty"`
	Inputs       []string     `json:"inputs,omitempty"`
	Note         string       `json:"note,omitempty"`
	Added        Changes      `json:"added"`
	Replaced     Changes      `json:"replaced"`
	Moved        Changes      `json:"moved"`
	Revived      Changes      `json:"revived"`
	Deleted      Changes      `json:"deleted"`
	Entries      int          `json:"entries"`
	DigestBefore aptos.Digest `json:"digest_before"`
	DigestAfter  aptos.Digest `json:"digest_after"`
	Undoes       uint64       `json:"undoes,omitempty"`
	Purged       int          `json:"purged,omitempty"`
	Quarantined  int          `json:"quarantined,omitempty"`
}

// Changes counts the files of one kind of change in an Op and lists their
// handles (Truncated: not all of them).
type Changes struct {
	Count     int      `json:"count"`
	Handles   []string `json:"handles,omitempty"`
	Truncated bool     `json:"truncated,omitempty"`
}

func parseState(s string) (FileState, bool) {
	switch s {
	case "live":
		return Live, true
	case "moved":
		return Moved, true
	}
	return "", false
}

func parseSHA256(s string) ([32]byte, bool) {
	// By hand: hex.DecodeString and a re-encoding to refuse upper case
	// allocated twice per record, a sixth of reading a record.
	var sum [32]byte
	if len(s) != 64 {
		return sum, false
	}
	for i := range sum {
		hi, ok1 := lowerHex(s[2*i])
		lo, ok2 := lowerHex(s[2*i+1])
		if !ok1 || !ok2 {
			return [32]byte{}, false
		}
		sum[i] = hi<<4 | lo
	}
	return sum, true
}

// lowerHex returns the value of a lowercase hex digit.
func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// marshalLine returns v as one line of compact JSON, newline included.
func marshalLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeStrict decodes one JSON value, refusing unknown fields and
// anything after the value.
func decodeStrict(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
