//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/metactl/metactl/serve"
	"github.com/metactl/metactl/workflow"
)

type serveCmd struct {
	Listen          string   `help:"Address to listen on (default: ${default})." default:"127.0.0.1:8080" placeholder:"ADDR"`
	ShutdownTimeout duration `name:"shutdown-timeout" help:"On SIGTERM, wait this long for requests in flight (default: ${default})." default:"10s" placeholder:"DUR"`
	WebConfigFile   string   `name:"web-config-file" help:"TLS and basic auth, in the Prometheus exporter-toolkit format (tls_server_config, basic_auth_users with bcrypt hashes); with it serve answers HTTPS only and every path needs credentials." type:"existingfile" placeholder:"FILE"`
	HealthListen    string   `name:"health-listen" help:"Also answer /healthz and /readyz, and nothing else, on this address, in plain HTTP without auth (for probes when --web-config-file is given)." placeholder:"ADDR"`
	MaxRequests     int      `name:"max-requests" help:"Requests in flight at most; the excess gets 503 with Retry-After (default: ${default})." default:"256"`
	MaxExpensive    int      `name:"max-expensive" help:"Expensive requests in flight at most (verify, plan, status?coverage, an archive build, ls without limit); the excess gets 503 with Retry-After (0: max(2, CPUs))." default:"0"`
	Workers         int      `name:"workers" help:"Requests working at once; the others admitted wait up to 10s for a slot, then get 503 (0: max(4, 2*CPUs)); /v1/status, health and metrics take no slot." default:"0"`
	MaxConnections  int      `name:"max-connections" help:"Open connections at most; a new one closes the longest-idle (default: ${default})." default:"4096"`
	BusyTimeout     duration `name:"busy-timeout" help:"A request waits at most this long for the catalog lock or backend, then answers 503 with Retry-After (default: ${default})." default:"2s" placeholder:"DUR"`
	WriteTimeout    duration `name:"write-timeout" help:"A document's whole answer, or an archive download's progress, may take at most this long (default: ${default})." default:"60s" placeholder:"DUR"`
	MemoryLimit     int      `name:"memory-limit" help:"Go's soft memory limit in MiB: the collector works harder as the heap nears it and gives memory back sooner (0: none; the GOMEMLIMIT environment variable, if set, wins) (default: ${default})." default:"384" placeholder:"MIB"`
	IdleTimeout     duration `name:"idle-timeout" help:"Close keep-alive connections idle this long (default: ${default})." default:"60s" placeholder:"DUR"`
}

func (c *serveCmd) Help() string {
	return `Serves the catalog over HTTP to pods that must not open the catalog file
themselves (restore and verify jobs on other nodes):

  GET /                             the coverage page (frontier, gaps, overlaps,
                                    verify problems, last operations), live
  GET /coverage.json, /coverage.svg its data: status --coverage and --svg
  GET /v1/status[?coverage=true]    metactl status --json [--coverage]
  GET /v1/ls?state=live|moved       metactl ls --json; with limit=N a page of
      N files and "continue": TOKEN for the next (continue=TOKEN), all
      pages from the first page's generation
  GET /v1/read?handle=H[&handle=H]  metactl read --json H...
  GET /v1/plan?target_version=V     metactl plan --json (also
      ledger_history_start_version, replay_all, strict); 422 when the plan
      fails, with the plan document
  GET /v1/verify                    metactl verify --json (200 with "ok": false
                                    when it finds problems)
  GET /v1/log?n=N&files=true        metactl log --json
  GET /v1/archive                   the current generation as an archive
                                    (export --archive), built once, streamed
  GET /healthz                      200 while the process serves
  GET /readyz                       200 when the catalog opens, else 503
  GET /metrics                      Prometheus metrics (see the README)

Each /v1 answer is the command's own --json document, built by the same
library function from one read-only transaction, with the catalog generation
in the X-Metactl-Generation header and a weak ETag (If-None-Match: 304);
gzip with Accept-Encoding: gzip. The catalog is opened for each request and
closed after it: a writer in another process waits at most for the
requests already running. Every error is the --json error document: 400 (a
bad or repeated query parameter, named), 404 (unknown path or handle), 405
(with Allow), 422 (invalid input), 503 with Retry-After (the catalog busy,
missing or unreachable within --busy-timeout, or a cap reached) or 500.
serve starts without a catalog and reports not ready until one exists.
SIGTERM stops accepting connections and lets requests in flight finish.

Example:
  metactl --catalog /data/metactl.db serve --listen :8080
  curl -s localhost:8080/v1/plan?target_version=5000000
  metactl --catalog http://localhost:8080 plan    # a remote catalog`
}

