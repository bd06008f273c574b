package serve_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/catalog"
	_ "github.com/metactl/metactl/catalog/etcdstore" // etcd:// locations
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/serve"
)

// start serves the catalog at path in-process and returns its base URL.
func start(t *testing.T, path string, opts serve.Options) (string, *serve.Server) {
	t.Helper()
	opts.Catalog = path
	if opts.ScratchDir == "" {
		opts.ScratchDir = t.TempDir()
	}
	s, err := serve.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := s.HTTPServer()
	go srv.Serve(s.Listener(ln))
	t.Cleanup(func() { srv.Close(); s.Close() })
	return "http://" + ln.Addr().String(), s
}

func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func newCatalog(t *testing.T, files int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.db")
	catalogtest.BenchCatalogAt(t, path, files, 1)
	return path
}

// TestErrors: every failure is the JSON error document with the status
// its kind asks for, naming the query parameter.
func TestErrors(t *testing.T) {
	base, _ := start(t, newCatalog(t, 40), serve.Options{})
	for _, tc := range []struct {
		method, path string
		status       int
		code, msg    string
	}{
		{"GET", "/v2/nothing", 404, "usage", `/v2/nothing: no such path`},
		{"GET", "/v1/read?handle=metadata/nope.meta", 404, "not_found", `file \"metadata/nope.meta\" is not in the catalog`},
		{"GET", "/v1/read", 400, "usage", `query parameter \"handle\": give at least one`},
		{"GET", "/v1/log?n=-5", 400, "usage", `query parameter \"n\": want a non-negative integer, got \"-5\"`},
		{"GET", "/v1/log?n=1&n=2", 400, "usage", `query parameter \"n\": given 2 times; give it once`},
		{"GET", "/v1/log?limit=3", 400, "usage", `unknown query parameter \"limit\"`},
		{"GET", "/v1/ls?limit=0", 400, "usage", `query parameter \"limit\": want 1 to 10000, got 0`},
		{"GET", "/v1/ls?state=gone", 400, "usage", `query parameter \"state\"`},
		{"GET", "/v1/ls?limit=2&continue=xyz", 400, "usage", `query parameter \"continue\": not a token this server gave`},
		{"GET", "/v1/plan?target_version=x", 400, "usage", `query parameter \"target_version\": want a non-negative integer`},
		{"GET", "/v1/plan?strict=maybe", 400, "usage", `query parameter \"strict\": want true or false`},
		{"POST", "/v1/status", 405, "usage", `POST /v1/status: method not allowed`},
		{"DELETE", "/v1/archive", 405, "usage", `method not allowed`},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		resp, body := do(t, req)
		var doc api.Error
		if err := json.Unmarshal(body, &doc); err != nil || resp.StatusCode != tc.status || doc.Error.Code != tc.code ||
			!strings.Contains(string(body), tc.msg) || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %s\n%s\nwant %d, code %s, %q", tc.method, tc.path, resp.StatusCode, resp.Header, body, tc.status, tc.code, tc.msg)
		}
		if tc.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", tc.method, tc.path, resp.Header.Get("Allow"))
		}
	}
}

