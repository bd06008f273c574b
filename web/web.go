package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/coverage"
)

//go:embed assets/index.html assets/page.css assets/page.js
var assets embed.FS

// DefaultPollInterval is how often the page polls when
// Options.PollInterval is zero.
const DefaultPollInterval = 3 * time.Second

// Options say where the handler reads and how it answers errors.
type Options struct {
	// View runs fn in one read-only transaction of the served catalog
	// and returns fn's error, or the error of opening the catalog (a
	// [*catalog.BusyError] when the lock wait timed out). It must not hold
	// the catalog after it returns. Required.
	View func(ctx context.Context, fn func(catalog.Tx) error) error
	// Fail writes the answer for err, which View returned. Nil means a
	// plain-text 503 for a busy catalog and 500 otherwise.
	Fail func(w http.ResponseWriter, r *http.Request, err error)
	// NotFound answers any path the handler does not serve. Nil means
	// http.NotFound.
	NotFound http.Handler
	// PollInterval is how often the page polls its documents; zero means
	// DefaultPollInterval.
	PollInterval time.Duration
	// Coverage tunes the computation (nil: coverage's defaults).
	Coverage *coverage.Options
}

// Handler serves the page and its coverage documents. It is safe for
// concurrent use.
type Handler struct {
	opts Options
	page []byte
	csp  string
	etag string

	mu     sync.Mutex   // held while a document is computed
	cached *document    // the last computed document, by tag
	asked  atomic.Int64 // when a request last asked for a document (Unix ns)
}

// document is one generation's coverage, encoded once.
type document struct {
	tag        string // generation and view digest
	generation uint64
	json       []byte
	svg        []byte
}

// New returns the handler. It panics if opts.View is nil.
func New(opts Options) *Handler {
	if opts.View == nil {
		panic("web.New: Options.View is nil")
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.NotFound == nil {
		opts.NotFound = http.NotFoundHandler()
	}
	h := &Handler{opts: opts}
	h.page, h.csp = buildPage(opts.PollInterval)
	sum := sha256.Sum256(h.page)
	h.etag = `"page-` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	return h
}

// buildPage inlines the embedded style and script into the HTML, so the
// page is one document, and returns it with a Content-Security-Policy
// that allows only that script and same-origin fetches: the browser
// itself refuses any other request.
func buildPage(poll time.Duration) (page []byte, csp string) {
	read := func(name string) string {
		b, err := assets.ReadFile("assets/" + name)
		if err != nil {
			panic(err) // embedded at build time: cannot happen
		}
		return string(b)
	}
	script := read("page.js")
	sum := sha256.Sum256([]byte(script))
	html := read("index.html")
	html = strings.Replace(html, "/*STYLE*/", read("page.css"), 1)
	html = strings.Replace(html, "/*SCRIPT*/", script, 1)
	html = strings.Replace(html, "{{POLL_MS}}", strconv.FormatInt(poll.Milliseconds(), 10), 1)
	csp = "default-src 'none'; connect-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; " +
		"script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return []byte(html), csp
}

// ServeHTTP answers GET and HEAD of "/", "/coverage.json" and
// "/coverage.svg".
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/":
		h.servePage(w, r)
	case "/coverage.json":
		h.serveDocument(w, r, false)
	case "/coverage.svg":
		h.serveDocument(w, r, true)
	default:
		h.opts.NotFound.ServeHTTP(w, r)
	}
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", h.etag)
	if match(r, h.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(h.page)
}

// match reports whether the request's If-None-Match names tag.
func match(r *http.Request, tag string) bool {
	for _, t := range strings.Split(r.Header.Get("If-None-Match"), ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == tag || t == "*" {
			return true
		}
	}
	return false
}

// tagOf is the ETag of a generation's documents: the generation and the
// view digest (a catalog rebuilt from scratch restarts its generations,
// its digest tells the two apart).
func tagOf(gen uint64, tx catalog.Tx) string {
	return fmt.Sprintf("g%d-%s", gen, tx.ViewDigest().String()[:16])
}