func (c *serveCmd) Run(a *app) error {
	path := a.cli.Catalog
	if workflow.Classify(path) == workflow.ArchiveFile {
		// An archive is unpacked once, not per request; nothing writes it.
		tmp, cleanup, err := a.unpackArchive(path, "serve")
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		path = tmp
		defer cleanup()
	}
	if c.WebConfigFile != "" {
		if err := serve.CheckWebConfig(c.WebConfigFile); err != nil {
			return err
		}
	}
	if c.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(c.MemoryLimit) << 20)
	}
	version, revision := buildVersion()
	s, err := serve.New(serve.Options{
		Catalog: path, Backend: []any{a.cli.Etcd.connection()}, BusyTimeout: time.Duration(c.BusyTimeout), MaxRequests: c.MaxRequests, Workers: c.Workers, MaxExpensive: c.MaxExpensive,
		MaxConns: c.MaxConnections, WriteTimeout: time.Duration(c.WriteTimeout), IdleTimeout: time.Duration(c.IdleTimeout),
		Now: a.now, Logger: a.slogger(), Version: version, Revision: revision,
	})
	if err != nil {
		return err
	}
	defer s.Close()
	s.Handle("/", page(a.ctx, s)) // the coverage page, coverage.json, coverage.svg (package web)
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	srv := s.HTTPServer()
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	scheme := "http"
	if c.WebConfigFile != "" {
		scheme = "https"
	}
	a.logf("serve: listening on %s, catalog %s (%s)", ln.Addr(), path, scheme)
	if c.HealthListen != "" {
		hln, err := net.Listen("tcp", c.HealthListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("serve: --health-listen: %w", err)
		}
		hsrv := &http.Server{Handler: s.HealthHandler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
		servers = append(servers, hsrv)
		a.logf("serve: health on %s", hln.Addr())
		go func() { errc <- hsrv.Serve(hln) }()
	}
	s.Start()
	go func() { errc <- serve.ServeWeb(s.Listener(ln), srv, c.WebConfigFile, a.slogger()) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-a.ctx.Done():
	}
	// Graceful shutdown: the signal is the normal way to stop a server,
	// so it exits 0 once the requests in flight are done.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.ShutdownTimeout))
	defer cancel()
	for _, hs := range servers {
		if e := hs.Shutdown(ctx); e != nil && !errors.Is(e, http.ErrServerClosed) {
			err = e
		}
	}
	a.logf("serve: stopped after %s", count(int(s.Served()), "request"))
	if err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return nil
}

// slogger is the server's logger: warnings and errors, as log lines.
func (a *app) slogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{a}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type logWriter struct{ a *app }

func (w logWriter) Write(b []byte) (int, error) {
	w.a.logf("serve: %s", trimNewline(b))
	return len(b), nil
}

func trimNewline(b []byte) string {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return string(b)
}

// buildVersion returns the version and VCS revision for metactl_build_info.
func buildVersion() (version, revision string) {
	version, revision = "(devel)", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	if v := mainVersion(); v != "" {
		version = v
	}
	return version, revision
}

func mainVersion() string { return version }
