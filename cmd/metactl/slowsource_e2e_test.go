package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReadersNeverWaitForSourceRead is issue 8's "readers never wait for a
// source read": an import and a drop-in compaction read a command-adapter
// storage whose listing takes 2 s and whose every download takes 1 s
// (0.6 s a call with -short), while reader processes (status, ls) with
// --lock-timeout 1s run in a loop throughout. None may exit 5 (busy), the
// lock may be held for no more than half the import, and no reader may
// wait longer than one commit (plus the machine's noise) and a source call:
// the test measures how long the writers hold the lock (by polling the lock
// sidecar, which holds the writer's record exactly while it holds the lock)
// instead of assuming a time.
func TestReadersNeverWaitForSourceRead(t *testing.T) {
	// Not parallel: readers with a 1s lock timeout measure their waits.
	bucket := t.TempDir()
	sample := filepath.Join(repoRoot(t), "testdata", "sample-gzip", "metadata")
	os.MkdirAll(filepath.Join(bucket, "metadata"), 0o755)
	names := listDir(t, sample)[:16]
	for _, name := range names {
		b, _ := os.ReadFile(filepath.Join(sample, name))
		os.WriteFile(filepath.Join(bucket, "metadata", name), b, 0o644)
	}
	tmpl, err := os.ReadFile(filepath.Join(repoRoot(t), "export", "testdata", "local-gzip.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl = bytes.ReplaceAll(tmpl, []byte("/nonexistent/metactl-test-folder"), []byte(bucket))
	// Each listing and download takes slow (less with -short: the
	// proportions, not the seconds, make the test).
	slow := time.Second
	if testing.Short() {
		slow = 600 * time.Millisecond
	}
	sleep := fmt.Sprintf("    sleep %g\n", slow.Seconds())
	for _, key := range []string{"list_metadata_files", "list_metadata_backup_files"} {
		tmpl = bytes.Replace(tmpl, []byte("  "+key+": |\n"), []byte("  "+key+": |\n"+sleep), 1)
	}
	tmpl = bytes.Replace(tmpl, []byte("  open_for_read: |\n"), []byte("  open_for_read: |\n"+sleep), 1)
	if bytes.Count(tmpl, []byte(sleep)) != 3 {
		t.Fatalf("config template changed: %s", tmpl)
	}
	cfg := filepath.Join(t.TempDir(), "slow.yaml")
	os.WriteFile(cfg, tmpl, 0o644)

	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", emptyStorage(t))

	type span struct{ start, end time.Time }
	var mu sync.Mutex
	var held []span // intervals the write lock was held
	var runs []span // reader processes
	var busy []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // poll the lock sidecar
		defer wg.Done()
		var since time.Time
		for {
			b := lockRecord(t, cat)
			now := time.Now()
			switch on := len(bytes.TrimSpace(b)) > 0; {
			case on && since.IsZero():
				since = now
			case !on && !since.IsZero():
				mu.Lock()
				held = append(held, span{since, now})
				mu.Unlock()
				since = time.Time{}
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	for _, args := range [][]string{{"--lock-timeout", "1s", "status"}, {"--lock-timeout", "1s", "ls"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				r := metactl(t, cat, nil, args...)
				end := time.Now()
				mu.Lock()
				runs = append(runs, span{start, end})
				if r.code != 0 {
					busy = append(busy, strings.Join(args, " ")+": "+r.String())
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}

	time.Sleep(300 * time.Millisecond) // readers alone first: their own cost
	importStart := time.Now()
	must(t, cat, nil, "import", "--command-adapter-config", cfg)
	importTook := time.Since(importStart)
	compactStart := time.Now()
	must(t, cat, []string{"METACTL_NOW=1700000000"}, "compact", "--command-adapter-config", cfg,
		"--transaction-file-compact-factor", "1", "--epoch-ending-file-compact-factor", "1", "--state-snapshot-file-compact-factor", "1")
	compactTook := time.Since(compactStart)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	if len(busy) > 0 {
		t.Fatalf("%d reader runs failed (none may exit 5), first: %s", len(busy), busy[0])
	}
	if len(held) == 0 || len(runs) < 10 {
		t.Fatalf("measured %d lock holds and %d reader runs", len(held), len(runs))
	}
	// One commit: the longest the lock was held.
	var commit time.Duration
	for _, h := range held {
		commit = max(commit, h.end.Sub(h.start))
	}
	// A reader's own cost is its fastest run; its wait is the rest. Runs
	// that overlapped no hold measure the noise of a busy machine.
	own := slices.MinFunc(runs, func(a, b span) int { return int(a.end.Sub(a.start) - b.end.Sub(b.start)) })
	ownCost := own.end.Sub(own.start)
	var maxWait, noise time.Duration
	for _, r := range runs {
		wait := r.end.Sub(r.start) - ownCost
		overlaps := slices.ContainsFunc(held, func(h span) bool { return h.start.Before(r.end) && r.start.Before(h.end) })
		if overlaps {
			maxWait = max(maxWait, wait)
		} else {
			noise = max(noise, wait)
		}
	}
	t.Logf("import took %v and the drop-in compaction %v (source reads of seconds); %d lock holds, the longest (one commit) %v; %d reader runs, own cost %v, longest wait %v (noise without a writer %v)",
		importTook.Round(time.Millisecond), compactTook.Round(time.Millisecond), len(held), commit.Round(time.Millisecond),
		len(runs), ownCost.Round(time.Millisecond), maxWait.Round(time.Millisecond), noise.Round(time.Millisecond))
	if importTook < 3*slow {
		t.Errorf("the import took %v: the slow source is not slow", importTook)
	}
	if commit >= importTook/2 {
		t.Errorf("the lock was held %v of the import's %v: the source is read under the lock", commit, importTook)
	}
	// A reader held up by a source read waits at least one source call
	// (slow). A longer wait than one commit plus the noise, but shorter
	// than that, is the machine's scheduling, not a wait for the source:
	// the noise is a maximum over the runs that overlapped no hold, and
	// the few that did overlap one can meet a load spike it did not see.
	if maxWait > commit+noise && maxWait >= slow {
		t.Errorf("a reader waited %v, more than one commit (%v) plus the noise of readers without a writer (%v), and as long as a source call (%v)", maxWait, commit, noise, slow)
	}
}
