//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/metrics"
)

type serveCmd struct {
	Listen          string   `help:"Address to listen on (default: ${default})." default:"127.0.0.1:8080" placeholder:"ADDR"`
	ShutdownTimeout duration `name:"shutdown-timeout" help:"On SIGTERM, wait this long for requests in flight (default: ${default})." default:"10s" placeholder:"DUR"`
}

func (c *serveCmd) Help() string {
	return `Serves the catalog over HTTP to pods that must not open the catalog file
themselves (restore and verify jobs on other nodes):

  GET /                             the coverage page (frontier, gaps, overlaps,
                                    verify problems, last operations), live
  GET /coverage.json, /coverage.svg its data: status --coverage and --svg
  GET /v1/status[?coverage=true]    metactl status --json [--coverage]
  GET /v1/ls?state=live|moved       metactl ls --json
  GET /v1/read?handle=H[&handle=H]  metactl read --json H...
  GET /v1/plan?target_version=V     metactl plan --json (also
      ledger_history_start_version, replay_all, strict)
  GET /v1/verify                    metactl verify --json (200 with "ok": false
                                    when it finds problems)
  GET /v1/log?n=N&files=true        metactl log --json
  GET /v1/archive                   the current generation as an archive
                                    (export --archive), streamed
  GET /healthz                      200 while the process serves
  GET /metrics                      Prometheus metrics (see the README)

Each /v1 answer is the command's own --json document, built by the same
code from one read-only transaction, with the catalog generation in the
X-Metactl-Generation header. The catalog is opened for each request and
closed after it, never held between requests: a writer in another process
(import, compact, cleanup) waits at most for the requests already running,
and new requests wait behind it. Errors are the --json error document with
HTTP 400 (usage), 422 (invalid input), 503 (busy, with Retry-After) or 500.
SIGTERM stops accepting connections and lets requests in flight finish.

Example:
  metactl --catalog /data/metactl.db serve --listen :8080
  curl -s localhost:8080/v1/plan?target_version=5000000`
}

// serveRoutes maps each /v1 path to the command it runs and the query
// parameters it accepts (parameter name -> flag; "" for positional).
var serveRoutes = map[string]struct {
	command string
	params  map[string]string
}{
	"/v1/status": {"status", map[string]string{"coverage": "--coverage"}},
	"/v1/ls":     {"ls", map[string]string{"state": "--state"}},
	"/v1/read":   {"read", map[string]string{"handle": ""}},
	"/v1/plan": {"plan", map[string]string{"target_version": "--target-version",
		"ledger_history_start_version": "--ledger-history-start-version", "replay_all": "--replay-all", "strict": "--strict"}},
	"/v1/verify": {"verify", nil},
	"/v1/log":    {"log", map[string]string{"n": "--limit", "files": "--files"}},
}

func (c *serveCmd) Run(a *app) error {
	path := a.cli.Catalog
	if isArchiveFile(path) {
		// An archive is unpacked once, not per request; nothing writes it.
		tmp, cleanup, err := a.unpackArchive(path, "serve")
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		path = tmp
		defer cleanup()
	}
	if catalog.Scheme(path) == "" { // a URL (etcd://...) is checked per request
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("serve: catalog %q: %w", path, err)
		}
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	s := &server{a: a, catalog: path, served: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "metactl_serve_requests_total", Help: "Requests answered by metactl serve, by path and HTTP status.",
	}, []string{"path", "status"})}
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	a.logf("serve: listening on %s, catalog %s", ln.Addr(), path)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-a.ctx.Done():
	}
	// Graceful shutdown: the signal is the normal way to stop a server,
	// so it exits 0 once the requests in flight are done.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.ShutdownTimeout))
	defer cancel()
	err = srv.Shutdown(ctx)
	a.logf("serve: stopped after %s", count(int(s.requests.Load()), "request"))
	if err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return nil
}

// server answers requests; each /v1 request runs one metactl command
// in-process against the catalog file.
type server struct {
	a        *app
	catalog  string
	requests atomic.Int64
	verified atomic.Pointer[metrics.Verify]
	served   *prometheus.CounterVec
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	for p := range serveRoutes {
		mux.HandleFunc("GET "+p, s.command)
	}
	mux.HandleFunc("GET /v1/archive", s.archive)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.Handle("GET /", s.page()) // the coverage page, coverage.json, coverage.svg (package web)
	return mux
}

// args turns a request into metactl arguments, refusing parameters the
// route does not know (so a client cannot reach other flags).
func (s *server) args(r *http.Request) ([]string, error) {
	route := serveRoutes[r.URL.Path]
	args := []string{"--catalog", s.catalog, "--lock-timeout", s.a.cli.LockTimeout.String(), "--json", route.command}
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var positional []string
	for _, k := range keys {
		flag, ok := route.params[k]
		if !ok {
			return nil, usagef("%s: unknown parameter %q", r.URL.Path, k)
		}
		for _, v := range q[k] {
			switch {
			case flag == "":
				positional = append(positional, v)
			case v == "true" && (flag == "--replay-all" || flag == "--strict" || flag == "--files" || flag == "--coverage"):
				args = append(args, flag)
			default:
				args = append(args, flag+"="+v)
			}
		}
	}
	if len(positional) > 0 {
		args = append(append(args, "--"), positional...)
	}
	return args, nil
}