func (h *Handler) serveDocument(w http.ResponseWriter, r *http.Request, svg bool) {
	kind := `"cov-`
	if svg {
		kind = `"svg-`
	}
	// First the cheap read: the generation, to answer 304 or the kept
	// document without computing anything.
	var tag string
	var gen uint64
	err := h.opts.View(r.Context(), func(tx catalog.Tx) error {
		gen = tx.Generation()
		tag = tagOf(gen, tx)
		return nil
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.asked.Store(time.Now().UnixNano())
	etag := kind + tag + `"`
	if match(r, etag) {
		h.headers(w, etag, gen, svg)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	doc, err := h.document(r.Context(), tag)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The document may be of a newer generation than the first read saw.
	etag = kind + doc.tag + `"`
	h.headers(w, etag, doc.generation, svg)
	body := doc.json
	if svg {
		body = doc.svg
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

func (h *Handler) headers(w http.ResponseWriter, etag string, gen uint64, svg bool) {
	hd := w.Header()
	if svg {
		hd.Set("Content-Type", "image/svg+xml")
	} else {
		hd.Set("Content-Type", "application/json")
	}
	hd.Set("ETag", etag)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Metactl-Generation", strconv.FormatUint(gen, 10))
}

// document returns the kept document if it is of generation tag, else
// computes the current one. One request computes at a time; the others
// wait for it and take its result when it is theirs.
func (h *Handler) document(ctx context.Context, tag string) (*document, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d := h.cached; d != nil && d.tag == tag {
		return d, nil
	}
	var d *document
	err := h.opts.View(ctx, func(tx catalog.Tx) error {
		gen := tx.Generation()
		t := tagOf(gen, tx)
		if c := h.cached; c != nil && c.tag == t {
			d = c
			return nil
		}
		rep, err := coverage.Read(tx, h.opts.Coverage)
		if err != nil {
			return err
		}
		d, err = encode(rep, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	h.cached = d
	return d, nil
}

// Watch keeps the current generation's document ready until ctx ends:
// every interval it reads the generation (one short read transaction)
// and, when it changed, computes the document, so the first page to look
// at a new generation does not wait for it (at a million entries that is
// most of a page load). A failed read is retried at the next tick; the
// requests report errors, not the watcher. Like a request, each read is
// one transaction of a catalog opened for it, so a writer waits at most
// for one computation.
func (h *Handler) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var tag string
		err := h.opts.View(ctx, func(tx catalog.Tx) error {
			tag = tagOf(tx.Generation(), tx)
			return nil
		})
		if err == nil && h.wanted(tag) {
			h.document(ctx, tag)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchedFor is how long after the last request for a document Watch
// keeps computing new generations' documents: serve's main work is the
// restore path, so a page nobody looks at costs nothing after that.
const watchedFor = 10 * time.Minute

// wanted reports whether Watch should compute tag's document now: a
// new generation, and either no document yet (serve just started) or a
// page that asked recently.
func (h *Handler) wanted(tag string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cached != nil && h.cached.tag == tag {
		return false
	}
	return h.cached == nil || time.Since(time.Unix(0, h.asked.Load())) < watchedFor
}

// Document is the JSON answer of /coverage.json: the report without its
// segments (they are drawn in SVG), with the drawing.
type Document struct {
	*coverage.Report
	Timeline *struct{} `json:"timeline,omitempty"` // left out: the SVG draws it
	SVG      string    `json:"svg"`
}

func encode(rep *coverage.Report, tag string) (*document, error) {
	var svg bytes.Buffer
	if err := rep.WriteSVG(&svg); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // the SVG's markup as it is: a third of the bytes
	if err := enc.Encode(Document{Report: rep, SVG: svg.String()}); err != nil {
		return nil, fmt.Errorf("encode coverage: %w", err)
	}
	return &document{tag: tag, generation: rep.Generation, json: b.Bytes(), svg: svg.Bytes()}, nil
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if h.opts.Fail != nil {
		h.opts.Fail(w, r, err)
		return
	}
	var be *catalog.BusyError
	if errors.As(err, &be) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	http.Error(w, err.Error(), http.StatusInternalServerError)
}
