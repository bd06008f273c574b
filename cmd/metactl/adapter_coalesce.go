//go:build unix

package main

import (
	"context"
	"sync"
	"time"

	"github.com/metactl/metactl/catalog"
)

// coalescer batches the adapter server's one-request file reads
// ([catalog.FileReader]): a read that arrives while none is in flight is
// sent at once; reads that arrive while one is in flight wait for it to
// finish and are then sent together, in one request, at one generation.
// Every read is sent after it arrived, so each still reflects every write
// committed before its call started (the consistency of a read of its
// own); the 8 concurrent calls of a metadata sync cost the etcd member
// one transaction instead of eight.
//
// The gather window: a batch that finds no request in flight waits, before
// it is sent, while fewer reads are queued than the server has calls
// pending (connections accepted and not yet answered, its own included),
// for at most window: the calls that have arrived and not yet queued their
// read get into this batch instead of waiting for the next. A lone call
// (pending 1) never waits. Waiting only moves a batch's send later, after
// every read in it arrived, so the guarantee is unchanged.
type coalescer struct {
	r   catalog.FileReader
	ctx context.Context // the server's: a batch outlives the call that started it

	// pending counts the server's calls not yet answered ([server.Pending]);
	// nil or a window of 0: no gathering.
	pending func() int
	window  time.Duration
	// settle, if set, tells the server a call has read ([server.Settle]).
	settle  func(ctx context.Context)
	arrived chan struct{} // a read queued (buffered 1)

	mu       sync.Mutex
	busy     bool
	queue    []*pendingRead
	batches  uint64 // requests sent (for tests and figures)
	gathered uint64 // reads that joined a batch in its gather window
	// sent, if set, runs before a batch is sent, with its size (tests).
	sent func(n int)
}

type pendingRead struct {
	handle string
	done   chan struct{}
	f      *catalog.File
	gen    uint64
	err    error
}

// ReadFile is FileReader.ReadFile, coalesced.
func (c *coalescer) ReadFile(ctx context.Context, handle string) (*catalog.File, uint64, bool, error) {
	p := &pendingRead{handle: handle, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	if !c.busy {
		c.busy = true
		go c.run()
	}
	c.mu.Unlock()
	if c.arrived != nil {
		select {
		case c.arrived <- struct{}{}:
		default:
		}
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil, 0, false, ctx.Err()
	}
	if c.settle != nil {
		// An open_for_read reads once: its call no longer holds a
		// batch back while its answer is written.
		c.settle(ctx)
	}
	if p.err != nil || p.f == nil {
		return nil, 0, false, p.err
	}
	return p.f, p.gen, true, nil
}

// run sends the queued reads, as many in one request as it takes, until
// none is left.
func (c *coalescer) run() {
	limit := c.r.ReadFilesMax()
	c.gather(limit)
	for {
		c.mu.Lock()
		n := min(len(c.queue), limit)
		if n == 0 {
			c.busy = false
			c.mu.Unlock()
			return
		}
		batch := c.queue[:n:n]
		c.queue = append([]*pendingRead(nil), c.queue[n:]...)
		c.batches++
		sent := c.sent
		c.mu.Unlock()
		if sent != nil {
			sent(n)
		}
		handles := make([]string, n)
		for i, p := range batch {
			handles[i] = p.handle
		}
		files, gen, err := c.r.ReadFiles(c.ctx, handles)
		for i, p := range batch {
			if err != nil {
				p.err = err
			} else {
				p.f, p.gen = files[i], gen
			}
			close(p.done)
		}
	}
}

// gather holds the first batch of a run back while fewer reads are queued
// than calls are pending (and fewer than limit), for at most c.window.
func (c *coalescer) gather(limit int) {
	if c.pending == nil || c.window <= 0 || c.arrived == nil {
		return
	}
	var t *time.Timer
	first, late := -1, false
	for {
		c.mu.Lock()
		queued := len(c.queue)
		if first < 0 {
			first = queued
		}
		if late || queued >= limit || queued >= c.pending() {
			c.gathered += uint64(queued - first)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if t == nil {
			t = time.NewTimer(c.window)
			defer t.Stop()
		}
		select {
		case <-c.arrived:
		case <-t.C:
			late = true
		}
	}
}