func (s *server) command(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	args, err := s.args(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var out, errOut bytes.Buffer
	code := run(r.Context(), args, &out, &errOut)
	if r.URL.Path == "/v1/verify" && (code == exitOK || code == exitVerify) {
		var doc struct {
			Problems []json.RawMessage `json:"problems"`
		}
		if json.Unmarshal(out.Bytes(), &doc) == nil {
			s.verified.Store(&metrics.Verify{Problems: len(doc.Problems), At: s.a.now()})
		}
	}
	s.reply(w, r, code, out.Bytes())
}

// reply writes the document of a command that exited with code.
func (s *server) reply(w http.ResponseWriter, r *http.Request, code int, doc []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if g, ok := documentGeneration(doc); ok {
		h.Set("X-Metactl-Generation", strconv.FormatUint(g, 10))
	}
	status := http.StatusOK
	switch code {
	case exitOK, exitVerify:
	case exitUsage:
		status = http.StatusBadRequest
	case exitInvalid:
		status = http.StatusUnprocessableEntity
	case exitBusy:
		status = http.StatusServiceUnavailable
		h.Set("Retry-After", "1")
	default:
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	w.Write(doc)
	s.served.WithLabelValues(r.URL.Path, strconv.Itoa(status)).Inc()
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var b bytes.Buffer
	code := exitCodeOf(err)
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.Encode(newErrorJSON(err, err.Error(), code))
	s.reply(w, r, code, b.Bytes())
}

// documentGeneration finds the catalog generation a --json document was
// read at: its "generation" field, or for the log (a list, newest first)
// the first operation's.
func documentGeneration(doc []byte) (uint64, bool) {
	var one struct {
		Generation *uint64 `json:"generation"`
	}
	if json.Unmarshal(doc, &one) == nil && one.Generation != nil {
		return *one.Generation, true
	}
	var list []struct {
		Generation uint64 `json:"generation"`
	}
	if json.Unmarshal(doc, &list) == nil && len(list) > 0 {
		return list[0].Generation, true
	}
	return 0, false
}

// archive streams the current generation as an archive. It is written to
// a temporary file first, so the catalog is open only for the local write,
// not for as long as a slow client takes to download it.
func (s *server) archive(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	f, err := os.CreateTemp("", "metactl-serve-*.mcar")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	ra := *s.a
	cli := *s.a.cli
	cli.Catalog = s.catalog
	ra.cli, ra.ctx = &cli, r.Context()
	db, done, err := ra.openRead("serve archive")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h, err := export.WriteArchive(r.Context(), f, db)
	done()
	if err != nil {
		s.fail(w, r, fmt.Errorf("archive: %w", err))
		return
	}
	st, err := f.Stat()
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	w.Header().Set("X-Metactl-Generation", strconv.FormatUint(h.Generation, 10))
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", fmt.Sprintf("metactl-%d.mcar", h.Generation)))
	s.served.WithLabelValues(r.URL.Path, "200").Inc()
	if _, err := io.Copy(w, f); err != nil && !errors.Is(err, context.Canceled) {
		s.a.logf("serve: archive: %v", err)
	}
}

// metricsHandler serves the catalog's metrics: each scrape opens the
// catalog for one read-only transaction, like a /v1 request; the verify
// metrics are those of the last /v1/verify answered.
func (s *server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	ra := *s.a
	cli := *s.a.cli
	cli.Catalog = s.catalog
	ra.cli = &cli
	reg.MustRegister(metrics.NewCollector(metrics.Source{
		Facts:  ra.catalogFacts,
		Verify: s.verified.Load,
	}), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), s.served)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// unpackArchive imports the archive at path once into a catalog in a new
// temporary folder and returns that catalog's path, for serve to open per
// request like any catalog; cleanup removes the folder.
func (a *app) unpackArchive(path, command string) (tmp string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "metactl-archive-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	arc, err := importer.ReadArchive(a.ctx, f, importer.Options{Source: "archive:" + path, Now: a.now})
	if err != nil {
		return "", nil, fmt.Errorf("open archive %q: %w", path, err)
	}
	tmp = filepath.Join(dir, "catalog.db")
	db, err := catalog.Open(a.ctx, tmp, &catalog.Options{NoSync: true, Command: "metactl " + command, Now: a.now})
	if err != nil {
		return "", nil, err
	}
	defer db.Close()
	if _, err := arc.Commit(a.ctx, db); err != nil {
		return "", nil, fmt.Errorf("open archive %q: %w", path, err)
	}
	if err := db.RestoreHistory(arc.Header.Generation, arc.Journal); err != nil {
		return "", nil, fmt.Errorf("open archive %q: %w", path, err)
	}
	return tmp, cleanup, nil
}
