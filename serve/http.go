package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/catalog"
)

// handlerFunc answers a request or returns the error to answer with (the
// error document, if nothing was written yet).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// recorder remembers the status written, for the metrics and the error
// path.
type recorder struct {
	http.ResponseWriter
	status int
	// release gives back the worker slot, once; nil when none is held.
	release func()
}

func (w *recorder) releaseWorker() {
	if w.release != nil {
		w.release()
		w.release = nil
	}
}

// class says which caps a route is under.
type class int

const (
	// classNormal: the cap on requests in flight and a worker slot.
	classNormal class = iota
	// classPriority: the cap on requests in flight, no worker slot
	// (/v1/status: a few key reads, answered at once even under load).
	classPriority
	// classUncapped: no cap (health, readiness, metrics, 404s).
	classUncapped
)

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap makes h a route named name: GET and HEAD only (405 with Allow
// otherwise), the cap on requests in flight, a write deadline, the error
// document for a returned error, and the metrics.
func (s *Server) wrap(name string, c class, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w := &recorder{ResponseWriter: rw}
		defer func() {
			code := w.status
			if code == 0 {
				code = http.StatusOK
			}
			s.served.Add(1)
			s.m.observe(name, code, time.Since(start))
		}()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			s.fail(w, r, &statusError{http.StatusMethodNotAllowed, api.UsageError{Err: fmt.Errorf("%s %s: method not allowed (GET or HEAD)", r.Method, r.URL.Path)}})
			return
		}
		if c != classUncapped {
			select {
			case s.requests <- struct{}{}:
				defer func() { <-s.requests }()
			default:
				s.fail(w, r, &overloadError{fmt.Sprintf("%d requests in flight", s.opts.MaxRequests)})
				return
			}
		}
		if c == classNormal {
			t := time.NewTimer(s.opts.QueueTimeout)
			select {
			case s.workers <- struct{}{}:
				t.Stop()
				w.release = func() { <-s.workers }
				defer w.releaseWorker()
			case <-t.C:
				s.fail(w, r, &overloadError{fmt.Sprintf("%d requests working, this one waited %s", s.opts.Workers, s.opts.QueueTimeout)})
				return
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		http.NewResponseController(rw).SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		if err := h(w, r); err != nil {
			if w.status != 0 {
				s.opts.Logger.Warn("answer cut short", "path", r.URL.Path, "err", err)
				return
			}
			s.fail(w, r, err)
		}
	})
}

// takeExpensive takes a slot of the expensive cap, or returns the 503 to
// answer; release gives it back.
func (s *Server) takeExpensive() (release func(), err error) {
	select {
	case s.expensive <- struct{}{}:
		return func() { <-s.expensive }, nil
	default:
		return nil, &overloadError{fmt.Sprintf("%d expensive requests (verify, plan, archive, full ls, coverage) in flight", s.opts.MaxExpensive)}
	}
}

// statusError answers with a given status.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// overloadError is a request beyond a cap: 503 with Retry-After.
type overloadError struct{ what string }

func (e *overloadError) Error() string {
	return "serve: overloaded: " + e.what + "; retry later"
}

// paramError is a bad query parameter: 400 naming it.
func paramError(name, format string, args ...any) error {
	return api.UsageError{Err: fmt.Errorf("query parameter %q: %s", name, fmt.Sprintf(format, args...))}
}

