package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/web"
)

// BenchmarkCoverageJSON is the server's side of loading the coverage page:
// GET /coverage.json through the handler, each read opening the catalog
// read-only for one transaction and closing it, as serve does. The
// catalog holds 100,000 lines in files of 100 lines; 1,000,000 with
// METACTL_BENCH_LARGE=1 (issue 23: the page loads in under 2 s at 1M).
//
//   - first: a new generation's document (the view read from the entry
//     index, aggregated, encoded and drawn): what the first page to look at
//     a generation waits for;
//   - kept: the same generation again, from another page (one cheap read
//     of the generation, then the kept bytes);
//   - not-modified: a page polling with the ETag it holds (304);
//   - page: GET / (the embedded page itself).
func BenchmarkCoverageJSON(b *testing.B) {
	path := filepath.Join(b.TempDir(), "catalog.db")
	catalogtest.BenchCatalogAt(b, path, catalogtest.BenchSize(100_000, 1_000_000), 100)
	view := func(ctx context.Context, fn func(catalog.Tx) error) error {
		db, err := catalog.Open(ctx, path, &catalog.Options{ReadOnly: true, Timeout: catalogtest.LockTimeout})
		if err != nil {
			return err
		}
		defer db.Close()
		return db.View(ctx, fn)
	}
	get := func(b *testing.B, h http.Handler, url, etag string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(b.Context(), http.MethodGet, url, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusNotModified {
			b.Fatalf("GET %s: %d %s", url, rec.Code, rec.Body)
		}
		return rec
	}
	b.Run("first", func(b *testing.B) {
		catalogtest.ResetPeakRSS(b)
		var n, ops int
		cpu := cpuTime(b)
		for b.Loop() {
			ops++
			h := web.New(web.Options{View: view}) // nothing kept
			n = get(b, h, "/coverage.json", "").Body.Len()
		}
		b.ReportMetric(float64((cpuTime(b)-cpu).Milliseconds())/float64(ops), "cpu-ms/op")
		b.ReportMetric(float64(n), "bytes")
		catalogtest.ReportPeakRSS(b)
	})
	h := web.New(web.Options{View: view})
	etag := get(b, h, "/coverage.json", "").Header().Get("ETag")
	b.Run("kept", func(b *testing.B) {
		for b.Loop() {
			get(b, h, "/coverage.json", "")
		}
	})
	b.Run("not-modified", func(b *testing.B) {
		for b.Loop() {
			if rec := get(b, h, "/coverage.json", etag); rec.Code != http.StatusNotModified {
				b.Fatalf("with the ETag: %d", rec.Code)
			}
		}
	})
	b.Run("page", func(b *testing.B) {
		var n int
		for b.Loop() {
			n = get(b, h, "/", "").Body.Len()
		}
		b.ReportMetric(float64(n), "bytes")
	})
}
