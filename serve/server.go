package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/scratch"
)

// Options configure a Server. Zero values mean the defaults named.
type Options struct {
	// Catalog is the catalog location, opened read-only per request.
	Catalog string
	// Backend is passed to [catalog.Open] as Options.Backend (the etcd
	// backend's TLS and credentials).
	Backend []any
	// Command names the process in the catalog's lock records
	// (default "metactl serve").
	Command string
	// BusyTimeout bounds a request's wait for the catalog lock or an
	// unreachable backend before it answers 503 (default 2s).
	BusyTimeout time.Duration
	// MaxRequests caps the requests in flight; the excess gets 503
	// (default 256).
	MaxRequests int
	// Workers caps the requests working at once (default
	// max(4, 2*GOMAXPROCS)); the others admitted wait for a slot, up to
	// QueueTimeout (default 10s), then get 503. It keeps the CPU for the
	// requests being answered, so each is answered sooner, and /v1/status,
	// which takes no worker slot, stays quick under load.
	Workers      int
	QueueTimeout time.Duration
	// MaxExpensive caps the expensive requests in flight: verify, plan,
	// status with coverage, an archive build, a listing without limit
	// (default max(2, GOMAXPROCS)). Each may take tens to hundreds of MB
	// on a large catalog, so this cap is what bounds the heap.
	MaxExpensive int
	// MaxConns caps open connections (default 4096).
	MaxConns int
	// ReadHeaderTimeout (default 10s), IdleTimeout (default 60s) and
	// WriteTimeout (default 60s: a document's whole answer, or an
	// archive's progress: a client that reads nothing for this long is
	// cut off) are the connection deadlines.
	ReadHeaderTimeout, IdleTimeout, WriteTimeout time.Duration
	// ScratchDir is where the server's own folder for archives is made
	// (default os.TempDir()).
	ScratchDir string
	// Poll is how often the catalog is checked for a new generation, to
	// verify it and refresh readiness (default 5s).
	Poll time.Duration
	// KeepGenerations is how many generations' archives, listings and
	// verify reports are kept (default 2: the current one and the one
	// before, so a paged listing survives one write).
	KeepGenerations int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives the server's log lines (default: discarded).
	Logger *slog.Logger
	// Version and Revision label metactl_build_info.
	Version, Revision string
}

func (o *Options) defaults() {
	if o.Command == "" {
		o.Command = "metactl serve"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.BusyTimeout, 2*time.Second)
	def(&o.ReadHeaderTimeout, 10*time.Second)
	def(&o.IdleTimeout, 60*time.Second)
	def(&o.WriteTimeout, 60*time.Second)
	def(&o.Poll, 5*time.Second)
	if o.MaxRequests <= 0 {
		o.MaxRequests = 256
	}
	if o.Workers <= 0 {
		o.Workers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	def(&o.QueueTimeout, 10*time.Second)
	if o.MaxExpensive <= 0 {
		o.MaxExpensive = max(2, runtime.GOMAXPROCS(0))
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 4096
	}
	if o.KeepGenerations <= 0 {
		o.KeepGenerations = 2
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ScratchDir == "" {
		o.ScratchDir = os.TempDir()
	}
}

// Server answers the HTTP API. Make one with New, add routes with Handle,
// run it with Serve, and Close it after.
type Server struct {
	opts     Options
	mux      *http.ServeMux
	rootOnce sync.Once
	// rootHandled is set when Handle added "/" (the coverage page, whose
	// handler answers unknown paths with NotFound itself).
	rootHandled bool
	requests    chan struct{}
	workers     chan struct{}
	expensive   chan struct{}
	scratch     string

	ctx    context.Context // the server's lifetime: shared builds run in it
	cancel context.CancelFunc

	gensMu sync.Mutex
	gens   map[uint64]*generation

	served   atomic.Int64
	verified atomic.Pointer[api.Verify]
	up       atomic.Bool
	conns    *connLimit
	m        *serverMetrics
	poller   sync.WaitGroup
}

// New makes a server for opts.Catalog. It makes the server's scratch
// folder, after removing those that earlier servers, since killed, left.
func New(opts Options) (*Server, error) {
	opts.defaults()
	dir, err := scratch.Make(opts.ScratchDir, scratchPrefix)
	if err != nil {
		return nil, fmt.Errorf("serve: scratch folder: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:      opts,
		mux:       http.NewServeMux(),
		requests:  make(chan struct{}, opts.MaxRequests),
		workers:   make(chan struct{}, opts.Workers),
		expensive: make(chan struct{}, opts.MaxExpensive),
		scratch:   dir,
		ctx:       ctx,
		cancel:    cancel,
		gens:      map[uint64]*generation{},
	}
	s.m = newServerMetrics(s)
	s.routes()
	return s, nil
}

// Handle adds a route: path is a ServeMux pattern without a method
// ("/{$}" for the root alone); it answers GET and HEAD, with 405 for other
// methods, and is counted, capped and timed like every route.
func (s *Server) Handle(path string, h http.Handler) {
	if path == "/" {
		s.rootHandled = true
	}
	s.mux.Handle(path, s.wrap(path, classNormal, func(w http.ResponseWriter, r *http.Request) error {
		h.ServeHTTP(w, r)
		return nil
	}))
}

// Handler returns the server's handler, every route included; call it
// after the last Handle. Paths no route serves get NotFound.
func (s *Server) Handler() http.Handler {
	s.rootOnce.Do(func() {
		if !s.rootHandled {
			s.mux.Handle("/", s.NotFound())
		}
	})
	return s.mux
}

// Registry is the server's metrics registry, for extra collectors.
func (s *Server) Registry() *prometheus.Registry { return s.m.reg }

// HTTPServer returns an http.Server for Handler with the server's
// deadlines; Serve it on Listener(ln).
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadHeaderTimeout + s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ConnState:         s.connState,
		// Handshake failures and cut connections are the clients' doing:
		// debug lines, not warnings.
		ErrorLog: slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelDebug),
	}
}

