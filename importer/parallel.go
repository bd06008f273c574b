package importer

import (
	"context"
	"sync"
	"time"
)

// forEach runs work(ctx, i) for every i in [0, n) on at most workers
// goroutines. After each call returns, done is called with the number of
// calls finished so far, from the calling goroutine (progress callbacks run
// there, as Options.Progress promises). The first error work returns
// cancels the others and is returned; if ctx ends first, its error is.
func forEach(ctx context.Context, n, workers int, work func(ctx context.Context, i int) error, done func(finished int)) error {
	if n == 0 {
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	results := make(chan error, workers)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				results <- work(ctx, i)
			}
		})
	}
	go func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	var first error
	finished := 0
	for err := range results {
		finished++
		if first != nil {
			continue // draining after a failure
		}
		if err != nil {
			first = err
			cancel()
			continue
		}
		done(finished)
	}
	if first == nil && finished < n {
		// The feeder stopped early: ctx ended between two calls.
		first = ctx.Err()
	}
	return first
}

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
