package export

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/storage"
)

// identityName is the file Aptos writes a storage's identity to.
const identityName = "identity.meta"

// Foreign is a storage file that the catalog never wrote and export would
// replace or move: another chain's, or another storage's, data.
type Foreign struct {
	// Path is "metadata/<name>" or "metadata_backup/<name>".
	Path string `json:"path"`
	// Reason says what differs: another identity, or other content.
	Reason string `json:"reason"`
}

// ForeignError is returned by Publish, before anything is changed, when
// the storage holds files the catalog never wrote at names it would write
// or move (Files, sorted by path), or the identity of another chain.
// Options.Force publishes anyway and lists them in Result.Overridden. It
// wraps [catalog.ErrConflict].
type ForeignError struct {
	Target string
	Files  []Foreign
}

func (e *ForeignError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "export: %s holds %d %s the catalog never wrote (another chain's or another storage's data?); nothing was changed: ",
		e.Target, len(e.Files), plural(len(e.Files), "file", "files"))
	for i, f := range e.Files {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", f.Path, f.Reason)
	}
	b.WriteString(". Check the target; --force replaces them")
	return b.String()
}

// Unwrap returns [catalog.ErrConflict].
func (e *ForeignError) Unwrap() error { return catalog.ErrConflict }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// foreign says why raw, the bytes of a storage file named name, is not the
// catalog's to replace or move, or "" if it is: the catalog holds or held
// that content under that name (its current content, a deleted file's, or
// any content of a name the catalog rewrote), or it is a truncated or
// damaged copy (it does not decode or parse, or is a prefix of the
// catalog's content), which export repairs. f is the catalog's file of that name, nil if none; a file
// the catalog does not know is only checked for its identity.
func (s *Snapshot) foreign(f *catalog.File, name string, raw []byte) string {
	content, err := storage.Decode(raw, 0)
	if err != nil {
		return ""
	}
	lines, err := aptos.ParseFile(content)
	if err != nil {
		return ""
	}
	if s.Identity != nil {
		for i := range lines {
			if lines[i].Kind == aptos.KindIdentity && lines[i].Identity.ID != *s.Identity {
				return fmt.Sprintf("identity %s, the catalog's is %s: another chain's storage", lines[i].Identity.ID, *s.Identity)
			}
		}
	}
	if f == nil || s.rewrittenAll || s.rewritten[f.Handle] {
		// Unknown to the catalog (only its identity matters), or a name
		// the catalog itself rewrote: an earlier version is its own.
		return ""
	}
	sum := sha256.Sum256(content)
	if sum == f.SHA256 || bytes.HasPrefix(f.Content, content) {
		return ""
	}
	for _, h := range s.held[f.Handle] {
		if h == sum {
			return ""
		}
	}
	return fmt.Sprintf("content (sha256 %x) that the catalog never held under this name (the catalog's: sha256 %x)", sum[:8], f.SHA256[:8])
}
