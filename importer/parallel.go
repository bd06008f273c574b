package importer

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"
)

// forEach runs work(ctx, i) for every i in [0, n) on at most workers
// goroutines (an errgroup with SetLimit). After each call returns, done is
// called with the number of calls finished so far, from the calling
// goroutine (progress callbacks run there, as Options.Progress promises).
// The first error work returns cancels the others and is returned; if ctx
// ends first, its error is.
func forEach(ctx context.Context, n, workers int, work func(ctx context.Context, i int) error, done func(finished int)) error {
	if n == 0 {
		return ctx.Err()
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	finished := make(chan struct{}, n) // never blocks a worker
	result := make(chan error, 1)
	go func() { // g.Go blocks at the limit, so feed from here
		for i := range n {
			if gctx.Err() != nil {
				break
			}
			g.Go(func() error {
				if err := work(gctx, i); err != nil {
					return err
				}
				finished <- struct{}{}
				return nil
			})
		}
		result <- g.Wait()
	}()
	count := 0
	for {
		select {
		case <-finished:
			count++
			done(count)
		case err := <-result:
			if err != nil {
				return err
			}
			for len(finished) > 0 {
				<-finished
				count++
				done(count)
			}
			if count < n {
				// The feeder stopped early: ctx ended between two calls.
				return ctx.Err()
			}
			return nil
		}
	}
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
