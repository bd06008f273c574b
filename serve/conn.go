package serve

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// connLimit caps the connections open at once. A new connection beyond the
// cap closes the longest-idle one (a keep-alive connection between
// requests, or one that has not sent a request yet), so idle clients cannot
// starve an active one; a connection serving a request is never closed.
// When every open connection is busy, the new one is closed at once: the
// client sees a reset and retries, the server's file descriptors stay
// bounded.
type connLimit struct {
	net.Listener
	max int

	mu    sync.Mutex
	open  map[net.Conn]*connInfo
	evict func() // counts evictions and refusals (metrics)
}

type connInfo struct {
	idle  bool
	since time.Time
}

func newConnLimit(l net.Listener, max int, evicted func()) *connLimit {
	return &connLimit{Listener: l, max: max, open: map[net.Conn]*connInfo{}, evict: evicted}
}

// Accept waits for the next connection and makes room for it.
func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if len(l.open) >= l.max && !l.closeIdleLocked() {
			l.mu.Unlock()
			c.Close()
			if l.evict != nil {
				l.evict()
			}
			continue
		}
		l.open[c] = &connInfo{idle: true, since: time.Now()}
		l.mu.Unlock()
		return c, nil
	}
}

// closeIdleLocked closes the longest-idle connection; false if none is idle.
func (l *connLimit) closeIdleLocked() bool {
	var oldest net.Conn
	var at time.Time
	for c, i := range l.open {
		if i.idle && (oldest == nil || i.since.Before(at)) {
			oldest, at = c, i.since
		}
	}
	if oldest == nil {
		return false
	}
	delete(l.open, oldest)
	oldest.Close()
	if l.evict != nil {
		l.evict()
	}
	return true
}

// connState is the http.Server's ConnState hook: it tracks which
// connections are idle.
func (l *connLimit) connState(c net.Conn, s http.ConnState) {
	if t, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = t.NetConn() // a TLS connection: the one Accept returned
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	i := l.open[c]
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(l.open, c)
	case http.StateActive:
		if i != nil {
			i.idle = false
		}
	case http.StateIdle, http.StateNew:
		if i != nil {
			i.idle, i.since = true, time.Now()
		}
	}
}

// count returns the connections open now.
func (l *connLimit) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open)
}
