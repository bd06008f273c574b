//go:build unix

// Package server runs the per-host adapter server whose protocol, folder
// and client are package adaptersrv: one process per user and key that
// answers the bridge's read calls for metactl-adapter, and exits when idle.
// The calls themselves are answered by the Handle function the command
// gives it (cmd/metactl's adapter-server).
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/metactl/metactl/internal/adaptersrv"
)

// DefaultIdle is how long a server waits for a call before it exits.
const DefaultIdle = 60 * time.Second

// ErrRunning is returned by Run when another process holds the key's
// lock: a server of that key runs already (or is starting).
var ErrRunning = errors.New("adapter server already running")

// Options configure Run.
type Options struct {
	// Dir is the server folder (adaptersrv.Dir), created 0700 if missing.
	Dir string
	// Key names the socket and lock files (adaptersrv.Key).
	Key string
	// Idle is how long the server runs without a call before it exits;
	// zero means DefaultIdle.
	Idle time.Duration
	// Handle answers one call; it may run concurrently with others.
	Handle func(ctx context.Context, req *adaptersrv.Request) *adaptersrv.Response
	// Route, if set, turns the fast path on (adaptersrv's fast.go): the
	// server also listens on a loopback TCP port and publishes it, with
	// fresh random tokens, in Dir/Route.tcp (adaptersrv.RouteName).
	Route string
}

// MaxConns bounds the connections a server serves at once, on its socket
// and its fast path's port together; one more is closed at once (its
// client runs the call the old way).
const MaxConns = 512

// readDeadline bounds the wait for a request once a connection is
// accepted.
const readDeadline = 30 * time.Second

// Run takes the key's lock, removes the leftovers of dead servers (this
// key's socket; other keys' sockets and locks nobody holds), listens on
// the key's socket and answers calls until ctx is done or no call came for
// Options.Idle. It then removes its socket and lock file, after the calls
// under way are answered. It returns ErrRunning if the lock is held.
func Run(ctx context.Context, o Options) error {
	if o.Idle <= 0 {
		o.Idle = DefaultIdle
	}
	if err := adaptersrv.CheckDir(o.Dir, true); err != nil {
		return err
	}
	sock := adaptersrv.SocketPath(o.Dir, o.Key)
	l, held, err := adaptersrv.TryLock(adaptersrv.LockPath(o.Dir, o.Key))
	switch {
	case err != nil:
		return fmt.Errorf("adapter server: %w", err)
	case held:
		return ErrRunning
	}
	sweep(o.Dir, o.Key)
	// Holding the lock, no live server has this socket: it is a dead
	// one's.
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		l.Remove()
		return fmt.Errorf("adapter server: remove stale socket: %w", err)
	}
	if err := l.WritePID(); err != nil {
		l.Remove()
		return fmt.Errorf("adapter server: %w", err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		l.Remove()
		return fmt.Errorf("adapter server: %w", err)
	}
	s := &server{o: o, ln: ln, last: time.Now()}
	s.accepting.Add(1)
	go func() {
		defer s.accepting.Done()
		s.accept(ctx, ln)
	}()
	s.publish(ctx)
	s.waitIdle(ctx)
	s.pub.Lock()
	s.pub.closed = true
	if s.route != nil {
		adaptersrv.RemoveRoute(adaptersrv.RoutePath(o.Dir, o.Route), *s.route)
		s.pub.tcp.Close()
	}
	s.pub.Unlock()
	ln.Close() // removes the socket
	s.accepting.Wait()
	s.calls.Wait()
	return l.Remove()
}

type server struct {
	o     Options
	ln    *net.UnixListener
	calls sync.WaitGroup
	// accepting counts the accept loops.
	accepting sync.WaitGroup
	// route is the fast path's, once published (set under pub, before
	// its listener's accept loop starts).
	route *adaptersrv.Route
	pub   struct {
		sync.Mutex
		tcp    net.Listener
		tried  time.Time
		closed bool
	}

	mu       sync.Mutex
	active   int
	pending  int // connections accepted whose answer is not yet made
	requests uint64
	fast     uint64 // fast-path answers
	fastFall uint64 // fast-path fallbacks
	last     time.Time
	done     bool
}

