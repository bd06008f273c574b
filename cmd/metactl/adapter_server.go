//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/metactl/metactl/adaptercall"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/adaptersrv"
	"github.com/metactl/metactl/internal/adaptersrv/server"
)

// adapterServerCmd is the per-host adapter server that metactl-adapter
// starts for a catalog that is not a file (docs/aptos-bridge.md, "The
// adapter server"): it holds one read-only catalog handle and answers
// list_metadata_files and open_for_read of metadata files exactly as
// 'metactl adapter' would in a process of its own, each call a read of its
// own at the newest generation. Anything else, and any error but an
// unknown handle, it hands back to the client, which runs metactl.
type adapterServerCmd struct {
	Dir         string   `name:"dir" required:"" help:"The server folder (private to this user)." placeholder:"DIR"`
	Key         string   `name:"key" required:"" help:"The server's key: its socket is DIR/KEY.sock, its lock DIR/KEY.lock." placeholder:"KEY"`
	IdleTimeout duration `name:"idle-timeout" help:"Exit after this long without a call (default: ${default})." default:"60s" env:"METACTL_ADAPTER_SERVER_IDLE" placeholder:"DUR"`
	CacheBytes  int64    `name:"cache-bytes" help:"Keep an etcd catalog's files in memory, up to this many bytes, answering from them while the catalog is unchanged (docs/aptos-bridge.md); 0 turns the cache off (default: ${default})." default:"268435456" env:"METACTL_ADAPTER_SERVER_CACHE" placeholder:"BYTES"`
	Route       string   `name:"route" help:"Also answer the fast path of generated configs (docs/aptos-bridge.md, \"The fast path\"): listen on a loopback TCP port and publish it with fresh tokens in DIR/ROUTE.tcp." placeholder:"ROUTE"`
	Gather      duration `name:"gather" help:"Without the file cache, hold a read back at most this long while other calls have arrived and not yet queued theirs, so one etcd request answers them all; a lone call never waits; 0, the default, turns it off: measured, it did not pay (docs/aptos-bridge.md)." default:"0" env:"METACTL_ADAPTER_SERVER_GATHER" placeholder:"DUR"`
}

func (c *adapterServerCmd) Run(a *app) error {
	if os.Getenv("GOMAXPROCS") == "" {
		// The server waits on sockets: a call is a few goroutine
		// hand-offs (accept, the coalescer, gRPC's reader and writer),
		// which on one P stay on one thread instead of waking others:
		// 0.72-0.75 ms of CPU per open_for_read against 1.00 ms with
		// two (300 calls in a row, 2-core machine).
		runtime.GOMAXPROCS(1)
	}
	s := &adapterServer{a: a, cacheBytes: c.CacheBytes, gather: time.Duration(c.Gather)}
	defer s.drop()
	err := server.Run(a.ctx, server.Options{Dir: c.Dir, Key: c.Key, Idle: time.Duration(c.IdleTimeout), Handle: s.handle, Route: c.Route})
	if errors.Is(err, server.ErrRunning) {
		return nil // another starter won the race
	}
	return err
}

// adapterServer answers the calls of one adapter server.
type adapterServer struct {
	a  *app
	mu sync.Mutex
	db catalog.DB         // opened by the first call, shared by all
	r  catalog.FileReader // db's one-request reads (through its file cache), if it has them
	c  *coalescer         // r coalesced, if r has no file cache
	ar arrivedReader      // r, if it is a file cache
	// cacheBytes bounds the etcd catalog's file cache (0: none).
	cacheBytes int64
	// gather is the coalescer's gather window (0: none).
	gather time.Duration
}

// heldDB is the server's catalog handle as one call sees it: its Close
// leaves it open for the next. Its one-request file reads, if the
// catalog has them, are coalesced across concurrent calls.
type heldDB struct {
	catalog.DB
	r catalog.FileReader // nil: the catalog has no one-request read
	c *coalescer         // ReadFile's batches, without a file cache
	// ar, if set, is the file cache's read, which shares the reads of
	// the current key itself: ReadFile goes to it (and c is nil).
	ar arrivedReader
}

// arrivedReader is the etcd file cache's read of a call that arrived at a
// given time: it may share a read of the current key sent after that
// ([etcdstore.FileCache]).
type arrivedReader interface {
	ReadFilesArrived(ctx context.Context, arrived time.Time, handles []string) ([]*catalog.File, uint64, error)
}

func (heldDB) Close() error { return nil }

// ReadFile is the shared handle's one-request read, coalesced, if it has
// one ([coalescer]).
//
// Through the file cache it is read in the call's own goroutine, not
// batched: the cache shares the one request each read needs, the current
// key, among the calls that arrived before it was sent ([server.Arrived]:
// when the call's connection was accepted), which the batch of calls
// waiting at once cannot (1.01-1.02 calls a request in 8-way open_for_read
// calls through the fast path, docs/aptos-bridge.md).
func (h heldDB) ReadFile(ctx context.Context, handle string) (*catalog.File, uint64, bool, error) {
	if h.ar != nil {
		arrived, ok := server.Arrived(ctx)
		if !ok {
			arrived = time.Now()
		}
		fs, gen, err := h.ar.ReadFilesArrived(ctx, arrived, []string{handle})
		server.Settle(ctx)
		if err != nil || fs[0] == nil {
			return nil, 0, false, err
		}
		return fs[0], gen, true, nil
	}
	if h.c == nil {
		return nil, 0, false, nil
	}
	return h.c.ReadFile(ctx, handle)
}

