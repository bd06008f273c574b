package remote_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/remote"
	"github.com/metactl/metactl/serve"
)

// TestLsPages: the listing is read in pages of one generation and equals
// the local catalog's document byte for byte.
func TestLsPages(t *testing.T) {
	defer remote.SetPageSize(7)()
	path := filepath.Join(t.TempDir(), "c.db")
	catalogtest.BenchCatalogAt(t, path, 40, 1)
	s, err := serve.New(serve.Options{Catalog: path, ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := s.HTTPServer()
	go srv.Serve(s.Listener(ln))
	defer srv.Close()
	c, err := remote.New("http://"+ln.Addr().String(), remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := catalog.Open(t.Context(), path, &catalog.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, state := range []catalog.State{0, catalog.Live} {
		got, err := c.Ls(t.Context(), state)
		if err != nil {
			t.Fatal(err)
		}
		want, err := api.LsOf(t.Context(), db, state)
		if err != nil {
			t.Fatal(err)
		}
		var g, w bytes.Buffer
		api.Encode(&g, got)
		api.Encode(&w, want)
		if g.String() != w.String() || len(got.Files) < 30 {
			t.Errorf("state %v: %d files\n%.300s\nwant %d files\n%.300s", state, len(got.Files), g.String(), len(want.Files), w.String())
		}
	}
}

// TestRetryBusy: a 503 with Retry-After is tried again within Wait; after
// Wait the error document's exit code (busy, 5) is the error's.
func TestRetryBusy(t *testing.T) {
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
			io.WriteString(w, `{"error": {"code": "busy", "message": "serve: overloaded", "exit": 5}}`)
			return
		}
		io.WriteString(w, `{"generation": 3}`)
	}))
	defer ts.Close()
	c, _ := remote.New(ts.URL, remote.Options{Wait: 10 * time.Second})
	st, err := c.Status(t.Context(), false)
	if err != nil || st.Generation != 3 || n.Load() != 3 {
		t.Errorf("after two 503s: %+v %v, %d requests", st, err, n.Load())
	}
	n.Store(-100)
	c, _ = remote.New(ts.URL, remote.Options{Wait: 1500 * time.Millisecond})
	_, err = c.Status(t.Context(), false)
	if api.ExitCode(err) != api.ExitBusy {
		t.Errorf("busy beyond Wait: %v, exit %d", err, api.ExitCode(err))
	}
}