// Listener wraps ln with the cap on open connections; the http.Server
// of HTTPServer tracks their state for it.
func (s *Server) Listener(ln net.Listener) net.Listener {
	s.conns = newConnLimit(ln, s.opts.MaxConns, func() { s.m.evicted.Inc() })
	return s.conns
}

func (s *Server) connState(c net.Conn, st http.ConnState) {
	if s.conns != nil {
		s.conns.connState(c, st)
	}
}

// Start begins the background work: the catalog is checked at once and
// every Options.Poll, a new generation verified (the verify gauges) and
// readiness refreshed.
func (s *Server) Start() {
	s.poller.Add(1)
	go func() {
		defer s.poller.Done()
		t := time.NewTicker(s.opts.Poll)
		defer t.Stop()
		for {
			s.refresh()
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// refresh checks the catalog: up or not, and the current generation's
// verify report, computed once per generation.
func (s *Server) refresh() {
	g, err := s.currentGeneration(s.ctx)
	s.up.Store(err == nil)
	if err != nil {
		return
	}
	gen := s.generation(g)
	if _, err := gen.verify.get(s.ctx, func() (*api.Verify, error) { return s.buildVerify(gen.n) }); err != nil && s.ctx.Err() == nil {
		s.opts.Logger.Warn("verify", "generation", g, "err", err)
	}
}

// Served returns the number of requests answered.
func (s *Server) Served() int64 { return s.served.Load() }

// Close stops the background work and removes the scratch folder (archives
// being streamed stay readable through their open descriptors).
func (s *Server) Close() error {
	s.cancel()
	s.poller.Wait()
	return os.RemoveAll(s.scratch)
}

// open opens the catalog read-only for one request, waiting at most
// BusyTimeout for its lock or backend.
func (s *Server) open(ctx context.Context) (catalog.DB, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.BusyTimeout)
	defer cancel()
	db, err := catalog.Open(ctx, s.opts.Catalog, &catalog.Options{ReadOnly: true, Timeout: s.opts.BusyTimeout,
		Command: s.opts.Command, Now: s.opts.Now, Backend: s.opts.Backend})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return nil, &unavailableError{fmt.Errorf("catalog %s did not answer within %s: %w", s.opts.Catalog, s.opts.BusyTimeout, err)}
		}
		return nil, err
	}
	return db, nil
}

// currentGeneration reads the catalog's generation.
func (s *Server) currentGeneration(ctx context.Context) (uint64, error) {
	db, err := s.open(ctx)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var g uint64
	err = db.View(ctx, func(tx catalog.Tx) error { g = tx.Generation(); return nil })
	return g, err
}

// unavailableError is a backend that did not answer in time: 503.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// itoa is strconv.FormatUint for headers.
func itoa(g uint64) string { return strconv.FormatUint(g, 10) }