// waitIdle returns when ctx is done or the server has been idle for
// Options.Idle, and marks it done.
func (s *server) waitIdle(ctx context.Context) {
	t := time.NewTimer(s.o.Idle)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.done = true
			s.mu.Unlock()
			return
		case <-t.C:
		}
		s.mu.Lock()
		idle := time.Since(s.last)
		if s.done || (s.active == 0 && idle >= s.o.Idle) {
			s.done = true
			s.mu.Unlock()
			return
		}
		wait := s.o.Idle - idle
		if s.active > 0 || wait <= 0 {
			wait = s.o.Idle
		}
		s.mu.Unlock()
		t.Reset(wait)
	}
}

func (s *server) accept(ctx context.Context, ln net.Listener) {
	_, fast := ln.(*net.TCPListener)
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Out of descriptors and the like: stop serving; clients
			// run their calls the old way meanwhile.
			s.mu.Lock()
			s.done = true
			s.mu.Unlock()
			ln.Close()
			return
		}
		s.mu.Lock()
		if s.active >= MaxConns {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.active++
		s.pending++
		s.calls.Add(1)
		s.mu.Unlock()
		cctx := context.WithValue(ctx, arrivedKey{}, time.Now())
		go func() {
			defer s.calls.Done()
			if fast {
				s.serveFast(cctx, c)
			} else {
				s.publish(cctx)
				s.serve(cctx, c)
			}
			s.mu.Lock()
			s.active--
			s.last = time.Now()
			s.mu.Unlock()
		}()
	}
}

// serve answers the one request of connection c.
func (s *server) serve(ctx context.Context, c net.Conn) {
	defer c.Close()
	cl := &call{s: s}
	defer cl.settle()
	ctx = context.WithValue(ctx, callKey{}, cl)
	c.SetReadDeadline(time.Now().Add(readDeadline))
	req, status, err := adaptersrv.ReadRequest(c)
	if err != nil {
		return
	}
	s.mu.Lock()
	if req != nil {
		s.requests++
	}
	st := adaptersrv.Status{PID: os.Getpid(), Requests: s.requests, Fast: s.fast, FastFallbacks: s.fastFall}
	s.mu.Unlock()
	if status {
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		adaptersrv.WriteStatus(c, st)
		return
	}
	resp := s.handle(ctx, req)
	cl.settle()
	c.SetWriteDeadline(time.Now().Add(5 * time.Minute))
	adaptersrv.WriteResponse(c, resp)
}

// call is one connection's state: whether it still counts as pending.
type call struct {
	s       *server
	settled bool // guarded by s.mu
}

// settle stops counting the call as pending (once).
func (cl *call) settle() {
	cl.s.mu.Lock()
	if !cl.settled {
		cl.settled = true
		cl.s.pending--
	}
	cl.s.mu.Unlock()
}

type callKey struct{}

type arrivedKey struct{}

// Arrived returns, for the context a Handle is called with, when the
// server accepted the call's connection (a monotonic clock reading): the
// call started before it. A read sent after it reflects every write
// completed before the call started, so a Handle may answer from one sent
// for another call after this one arrived. Outside a server, false.
func Arrived(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(arrivedKey{}).(time.Time)
	return t, ok
}

// Pending returns, for the context a Handle is called with, a function
// that counts the server's pending calls: connections accepted whose
// answer is not yet made and that have not called Settle (the caller's
// own included): calls that have arrived or are arriving and may still
// read. Outside a server it returns nil.
func Pending(ctx context.Context) func() int {
	cl, ok := ctx.Value(callKey{}).(*call)
	if !ok {
		return nil
	}
	s := cl.s
	return func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pending
	}
}

