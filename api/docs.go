package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/coverage"
	"github.com/metactl/metactl/verify"
)

// Encode writes v as metactl prints every document: two-space indent, no
// HTML escaping, and a final newline.
//
// encoding/json escapes C0 controls but not DEL and the C1 controls
// (U+0080-U+009F, CSI among them), which some terminals obey: Encode
// escapes those too, so a name in a document cannot drive a terminal.
func Encode(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(escapeJSONControls(buf.Bytes()))
	return err
}

// escapeJSONControls replaces every raw DEL or C1 control in JSON text
// (they can only be inside strings) by its \u escape.
func escapeJSONControls(b []byte) []byte {
	if !bytes.ContainsFunc(b, isDELorC1) {
		return b
	}
	var out []byte
	for _, r := range string(b) {
		if isDELorC1(r) {
			out = fmt.Appendf(out, `\u%04x`, r)
			continue
		}
		out = utf8.AppendRune(out, r)
	}
	return out
}

func isDELorC1(r rune) bool { return r == 0x7f || (r >= 0x80 && r <= 0x9f) }

// Status is the document of `status`.
type Status struct {
	aptos.StorageState
	Generation uint64       `json:"generation"`
	ViewDigest aptos.Digest `json:"view_digest"`
	Entries    int          `json:"entries"`
	LiveFiles  int          `json:"live_files"`
	MovedFiles int          `json:"moved_files"`
	Identity   string       `json:"identity,omitempty"`
	// Coverage is there when asked for (status --coverage) only.
	Coverage *coverage.Summary `json:"coverage,omitempty"`
}

// LsFile is one row of `ls`.
type LsFile struct {
	Handle         string        `json:"handle"`
	Path           string        `json:"path"` // where the file lives: metadata/<name> or metadata_backup/<name>
	State          catalog.State `json:"state"`
	Lines          int           `json:"lines"`
	Size           int           `json:"size"`
	SHA256         string        `json:"sha256"`
	Source         string        `json:"source"`
	ImportedAt     time.Time     `json:"imported_at"`
	StateChangedAt time.Time     `json:"state_changed_at"`
}

// Ls is the document of `ls`. Continue is set only on a page of serve's
// paged listing that has more after it.
type Ls struct {
	Generation uint64   `json:"generation"`
	Files      []LsFile `json:"files"`
	Continue   string   `json:"continue,omitempty"`
}

// ReadFile is one file of `read`: its entries as the catalog holds them,
// one JSON line each.
type ReadFile struct {
	Handle  string            `json:"handle"`
	State   catalog.State     `json:"state"`
	Entries []json.RawMessage `json:"entries"`
}

// Read is the document of `read`.
type Read struct {
	Generation uint64     `json:"generation"`
	Files      []ReadFile `json:"files"`
}

// Plan is the document of `plan`.
type Plan struct {
	Generation uint64 `json:"generation"`
	OK         bool   `json:"ok"`
	// Error is null, or the failure in the shape of every command's
	// error document (Error's "error").
	Error    *ErrorBody `json:"error"`
	Warnings []string   `json:"warnings"`
	// Missing repeats the plan's holes, or those behind a refusal.
	Missing []aptos.Missing    `json:"missing"`
	Plan    *aptos.RestorePlan `json:"plan"`
}

// Verify is the document of `verify`.
type Verify struct {
	*verify.Report
	OK bool `json:"ok"`
}

// Log is the document of `log`: the journal, newest first.
type Log struct {
	Generation uint64               `json:"generation"`
	Operations []*catalog.Operation `json:"operations"`
}