func (h heldDB) ReadFiles(ctx context.Context, handles []string) ([]*catalog.File, uint64, error) {
	if h.r == nil {
		return make([]*catalog.File, len(handles)), 0, nil
	}
	return h.r.ReadFiles(ctx, handles)
}

func (h heldDB) ReadFilesMax() int {
	if h.r == nil {
		return 1
	}
	return h.r.ReadFilesMax()
}

// open returns the shared read-only catalog handle, opening it as 'metactl
// adapter' opens it if no call has yet.
func (s *adapterServer) open(ctx context.Context) (catalog.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		loc := s.a.cli.Catalog
		if err := checkCatalogPath(loc, false); err != nil {
			return nil, err
		}
		db, err := catalog.Open(ctx, loc, s.a.options(true, "adapter-server"))
		if err != nil {
			return nil, err
		}
		s.db, s.r, s.c, s.ar = db, nil, nil, nil
		if r, ok := db.(catalog.FileReader); ok {
			if cr, ok := db.(cachedFileReader); ok && s.cacheBytes > 0 {
				// Each read gets the current key (or shares a read of
				// it sent after its call arrived) and, while the
				// catalog is unchanged, answers from memory.
				r = cr.CachedFileReader(s.cacheBytes)
				s.ar, _ = r.(arrivedReader)
			}
			s.r = r
			if s.ar == nil {
				s.c = &coalescer{r: r, ctx: s.a.ctx, pending: server.Pending(ctx),
					window: s.gather, arrived: make(chan struct{}, 1), settle: server.Settle}
			}
		}
	}
	return heldDB{s.db, s.r, s.c, s.ar}, nil
}

// cachedFileReader is a catalog whose one-request reads can be cached in
// memory (the etcd backend's file cache, docs/aptos-bridge.md "The file
// cache").
type cachedFileReader interface {
	CachedFileReader(maxBytes int64) catalog.FileReader
}

// drop closes the shared handle; the next call opens a new one.
func (s *adapterServer) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		s.db.Close()
		s.db, s.r, s.c, s.ar = nil, nil, nil, nil
	}
}

func fallback(why string) *adaptersrv.Response {
	return &adaptersrv.Response{Fallback: true, Why: why}
}

// handle answers one call with the code of 'metactl adapter' (answer),
// its stdout, stderr and exit code captured. It answers a success and an
// unknown handle (exit 6, metactl's message); for anything else (a call
// it does not serve, flags kong would refuse, a catalog it cannot read) it
// asks the client to run metactl, whose answer is then metactl's own.
func (s *adapterServer) handle(ctx context.Context, req *adaptersrv.Request) *adaptersrv.Response {
	switch req.Call {
	case adaptercall.CallListMetadataFiles:
	case adaptercall.CallOpenForRead:
		if _, ok := adaptercall.MetadataHandle(req.Handle); !ok || !req.HandleSet {
			return fallback("not a metadata file")
		}
	default:
		return fallback("not a read call")
	}
	c := &adapterCmd{Call: req.Call, storageFlags: storageFlags{LocalFsDir: req.LocalFsDir,
		CommandAdapterConfig: req.CommandAdapterConfig, AdapterTimeout: duration(10 * time.Minute)}}
	if req.AdapterTimeout != "" {
		if err := c.AdapterTimeout.UnmarshalText([]byte(req.AdapterTimeout)); err != nil {
			return fallback(err.Error())
		}
	}
	if c.CommandAdapterConfig != "" {
		// kong's existingfile check.
		if st, err := os.Stat(c.CommandAdapterConfig); err != nil || st.IsDir() {
			return fallback("no such config")
		}
	}
	if err := c.Validate(); err != nil {
		return fallback(err.Error())
	}
	var out, errb bytes.Buffer
	ca := *s.a
	ca.ctx, ca.stdout, ca.stderr = ctx, &out, &errb
	getenv := func(k string) (string, bool) {
		if k == "FILE_HANDLE" {
			return req.Handle, req.HandleSet
		}
		return "", false
	}
	err := c.answer(&ca, getenv, nopWriteCloser{&out}, s.open)
	switch {
	case err == nil:
		return &adaptersrv.Response{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	case errors.Is(err, catalog.ErrNotFound) && !errors.Is(err, catalog.ErrNoCatalog):
		code := ca.report(err)
		return &adaptersrv.Response{Stdout: out.Bytes(), Stderr: errb.Bytes(), Code: code}
	}
	// The handle may be broken (a member gone, the catalog removed):
	// the next call opens a new one.
	s.drop()
	return fallback(err.Error())
}