// Settle tells the server that the call of ctx (a Handle's) will read no
// more: it no longer counts as pending while its answer is formatted.
// Outside a server it does nothing.
func Settle(ctx context.Context) {
	if cl, ok := ctx.Value(callKey{}).(*call); ok {
		cl.settle()
	}
}

// handle runs Handle; a panic becomes a fallback, so the client runs the
// call the old way and gets metactl's own answer.
func (s *server) handle(ctx context.Context, req *adaptersrv.Request) (resp *adaptersrv.Response) {
	defer func() {
		if r := recover(); r != nil {
			resp = &adaptersrv.Response{Fallback: true, Why: fmt.Sprintf("panic: %v", r)}
		}
	}()
	return s.o.Handle(ctx, req)
}

// publish turns the fast path on if Options.Route asks for it and it is
// not on yet: it listens on a loopback port and publishes the route,
// unless a live server of another key has it. Run calls it at the start,
// and every call through the socket (at most once a second), so a server
// that found its route taken takes it over once it is free. Without the
// fast path the socket still serves: a failure here costs speed, not
// answers.
func (s *server) publish(ctx context.Context) {
	if s.o.Route == "" {
		return
	}
	s.pub.Lock()
	defer s.pub.Unlock()
	if s.route != nil || s.pub.closed || time.Since(s.pub.tried) < time.Second {
		return
	}
	s.pub.tried = time.Now()
	if routeTaken(s.o.Dir, s.o.Route, s.o.Key) {
		return
	}
	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return
	}
	r, err := adaptersrv.NewRoute(tl.Addr().(*net.TCPAddr).Port, s.o.Key)
	if err == nil {
		err = adaptersrv.WriteRoute(adaptersrv.RoutePath(s.o.Dir, s.o.Route), r)
	}
	if err != nil {
		tl.Close()
		return
	}
	s.route, s.pub.tcp = &r, tl
	s.accepting.Add(1)
	go func() {
		defer s.accepting.Done()
		s.accept(ctx, tl)
	}()
}

// routeTaken reports whether a live server of another key publishes
// route: calls of one route with another environment (another key) start
// a server of their own, which leaves the route to the first, whose calls
// are likely the many.
func routeTaken(dir, route, own string) bool {
	r, err := adaptersrv.ReadRoute(adaptersrv.RoutePath(dir, route))
	if err != nil || r.Key == own {
		return false
	}
	l, held, err := adaptersrv.TryLock(adaptersrv.LockPath(dir, r.Key))
	if err == nil && !held {
		l.Remove()
	}
	return held
}

// sweep removes the files of dead servers of other keys: each whose lock
// nobody holds loses its socket, then its lock file (taken first, so a
// server starting for that key meanwhile is never robbed of its socket).
// A route file goes if the server it names holds no lock (and it still
// names that server when removed).
func sweep(dir, own string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	seen := map[string]bool{own: true}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, adaptersrv.FastExt) {
			p := filepath.Join(dir, name)
			r, err := adaptersrv.ReadRoute(p)
			if err != nil {
				continue
			}
			if r.Key == own {
				adaptersrv.RemoveRoute(p, r)
				continue
			}
			l, held, err := adaptersrv.TryLock(adaptersrv.LockPath(dir, r.Key))
			if err != nil || held {
				continue
			}
			adaptersrv.RemoveRoute(p, r)
			l.Remove()
			continue
		}
		key, ok := strings.CutSuffix(name, ".lock")
		if !ok {
			key, ok = strings.CutSuffix(name, ".sock")
		}
		if !ok || seen[key] {
			continue
		}
		seen[key] = true
		l, held, err := adaptersrv.TryLock(adaptersrv.LockPath(dir, key))
		if err != nil || held {
			continue
		}
		os.Remove(adaptersrv.SocketPath(dir, key))
		l.Remove()
	}
}
