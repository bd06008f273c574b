//go:build unix

package main

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/metactl/metactl/adaptercall"
	"github.com/metactl/metactl/catalog"
)

// TestAdapterServerCoalescesReads: reads that arrive while one is in
// flight are answered together by the next etcd transaction, each with
// what a read of its own answers; a file saved before a read arrived is
// in that read's answer.
func TestAdapterServerCoalescesReads(t *testing.T) {
	r := newServerRun(t)
	cat, _, c := etcdBridge(t, r)
	ctx := context.Background()
	db, fr, handles, want, gen0 := firstEight(t, ctx, cat)

	co := &coalescer{r: fr, ctx: ctx}
	held := heldDB{DB: db, r: co.r, c: co}
	first := make(chan struct{})
	release := make(chan struct{})
	var sizes []int
	co.sent = func(n int) {
		sizes = append(sizes, n) // batches are sent one after the other
		if len(sizes) == 1 {
			close(first)
			<-release // the first read stays in flight
		}
	}
	type answer struct {
		content []byte
		gen     uint64
		err     error
	}
	answers := make([]answer, len(handles)+1)
	var wg sync.WaitGroup
	read := func(i int, h string) {
		defer wg.Done()
		a := &answers[i]
		a.content, a.gen, a.err = adaptercall.ReadMetadata(ctx, held, h)
	}
	wg.Add(1)
	go read(0, handles[0])
	<-first
	for i, h := range handles[1:] {
		wg.Add(1)
		go read(i+1, h)
	}
	// A file saved while the first read is in flight, then read: its read
	// arrives after the save committed and must see it.
	line := bridgeTxnLine(90000, 90099, "cccc")
	c.mustCall("save_metadata_line", []string{"FILE_NAME=transaction_90000-90099.meta"}, []byte(line))
	wg.Add(1)
	go read(len(handles), "metadata/transaction_90000-90099.meta")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		co.mu.Lock()
		queued := len(co.queue)
		co.mu.Unlock()
		if queued == len(handles) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reads queued after a minute, want %d", queued, len(handles))
		}
	}
	close(release)
	wg.Wait()
	if len(sizes) != 2 || sizes[0] != 1 || sizes[1] != len(handles) {
		t.Errorf("batches of %v, want [1 %d]: the reads that arrived during the first go in one transaction", sizes, len(handles))
	}
	for i, h := range handles {
		if a := answers[i]; a.err != nil || !bytes.Equal(a.content, want[h]) {
			t.Errorf("read of %s: %q, %v; want %q", h, a.content, a.err, want[h])
		}
	}
	if a := answers[len(handles)]; a.err != nil || string(a.content) != line || a.gen <= gen0 {
		t.Errorf("read of the file saved before it: %q at generation %d, %v; want %q after generation %d", a.content, a.gen, a.err, line, gen0)
	}
	if answers[1].gen != answers[len(handles)].gen {
		t.Errorf("one transaction answered generations %d and %d", answers[1].gen, answers[len(handles)].gen)
	}
}

