//go:build unix

package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/metactl/metactl/internal/timespan"
)

// defaultProgressEvery is how often a progress record goes to stderr when
// stderr is not a terminal (a pod's log, a cron mail);
// METACTL_PROGRESS_EVERY changes it.
const defaultProgressEvery = 5 * time.Second

// progress is the CLI's one progress type: long work (import, compact,
// verify, export, reading an archive) reports through it. On a terminal it
// draws a bar with rate and ETA (schollz/progressbar); otherwise it writes
// a one-line record on stderr every METACTL_PROGRESS_EVERY (default 5s), in the --log-format;
// with -q it shows nothing. Work that cannot count (compact, verify) shows
// a spinner or a record of the time elapsed. A nil *progress does nothing.
type progress struct {
	a     *app
	what  string
	start time.Time

	mu          sync.Mutex
	bar         *progressbar.ProgressBar
	done, total int
	lastRecord  time.Time
	stop        chan struct{}
	stopped     sync.WaitGroup
}

// startProgress begins reporting one piece of work, or returns nil under
// -q.
func (a *app) startProgress(what string) *progress {
	if a.cli.Quiet {
		return nil
	}
	return &progress{a: a, what: what, start: time.Now(), lastRecord: time.Now().Add(-a.progressEvery / 2)}
}

// update reports done of total (total <= 0: unknown).
func (p *progress) update(done, total int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.total = done, total
	if p.a.isTerminal() {
		if p.bar == nil {
			p.bar = progressbar.NewOptions(max(total, -1),
				progressbar.OptionSetWriter(p.a.stderr),
				progressbar.OptionSetDescription(p.what),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("files"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
		}
		p.bar.Set(done)
		return
	}
	if now := time.Now(); now.Sub(p.lastRecord) >= p.a.progressEvery {
		p.lastRecord = now
		p.record()
	}
}

// record writes one progress line; p.mu is held.
func (p *progress) record() {
	elapsed := time.Since(p.start)
	if p.total <= 0 && p.done == 0 {
		p.a.logAttrs(fmt.Sprintf("%s: working, %s elapsed", p.what, timespan.Format(elapsed.Round(time.Second))),
			"op", p.what, "elapsed_seconds", int(elapsed.Seconds()))
		return
	}
	rate := float64(p.done) / max(elapsed.Seconds(), 1e-9)
	msg := fmt.Sprintf("%s: %d/%d (%.1f%%), %.0f/s", p.what, p.done, p.total, 100*float64(p.done)/float64(max(p.total, 1)), rate)
	eta := 0
	if p.total > 0 && rate > 0 {
		eta = int(float64(p.total-p.done) / rate)
		msg += ", eta " + timespan.Format(time.Duration(eta)*time.Second)
	}
	p.a.logAttrs(msg, "op", p.what, "done", p.done, "total", p.total, "rate_per_second", int(rate), "eta_seconds", eta)
}

// working reports work that cannot count: a spinner on a terminal, a
// record of the time elapsed every METACTL_PROGRESS_EVERY (default 5s) otherwise. Call the
// returned function when the work ends.
func (a *app) working(what string) func() {
	p := a.startProgress(what)
	if p == nil {
		return func() {}
	}
	p.stop = make(chan struct{})
	p.stopped.Add(1)
	go func() {
		defer p.stopped.Done()
		tick := time.NewTicker(min(a.progressEvery, 200*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				p.mu.Lock()
				if p.a.isTerminal() {
					if p.bar == nil {
						p.bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(p.a.stderr),
							progressbar.OptionSetDescription(what), progressbar.OptionSpinnerType(14),
							progressbar.OptionSetElapsedTime(true), progressbar.OptionClearOnFinish())
					}
					p.bar.Add(0)
				} else if time.Since(p.lastRecord) >= p.a.progressEvery {
					p.lastRecord = time.Now()
					p.record()
				}
				p.mu.Unlock()
			}
		}
	}()
	return p.finish
}

// finish ends the report: the bar is cleared, the ticker stopped.
func (p *progress) finish() {
	if p == nil {
		return
	}
	if p.stop != nil {
		close(p.stop)
		p.stopped.Wait()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}

// progress returns a callback for a library's Progress option: it reports
// through one progress and finishes it when done reaches total. It is nil
// under -q.
func (a *app) progress(what string) func(done, total int) {
	p := a.startProgress(what)
	if p == nil {
		return nil
	}
	return func(done, total int) {
		p.update(done, total)
		if total > 0 && done >= total {
			p.finish()
		}
	}
}