// TestNoCatalogYet: serve starts without a catalog, is live but not ready,
// answers 503 with Retry-After, and becomes ready once the catalog exists.
func TestNoCatalogYet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.db")
	base, _ := start(t, path, serve.Options{})
	if resp, _ := get(t, base+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	for _, p := range []string{"/readyz", "/v1/status", "/v1/archive"} {
		resp, body := get(t, base+p)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s without a catalog: %d %v %s", p, resp.StatusCode, resp.Header, body)
		}
	}
	resp, body := get(t, base+"/metrics")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "metactl_catalog_up 0\n") || !strings.Contains(string(body), "process_open_fds") {
		t.Errorf("metrics without a catalog: %d\n%s", resp.StatusCode, body)
	}
	catalogtest.BenchCatalogAt(t, path, 20, 1)
	if resp, body := get(t, base+"/readyz"); resp.StatusCode != 200 {
		t.Errorf("readyz with a catalog: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, base+"/metrics")
	for _, want := range []string{"metactl_catalog_up 1\n", "metactl_build_info{", `metactl_http_request_duration_seconds_bucket{code="503",endpoint="/readyz"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestListingPages: pages of a listing come from the first page's
// generation even when a write lands between them, and together equal the
// whole listing of that generation; a generation no longer held is 410.
func TestListingPages(t *testing.T) {
	path := newCatalog(t, 50)
	base, _ := start(t, path, serve.Options{KeepGenerations: 2})
	_, whole := get(t, base+"/v1/ls")
	var want api.Ls
	if err := json.Unmarshal(whole, &want); err != nil {
		t.Fatal(err)
	}
	var got []api.LsFile
	url := base + "/v1/ls?limit=7"
	pages := 0
	for {
		resp, body := get(t, url)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", url, resp.StatusCode, body)
		}
		var page api.Ls
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		if page.Generation != want.Generation {
			t.Fatalf("page %d at generation %d, want %d", pages, page.Generation, want.Generation)
		}
		got = append(got, page.Files...)
		pages++
		if pages == 1 {
			write(t, path, "transaction_999000000-999000009.meta")
		}
		if page.Continue == "" {
			break
		}
		url = base + "/v1/ls?limit=7&continue=" + page.Continue
	}
	if len(got) != len(want.Files) || pages != (len(want.Files)+6)/7 {
		t.Fatalf("%d pages, %d files, want %d files", pages, len(got), len(want.Files))
	}
	for i := range got {
		if got[i] != want.Files[i] {
			t.Fatalf("file %d: %+v, want %+v", i, got[i], want.Files[i])
		}
	}
	// The first page's token, after two more writes: its generation is
	// gone from the server's cache.
	resp, body := get(t, base+"/v1/ls?limit=7")
	var first api.Ls
	json.Unmarshal(body, &first)
	write(t, path, "transaction_999000010-999000019.meta")
	get(t, base+"/v1/ls?limit=1")
	write(t, path, "transaction_999000020-999000029.meta")
	get(t, base+"/v1/ls?limit=1")
	resp, body = get(t, base+"/v1/ls?limit=7&continue="+first.Continue)
	if resp.StatusCode != 410 || !strings.Contains(string(body), "no longer held") {
		t.Errorf("stale token: %d %s", resp.StatusCode, body)
	}
}

func write(t *testing.T, path, name string) {
	t.Helper()
	db, err := catalog.Open(t.Context(), path, &catalog.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var first string
	_, rest, _ := strings.Cut(name, "_")
	first, _, _ = strings.Cut(rest, "-")
	last := strings.TrimSuffix(strings.SplitN(rest, "-", 2)[1], ".meta")
	line := `{"TransactionBackup":{"first_version":` + first + `,"last_version":` + last + `,"manifest":"t/` + first + `"}}` + "\n"
	catalogtest.PutNew(t, db, catalog.NewFile{Handle: "metadata/" + name, Content: []byte(line), State: catalog.Live, Source: "test"})
}

// TestCaching: ETag per generation with 304, gzip on request, and the
// whole listing equal to api.LsOf's document.
func TestCaching(t *testing.T) {
	path := newCatalog(t, 30)
	base, _ := start(t, path, serve.Options{})
	resp, body := get(t, base+"/v1/status")
	tag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || tag == "" {
		t.Fatalf("status: %d %q", resp.StatusCode, tag)
	}
	for _, p := range []string{"/v1/status", "/v1/ls", "/v1/log", "/v1/verify", "/v1/read?handle=" + firstHandle(t, base)} {
		if resp, b := get(t, base+p, "If-None-Match", tag); resp.StatusCode != 304 || len(b) != 0 {
			t.Errorf("%s with If-None-Match %s: %d %q", p, tag, resp.StatusCode, b)
		}
	}
	resp, zbody := get(t, base+"/v1/status", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip not used: %v", resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zbody))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, body) {
		t.Errorf("gzip body differs:\n%s\nwant:\n%s", plain, body)
	}
	// The streamed listing is byte for byte the document api.Encode
	// writes.
	db, err := catalog.Open(t.Context(), path, &catalog.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, state := range []catalog.State{0, catalog.Live, catalog.Moved} {
		doc, err := api.LsOf(t.Context(), db, state)
		if err != nil {
			t.Fatal(err)
		}
		buf.Reset()
		api.Encode(&buf, doc)
		q := ""
		if state != 0 {
			q = "?state=" + state.String()
		}
		if _, b := get(t, base+"/v1/ls"+q); !bytes.Equal(b, buf.Bytes()) {
			t.Errorf("/v1/ls%s:\n%.300s\nwant:\n%.300s", q, b, buf.Bytes())
		}
	}
	db.Close()
	// An archive is built once per generation and shared.
	_, a1 := get(t, base+"/v1/archive")
	resp, a2 := get(t, base+"/v1/archive")
	if !bytes.Equal(a1, a2) || resp.Header.Get("ETag") == "" {
		t.Errorf("archives differ or lack an ETag")
	}
}

func firstHandle(t *testing.T, base string) string {
	_, b := get(t, base+"/v1/ls?limit=1")
	var l api.Ls
	json.Unmarshal(b, &l)
	return l.Files[0].Handle
}

// TestUnreachableBackend: a catalog whose backend does not answer gets
// 503 with Retry-After within BusyTimeout, not after a long hang.
func TestUnreachableBackend(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	base, _ := start(t, "etcd://"+dead+"/metactl", serve.Options{BusyTimeout: 300 * time.Millisecond})
	for _, p := range []string{"/v1/status", "/readyz", "/v1/ls?limit=5"} {
		t0 := time.Now()
		resp, body := get(t, base+p)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "did not answer within 300ms") {
			t.Errorf("%s: %d %v %s", p, resp.StatusCode, resp.Header, body)
		}
		if d := time.Since(t0); d > 10*time.Second {
			t.Errorf("%s answered after %s", p, d)
		}
	}
}

// TestVerifyGaugesAtStart: the verify gauges are there from the start,
// without any /v1/verify, and follow a new generation.
func TestVerifyGaugesAtStart(t *testing.T) {
	path := newCatalog(t, 30)
	base, s := start(t, path, serve.Options{Poll: 50 * time.Millisecond})
	s.Start()
	waitMetric := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, body := get(t, base+"/metrics")
			if strings.Contains(string(body), want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("metrics lack %q:\n%s", want, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitMetric("metactl_verify_problems 0\n")
	write(t, path, "transaction_999000000-999000009.meta") // a gap: a problem
	waitMetric("metactl_verify_problems 1\n")
	resp, _ := get(t, base+"/metrics")
	if resp.StatusCode != 200 {
		t.Errorf("metrics: %d", resp.StatusCode)
	}
	if c := s.Served(); c == 0 {
		t.Errorf("served %d", c)
	}
}
