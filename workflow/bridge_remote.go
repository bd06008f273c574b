package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/catalog"
)

// ServedCatalog is a catalog `metactl serve` serves (--catalog
// http(s)://...), for the bridge's read calls; writes need the catalog
// itself.
type ServedCatalog struct {
	Client ServedClient
}

// ServedClient is what the bridge asks of a served catalog's client
// (remote.Client). It is an interface so that workflow, and with it the
// lean metactl-adapter (a process per Aptos call), does not link the HTTP
// client: net/http and crypto/tls added 40 package inits to every call.
type ServedClient interface {
	// Ls lists the files in state (one /v1/ls request).
	Ls(ctx context.Context, state catalog.State) (*api.Ls, error)
	// Read returns the named files' entries (one /v1/read request).
	Read(ctx context.Context, handles []string) (*api.Read, error)
}

// list returns the live handles of one generation (one /v1/ls request).
func (s *ServedCatalog) list(ctx context.Context) (uint64, []string, error) {
	ls, err := s.Client.Ls(ctx, catalog.Live)
	if err != nil {
		return 0, nil, err
	}
	out := make([]string, 0, len(ls.Files))
	for _, f := range ls.Files {
		out = append(out, f.Handle)
	}
	return ls.Generation, out, nil
}

// read returns a live or moved file's content (one /v1/read request): its
// entries as serve gives them, one line each, encoded as serde_json
// writes them. A file deleted since (undo, cleanup) is not served.
func (s *ServedCatalog) read(ctx context.Context, handle string) ([]byte, uint64, error) {
	r, err := s.Client.Read(ctx, []string{handle})
	if err != nil {
		return nil, 0, err
	}
	if len(r.Files) != 1 || r.Files[0].Handle != handle {
		return nil, 0, fmt.Errorf("metadata file %q: the served catalog answered another file: %w", handle, catalog.ErrNotFound)
	}
	var b bytes.Buffer
	for _, e := range r.Files[0].Entries {
		// The document may be indented: each entry back on one line.
		if err := json.Compact(&b, e); err != nil {
			return nil, 0, fmt.Errorf("metadata file %q: entry from the served catalog: %w", handle, err)
		}
		b.WriteByte('\n')
	}
	return b.Bytes(), r.Generation, nil
}
