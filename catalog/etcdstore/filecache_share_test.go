package etcdstore

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog"
)

// TestFileCacheSharedReadsSeeWrites: many readers at once, and a writer
// of its own (another etcd client, as another process) adding one file
// per write: every read of the file of the last write completed before
// the read arrived finds it, at that write's generation or later, whether
// it sent its read of the current key or shared another's.
func TestFileCacheSharedReadsSeeWrites(t *testing.T) {
	ctx := context.Background()
	loc := location(t, cluster, "")
	first := putFiles(t, loc, catalog.Options{}, 1, 2)
	db := open(t, loc, catalog.Options{ReadOnly: true})
	fc := db.FileCache(DefaultFileCacheBytes)
	fc.fillAfter = 1
	w := open(t, loc, catalog.Options{})

	const writes, readers = 24, 16
	gens := make([]uint64, writes+1) // gens[k]: the generation of write k
	gens[0] = first.Generation
	var completed atomic.Int64 // the last write completed
	var stop atomic.Bool
	var reads, failures atomic.Int64
	var wg sync.WaitGroup
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				k := completed.Load()
				arrived := time.Now()
				runtime.Gosched() // others may send a read of current meanwhile
				fs, gen, err := fc.ReadFilesArrived(ctx, arrived, []string{txnFile(1 + uint64(k)).Handle()})
				reads.Add(1)
				switch {
				case err != nil:
					t.Errorf("read after write %d: %v", k, err)
				case fs[0] == nil || gen < gens[k]:
					failures.Add(1)
					t.Errorf("read arrived after write %d (generation %d) completed: file %v at generation %d", k, gens[k], fs[0], gen)
				}
				if failures.Load() > 5 {
					return
				}
			}
		}()
	}
	for k := 1; k <= writes; k++ {
		op, err := w.Update(ctx, "import", func(tx catalog.WriteTx) error {
			_, err := tx.PutFile(txnFile(1 + uint64(k)).NewFile("test"))
			return err
		})
		if err != nil {
			t.Fatalf("write %d: %v", k, err)
		}
		gens[k] = op.Generation // before the store below: readers of k read it after
		completed.Store(int64(k))
		time.Sleep(5 * time.Millisecond) // let readers read between writes
	}
	stop.Store(true)
	wg.Wait()
	fc.gmu.Lock()
	gets, shared := fc.gets, fc.shared
	fc.gmu.Unlock()
	t.Logf("%d reads: %d reads of the current key sent, %d reads shared one; %d fills, %d from the cache", reads.Load(), gets, shared, fc.fills, fc.hits)
}

// TestFileCacheSharesOnlyLaterReads: a read of the current key is shared
// only by reads that arrived before it was sent. With one held in flight
// (its answer in, not yet shared) and a file written meanwhile by another
// client: a read that arrived before it was sent shares it (no request of
// its own); one that arrived after the write does not, and sees the
// file; a read whose context ends while it waits returns what a lone
// read with that context returns; a shared read that failed leaves each
// read that waited for it to read alone.
func TestFileCacheSharesOnlyLaterReads(t *testing.T) {
	ctx := context.Background()
	loc := location(t, cluster, "")
	putFiles(t, loc, catalog.Options{}, 1, 3)
	db := open(t, loc, catalog.Options{ReadOnly: true})
	fc := db.FileCache(DefaultFileCacheBytes)
	fc.fillAfter = 1
	old, added := txnFile(1).Handle(), txnFile(5).Handle()
	if fs, _, err := fc.ReadFiles(ctx, []string{old}); err != nil || fs[0] == nil || fc.fills != 1 {
		t.Fatalf("first read: %v, %v, %d fills; want the file, a fill", fs, err, fc.fills)
	}
	gets := func() uint64 {
		fc.gmu.Lock()
		defer fc.gmu.Unlock()
		return fc.gets
	}

	// hold holds the next read of the current key once it has its answer
	// (until release is closed) and makes it fail with fail, if set.
	var mu sync.Mutex
	hold := func(fail error) (held, release chan struct{}) {
		held, release = make(chan struct{}), make(chan struct{})
		var once sync.Once
		mu.Lock()
		fc.gotCurrent = func(err error) error {
			first := false
			once.Do(func() { first = true })
			if !first {
				return err
			}
			close(held)
			<-release
			if fail != nil {
				return fail
			}
			return err
		}
		mu.Unlock()
		return held, release
	}
	type answer struct {
		fs  []*catalog.File
		err error
	}
	read := func(ctx context.Context, arrived time.Time, h string) chan answer {
		ch := make(chan answer, 1)
		go func() {
			fs, _, err := fc.ReadFilesArrived(ctx, arrived, []string{h})
			ch <- answer{fs, err}
		}()
		return ch
	}

	before := time.Now() // arrived before the held read is sent
	held, release := hold(nil)
	sent := gets()
	a := read(ctx, time.Now(), old)
	select {
	case <-held:
	case ans := <-a:
		t.Fatalf("a read that arrived after every read of the current key was sent was answered without one: %v, %v", ans.fs, ans.err)
	}
	// A write by another client, completed while the read is held.
	putFiles(t, loc, catalog.Options{}, 5, 6)
	waits := func() uint64 {
		fc.gmu.Lock()
		defer fc.gmu.Unlock()
		return fc.waits
	}
	w0 := waits()
	late := read(ctx, time.Now(), added) // arrived after the write
	early := read(ctx, before, old)      // arrived before the held read was sent
	cctx, cancel := context.WithCancel(ctx)
	cancelled := read(cctx, before, old) // waits for the held read, then its context ends
	for waits() < w0+3 {
		runtime.Gosched() // until the three wait for the held read
	}
	cancel()
	c := <-cancelled
	cancelledCtx, cancel2 := context.WithCancel(ctx)
	cancel2()
	_, _, lone := db.FileCache(DefaultFileCacheBytes).ReadFiles(cancelledCtx, []string{old})
	if c.err == nil || !errors.Is(c.err, context.Canceled) || lone == nil || c.err.Error() != lone.Error() {
		t.Errorf("a read whose context ends while it waits: %v; want the error of a lone read, %v", c.err, lone)
	}
	close(release)
	for what, ch := range map[string]chan answer{"the held read": a, "the read that arrived before it was sent": early} {
		if ans := <-ch; ans.err != nil || ans.fs[0] == nil {
			t.Errorf("%s: %v, %v; want the file", what, ans.fs, ans.err)
		}
	}
	if ans := <-late; ans.err != nil || ans.fs[0] == nil {
		t.Errorf("the read that arrived after the write: %v, %v; want the written file", ans.fs, ans.err)
	}
	if n := gets() - sent; n != 2 {
		t.Errorf("%d reads of the current key sent, want 2: the held one and the late read's own (the early read shares the held one)", n)
	}

	// A shared read that fails: the read that waited for it reads alone.
	injected := errors.New("injected failure")
	before = time.Now()
	held, release = hold(injected)
	a = read(ctx, time.Now(), old)
	<-held
	w0 = waits()
	early = read(ctx, before, old)
	for waits() < w0+1 {
		runtime.Gosched()
	}
	close(release)
	want := db.s.etcdErr(ctx, "read "+db.s.URL(), injected) // a lone read's
	if ans := <-a; ans.err == nil || !errors.Is(ans.err, injected) || ans.err.Error() != want.Error() {
		t.Errorf("the failed read: %v; want %q", ans.err, want)
	}
	if ans := <-early; ans.err != nil || ans.fs[0] == nil {
		t.Errorf("a read that waited for a failed one: %v, %v; want the file, read alone", ans.fs, ans.err)
	}
}