// httpStatus maps an error to its status and exit code.
func httpStatus(err error) (status, code int) {
	code = api.ExitCode(err)
	var se *statusError
	var over *overloadError
	var unavailable *unavailableError
	switch {
	case errors.As(err, &se):
		return se.status, code
	case errors.As(err, &over):
		return http.StatusServiceUnavailable, api.ExitBusy
	case errors.As(err, &unavailable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, api.ExitBusy
	case errors.Is(err, catalog.ErrNoCatalog):
		return http.StatusServiceUnavailable, code
	case errors.Is(err, catalog.ErrNotFound):
		return http.StatusNotFound, code
	}
	switch code {
	case api.ExitUsage:
		return http.StatusBadRequest, code
	case api.ExitInvalid:
		return http.StatusUnprocessableEntity, code
	case api.ExitBusy:
		return http.StatusServiceUnavailable, code
	}
	return http.StatusInternalServerError, code
}

// fail answers err as the error document.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := httpStatus(err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	var b bytes.Buffer
	api.Encode(&b, api.NewError(err, err.Error(), code))
	h := w.Header()
	h.Del("ETag")
	h.Del("Content-Encoding")
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

// query holds a request's query parameters, checked against the names a
// route accepts: each at most once unless listed as repeatable.
type query map[string][]string

func params(r *http.Request, accepted []string, repeatable ...string) (query, error) {
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	for k, v := range q {
		known := false
		for _, a := range accepted {
			known = known || a == k
		}
		if !known {
			return nil, api.UsageError{Err: fmt.Errorf("%s: unknown query parameter %q (accepted: %s)", r.URL.Path, k, strings.Join(accepted, ", "))}
		}
		rep := false
		for _, a := range repeatable {
			rep = rep || a == k
		}
		if len(v) > 1 && !rep {
			return nil, paramError(k, "given %d times; give it once", len(v))
		}
	}
	return q, nil
}

func parseQuery(raw string) (query, error) {
	q := query{}
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		key, err1 := urlUnescape(k)
		val, err2 := urlUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, api.UsageError{Err: fmt.Errorf("query %q: bad escape", kv)}
		}
		q[key] = append(q[key], val)
	}
	return q, nil
}

func (q query) has(k string) bool { _, ok := q[k]; return ok }

func (q query) get(k string) string {
	if v := q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// uint parses a non-negative integer parameter.
func (q query) uint(k string) (*uint64, error) {
	if !q.has(k) {
		return nil, nil
	}
	v, err := strconv.ParseUint(q.get(k), 10, 64)
	if err != nil {
		return nil, paramError(k, "want a non-negative integer, got %q", q.get(k))
	}
	return &v, nil
}

// bool parses a true/false parameter (absent: false).
func (q query) bool(k string) (bool, error) {
	switch q.get(k) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, paramError(k, "want true or false, got %q", q.get(k))
}

// etag is the weak entity tag of a generation's documents.
func etag(gen uint64) string { return `W/"` + itoa(gen) + `"` }

// notModified reports whether the request's If-None-Match names the tag.
func notModified(r *http.Request, tag string) bool {
	inm := r.Header.Get("If-None-Match")
	if inm == "" {
		return false
	}
	weak := strings.TrimPrefix(tag, "W/")
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == weak {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether the client takes a gzip body.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(name) != "gzip" {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// begin writes the headers of a generation's document (304 if the client
// has it) and returns where to write the body, gzip-compressed if the
// client accepts it; finish flushes it. A nil writer means nothing to send.
func begin(w http.ResponseWriter, r *http.Request, gen uint64, status int) (io.Writer, func() error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Metactl-Generation", itoa(gen))
	h.Set("Vary", "Accept-Encoding")
	tag := etag(gen)
	h.Set("ETag", tag)
	if status == http.StatusOK && notModified(r, tag) {
		h.Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return nil, func() error { return nil }
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return nil, func() error { return nil }
	}
	if !acceptsGzip(r) {
		w.WriteHeader(status)
		return w, func() error { return nil }
	}
	h.Set("Content-Encoding", "gzip")
	w.WriteHeader(status)
	zw := gzip.NewWriter(w)
	return zw, zw.Close
}

// writeDoc answers a generation's document v.
func writeDoc(w http.ResponseWriter, r *http.Request, gen uint64, status int, v any) error {
	out, finish := begin(w, r, gen, status)
	if out == nil {
		return nil
	}
	if err := api.Encode(out, v); err != nil {
		return err
	}
	return finish()
}

func urlUnescape(s string) (string, error) { return url.QueryUnescape(s) }
