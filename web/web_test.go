package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/web"
)

func gappedCatalog(t *testing.T) catalog.DB {
	t.Helper()
	db := catalogtest.Open(t)
	var files []catalogtest.File
	add := func(name string, m aptos.Metadata) {
		files = append(files, catalogtest.File{Name: name, State: catalog.Live, Lines: []aptos.Metadata{m}})
	}
	add("epoch_ending_0-0.meta", catalogtest.EpochEnding(0, 0, 0, 0, "e0"))
	add("state_snapshot_ver_0.meta", catalogtest.StateSnapshot(0, 0, "s0"))
	for i := uint64(0); i < 10; i++ {
		if i == 4 {
			continue
		}
		add(fmt.Sprintf("transaction_%d-%d.meta", i*100, i*100+99), catalogtest.Transaction(i*100, i*100+99, fmt.Sprint("t", i)))
	}
	catalogtest.Put(t, db, files...)
	return db
}

func server(t *testing.T, db catalog.DB, views *int) *httptest.Server {
	t.Helper()
	h := web.New(web.Options{View: func(ctx context.Context, fn func(catalog.Tx) error) error {
		if views != nil {
			*views++
		}
		return db.View(ctx, fn)
	}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func fetch(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestPageSelfContained: the page is one document whose script and style
// are inline; it names no other origin and loads nothing but its own
// documents, and the Content-Security-Policy forbids anything else.
func TestPageSelfContained(t *testing.T) {
	srv := server(t, gappedCatalog(t), nil)
	resp, page := fetch(t, srv.URL+"/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	if strings.Contains(page, "/*SCRIPT*/") || strings.Contains(page, "/*STYLE*/") || strings.Contains(page, "{{") {
		t.Error("page has a placeholder left")
	}
	if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindString(page); m != "" && !strings.Contains(m, "www.w3.org") {
		t.Errorf("page names another origin: %q", m)
	}
	if m := regexp.MustCompile(`(?i)<(script|link|img)[^>]*(src|href)="[^d#]`).FindString(page); m != "" {
		t.Errorf("page loads a resource: %q", m)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "script-src 'sha256-"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	etag := resp.Header.Get("ETag")
	if resp, _ := fetch(t, srv.URL+"/", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("GET / with its ETag: %s, want 304", resp.Status)
	}
	if resp, _ := fetch(t, srv.URL+"/elsewhere"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /elsewhere: %s, want 404", resp.Status)
	}
}

// TestCoverageDocument: coverage.json is the report of one generation
// with the gap's exact range and the drawing; its ETag gives 304 without
// computing again, and the SVG comes with the same generation.
func TestCoverageDocument(t *testing.T) {
	db := gappedCatalog(t)
	views := 0
	srv := server(t, db, &views)
	resp, body := fetch(t, srv.URL+"/coverage.json")
	if resp.StatusCode != 200 || resp.Header.Get("X-Metactl-Generation") != "1" {
		t.Fatalf("coverage.json: %s, generation %q", resp.Status, resp.Header.Get("X-Metactl-Generation"))
	}
	var doc struct {
		Generation      uint64 `json:"generation"`
		Restorable      bool   `json:"restorable"`
		FrontierVersion uint64 `json:"frontier_version"`
		GapCount        int    `json:"gap_count"`
		Gaps            []struct {
			FirstVersion, LastVersion uint64
		} `json:"gaps"`
		SVG      string          `json:"svg"`
		Timeline json.RawMessage `json:"timeline"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if !doc.Restorable || doc.FrontierVersion != 399 || doc.GapCount != 1 || !strings.Contains(doc.SVG, "GAP versions 400-499") {
		t.Errorf("document: restorable %v frontier %d gaps %d svg has gap: %v", doc.Restorable, doc.FrontierVersion, doc.GapCount,
			strings.Contains(doc.SVG, "GAP versions 400-499"))
	}
	if doc.Timeline != nil {
		t.Error("the document carries the segments; the SVG draws them")
	}
	etag := resp.Header.Get("ETag")
	before := views
	resp, _ = fetch(t, srv.URL+"/coverage.json", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || views != before+1 {
		t.Errorf("with its ETag: %s after %d reads, want 304 after one", resp.Status, views-before)
	}
	resp, svg := fetch(t, srv.URL+"/coverage.svg")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || svg != doc.SVG {
		t.Errorf("coverage.svg: %s %s, same drawing: %v", resp.Status, resp.Header.Get("Content-Type"), svg == doc.SVG)
	}

	// Filling the gap is a new generation: a new document, no gap.
	catalogtest.Put(t, db, catalogtest.File{Name: "transaction_400-499.meta", State: catalog.Live,
		Lines: []aptos.Metadata{catalogtest.Transaction(400, 499, "t4")}})
	resp, body = fetch(t, srv.URL+"/coverage.json", "If-None-Match", etag)
	if resp.StatusCode != 200 || resp.Header.Get("X-Metactl-Generation") != "2" || resp.Header.Get("ETag") == etag {
		t.Fatalf("after a write: %s generation %s", resp.Status, resp.Header.Get("X-Metactl-Generation"))
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Generation != 2 || doc.GapCount != 0 || doc.FrontierVersion != 999 || strings.Contains(doc.SVG, "GAP") {
		t.Errorf("after the fill: generation %d, %d gaps, frontier %d", doc.Generation, doc.GapCount, doc.FrontierVersion)
	}
}

// TestBusy: a catalog whose lock wait timed out is 503 with Retry-After
// by default (serve passes its own JSON error answer).
func TestBusy(t *testing.T) {
	h := web.New(web.Options{View: func(ctx context.Context, fn func(catalog.Tx) error) error {
		return fmt.Errorf("open: %w", &catalog.BusyError{Path: "c.db"})
	}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, _ := fetch(t, srv.URL+"/coverage.json")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("busy: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
}

// countingTx counts the view reads (the expensive part of a document).
type countingTx struct {
	catalog.Tx
	n *atomic.Int32
}

func (c countingTx) View() (*aptos.View, error) {
	c.n.Add(1)
	return c.Tx.View()
}

// TestWatch: the watcher computes the document of a new generation ahead
// of the pages, so a page's request finds it kept and reads no view.
func TestWatch(t *testing.T) {
	db := gappedCatalog(t)
	var computed atomic.Int32
	h := web.New(web.Options{View: func(ctx context.Context, fn func(catalog.Tx) error) error {
		return db.View(ctx, func(tx catalog.Tx) error { return fn(countingTx{tx, &computed}) })
	}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go h.Watch(ctx, 10*time.Millisecond)
	srv := httptest.NewServer(h)
	defer srv.Close()
	fetch(t, srv.URL+"/coverage.json") // a page looks: the watcher keeps going
	if n := computed.Load(); n != 1 {
		t.Fatalf("generation 1 computed %d times, want once", n)
	}
	catalogtest.Put(t, db, catalogtest.File{Name: "transaction_400-499.meta", State: catalog.Live,
		Lines: []aptos.Metadata{catalogtest.Transaction(400, 499, "t4")}})
	for deadline := time.Now().Add(10 * time.Second); computed.Load() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not compute generation 2 within 10 s")
		}
	}
	resp, _ := fetch(t, srv.URL+"/coverage.json")
	if g, n := resp.Header.Get("X-Metactl-Generation"), computed.Load(); g != "2" || n != 2 {
		t.Errorf("generation %s, computed %d times, want 2 and 2", g, n)
	}
}

// TestQuarantinedShown: files import set aside are in the document, with
// their handle and error.
func TestQuarantinedShown(t *testing.T) {
	db := gappedCatalog(t)
	_, err := db.Update(t.Context(), "import", func(tx catalog.WriteTx) error {
		return tx.Quarantine(catalog.QuarantinedFile{Handle: "metadata/transaction_400-499.meta", State: catalog.Live,
			Error: "line 1: not JSON", Content: []byte("{oops\n"), Source: "test"})
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, db, nil)
	_, body := fetch(t, srv.URL+"/coverage.json")
	var doc struct {
		QuarantinedCount int `json:"quarantined_count"`
		Quarantined      []struct {
			Handle, State, Error string
		} `json:"quarantined"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.QuarantinedCount != 1 || len(doc.Quarantined) != 1 || doc.Quarantined[0].Handle != "metadata/transaction_400-499.meta" ||
		doc.Quarantined[0].State != "live" || doc.Quarantined[0].Error != "line 1: not JSON" {
		t.Errorf("quarantined: %+v", doc)
	}
}
