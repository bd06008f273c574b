package importer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// forEach runs work(ctx, i) for every i in [0, n) on at most workers
// goroutines, each taking the next index as it finishes one (a file costs
// microseconds: a goroutine per call would cost as much as the call).
// done is called from the calling goroutine (progress callbacks run there,
// as Options.Progress promises) with the number of calls finished so far:
// every progressTick while they run, and with n at the end. The first error
// work returns cancels the others and is returned; if ctx ends first, its
// error is.
func forEach(ctx context.Context, n, workers int, work func(ctx context.Context, i int) error, done func(finished int)) error {
	if n == 0 {
		return ctx.Err()
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next, finished atomic.Int64
		once           sync.Once
		first          error
		wg             sync.WaitGroup
	)
	for range min(max(workers, 1), n) {
		wg.Go(func() {
			for gctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if err := work(gctx, int(i)); err != nil {
					once.Do(func() { first = err })
					cancel()
					return
				}
				finished.Add(1)
			}
		})
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	tick := time.NewTicker(progressTick)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			done(int(finished.Load()))
		case <-all:
			count := int(finished.Load())
			switch {
			case first != nil:
				return first
			case count < n:
				// The workers stopped early: ctx ended.
				return ctx.Err()
			}
			done(count)
			return nil
		}
	}
}

// progressTick is how often forEach reports progress.
const progressTick = 25 * time.Millisecond

// progressInterval is the least time between two throttled reports.
const progressInterval = 100 * time.Millisecond

// reporter throttles Options.Progress: the first report of a phase and its
// last one (Done == Total) always go through, others at most every
// progressInterval.
type reporter struct {
	fn    func(Progress)
	phase string
	last  time.Time
}

func (r *reporter) report(phase string, done, total int) {
	if r.fn == nil {
		return
	}
	now := time.Now()
	if phase == r.phase && done != total && now.Sub(r.last) < progressInterval {
		return
	}
	r.phase, r.last = phase, now
	r.fn(Progress{Phase: phase, Done: done, Total: total})
}