// TestAdapterServerGathersReads: with a gather window (an hour here, so
// only counts decide), a lone call (one pending) is sent at once, alone;
// calls pending together are held until all have queued their reads and
// then sent in one request, and a read of a file saved before it arrived
// sees the save.
func TestAdapterServerGathersReads(t *testing.T) {
	r := newServerRun(t)
	cat, _, c := etcdBridge(t, r)
	ctx := context.Background()
	db, fr, handles, want, _ := firstEight(t, ctx, cat)

	var mu sync.Mutex
	pending := 1
	co := &coalescer{r: fr, ctx: ctx, window: time.Hour, arrived: make(chan struct{}, 1),
		pending: func() int { mu.Lock(); defer mu.Unlock(); return pending }}
	held := heldDB{DB: db, r: co.r, c: co}
	var sizes []int
	co.sent = func(n int) { sizes = append(sizes, n) }

	// A lone call: nothing else pending, sent at once (an hour's window
	// would otherwise hold the test).
	b, gen0, err := adaptercall.ReadMetadata(ctx, held, handles[0])
	if err != nil || !bytes.Equal(b, want[handles[0]]) {
		t.Fatalf("lone read: %q, %v; want %q", b, err, want[handles[0]])
	}
	if len(sizes) != 1 || sizes[0] != 1 || co.gathered != 0 {
		t.Fatalf("lone read: batches of %v, %d gathered; want [1], 0", sizes, co.gathered)
	}

	// Nine calls pending: eight reads, then a save, then a read of the
	// saved file; all nine go in one request.
	sizes = nil
	mu.Lock()
	pending = len(handles) + 1
	mu.Unlock()
	type answer struct {
		content []byte
		gen     uint64
		err     error
	}
	answers := make([]answer, len(handles)+1)
	var wg sync.WaitGroup
	read := func(i int, h string) {
		defer wg.Done()
		a := &answers[i]
		a.content, a.gen, a.err = adaptercall.ReadMetadata(ctx, held, h)
	}
	for i, h := range handles {
		wg.Add(1)
		go read(i, h)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		co.mu.Lock()
		queued := len(co.queue)
		co.mu.Unlock()
		if queued == len(handles) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reads queued after a minute, want %d", queued, len(handles))
		}
	}
	line := bridgeTxnLine(90000, 90099, "cccc")
	c.mustCall("save_metadata_line", []string{"FILE_NAME=transaction_90000-90099.meta"}, []byte(line))
	wg.Add(1)
	go read(len(handles), "metadata/transaction_90000-90099.meta")
	wg.Wait()
	if len(sizes) != 1 || sizes[0] != len(handles)+1 {
		t.Errorf("batches of %v, want [%d]: the pending calls go in one request", sizes, len(handles)+1)
	}
	// Gathered counts the reads queued after the batch's first look at
	// the queue, which the run goroutine takes when the scheduler lets it
	// (one to eight reads queued by then): at least the read of the saved
	// file, queued after all eight.
	if co.gathered < 1 || co.gathered > uint64(len(handles)) {
		t.Errorf("%d reads gathered, want 1 to %d", co.gathered, len(handles))
	}
	for i, h := range handles {
		if a := answers[i]; a.err != nil || !bytes.Equal(a.content, want[h]) {
			t.Errorf("read of %s: %q, %v; want %q", h, a.content, a.err, want[h])
		}
	}
	if a := answers[len(handles)]; a.err != nil || string(a.content) != line || a.gen <= gen0 {
		t.Errorf("read of the file saved before it: %q at generation %d, %v; want %q after generation %d", a.content, a.gen, a.err, line, gen0)
	}
}

// firstEight opens the etcd catalog cat read-only (closed when the test
// ends) and reads its first 8 files as a fresh process would: the
// catalog, its one-request reader, the handles, their contents and the
// generation they were read at.
func firstEight(t *testing.T, ctx context.Context, cat string) (catalog.DB, catalog.FileReader, []string, map[string][]byte, uint64) {
	t.Helper()
	db, err := catalog.Open(ctx, cat, &catalog.Options{ReadOnly: true, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fr, ok := db.(catalog.FileReader)
	if !ok {
		t.Fatal("the etcd catalog has no one-request read (catalog.FileReader)")
	}
	var list bytes.Buffer
	if _, err := adaptercall.List(ctx, db, &list); err != nil {
		t.Fatal(err)
	}
	handles := lines(list.Bytes())
	if len(handles) < 8 {
		t.Fatalf("the storage has %d files, want 8 or more", len(handles))
	}
	handles = handles[:8]
	want := map[string][]byte{}
	var gen uint64
	for _, h := range handles {
		b, g, err := adaptercall.ReadMetadata(ctx, db, h)
		if err != nil {
			t.Fatal(err)
		}
		want[h], gen = b, g
	}
	return db, fr, handles, want, gen
}
