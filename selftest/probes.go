//go:build unix

package selftest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/metactl/metactl/internal/fsutil"
)

// fsync writes a file, fsyncs it and its folder several times, and checks
// that every fsync returns no error and the content reads back.
func (r *run) fsync(p *Property) {
	path := filepath.Join(r.scratch, "fsync-probe")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		p.fail("create: %v", err)
		return
	}
	defer f.Close()
	block := bytes.Repeat([]byte("metactl-fsync-probe\n"), 1<<12)
	const n = 8
	var total time.Duration
	for i := 0; i < n; i++ {
		if _, err := f.Write(block); err != nil {
			p.fail("write: %v", err)
			return
		}
		t0 := time.Now()
		if err := f.Sync(); err != nil {
			p.fail("fsync of a file returned %v", err)
			return
		}
		total += time.Since(t0)
	}
	if err := fsutil.SyncDir(r.scratch); err != nil {
		p.fail("fsync of a folder returned %v", err)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) != n*len(block) {
		p.fail("read back %d bytes of %d: %v", len(b), n*len(block), err)
		return
	}
	p.ok("%d file fsyncs and a folder fsync returned no error (%.2f ms each on average)", n, float64(total.Microseconds())/n/1000)
}

// renameAtomic: a child process reads a file in a loop while this one
// replaces it by rename with versions whose content is self-checking; the
// child must never see a missing, short or mixed file.
func (r *run) renameAtomic(p *Property) {
	target := filepath.Join(r.scratch, "rename-target")
	if err := os.WriteFile(target, version(0), 0o600); err != nil {
		p.fail("%v", err)
		return
	}
	cmd := r.command("", nil, "selftest-helper", "rename-reader", target, r.race.String())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		p.fail("start the reader: %v", err)
		return
	}
	writes := 0
	deadline := time.Now().Add(r.race)
	var werr error
	for time.Now().Before(deadline) && werr == nil && r.ctx.Err() == nil {
		writes++
		tmp := fmt.Sprintf("%s.tmp-%d", target, writes)
		if werr = os.WriteFile(tmp, version(writes), 0o600); werr == nil {
			werr = os.Rename(tmp, target)
		}
	}
	err := cmd.Wait()
	res := finished(cmd, err, out.String(), errb.String())
	if werr != nil {
		p.fail("write and rename: %v", werr)
		return
	}
	var rr renameReport
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &rr) != nil {
		p.fail("the reader: exit %d: %s", res.code, res.stderr)
		return
	}
	p.Reads = rr.Reads
	switch {
	case rr.Missing > 0 || rr.Torn > 0:
		p.fail("%d of %d reads by another process saw the file missing (%d) or partial (%d) during %d renames: %s",
			rr.Missing+rr.Torn, rr.Reads, rr.Missing, rr.Torn, writes, rr.First)
	case rr.Reads == 0:
		p.fail("the reader read nothing in %s", r.race)
	case rr.Versions < 2:
		p.fail("the reader saw only %d version in %d reads during %d renames: a rename is not visible to another process", rr.Versions, rr.Reads, writes)
	default:
		p.ok("%d reads by another process during %d renames: %d versions seen, none missing or partial", rr.Reads, writes, rr.Versions)
	}
}

// version is the content of version n: 256 KiB of its number, a length
// and a trailer, so a mixed or short read is detected.
func version(n int) []byte {
	line := []byte(fmt.Sprintf("%016d\n", n))
	b := bytes.Repeat(line, (256<<10)/len(line))
	return append(b, []byte(fmt.Sprintf("end %d %d\n", n, len(b)))...)
}

func checkVersion(b []byte) (int, error) {
	i := bytes.LastIndex(b[:max(len(b)-1, 0)], []byte("\n"))
	if i < 0 {
		return 0, fmt.Errorf("%d bytes without a trailer", len(b))
	}
	var n, size int
	if _, err := fmt.Sscanf(string(b[i+1:]), "end %d %d\n", &n, &size); err != nil || size != i+1 {
		return 0, fmt.Errorf("%d bytes, trailer %q", len(b), b[i+1:])
	}
	if !bytes.Equal(b, version(n)) {
		return 0, fmt.Errorf("version %d mixed with another", n)
	}
	return n, nil
}

type renameReport struct {
	Reads    int    `json:"reads"`
	Versions int    `json:"versions"`
	Missing  int    `json:"missing"`
	Torn     int    `json:"torn"`
	First    string `json:"first,omitempty"` // the first problem seen
}

// flock: with this process holding an exclusive flock, a second process
// must fail to take it; once released, the second process must get it.
func (r *run) flock(p *Property) {
	path := filepath.Join(r.scratch, "flock-probe")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		p.fail("%v", err)
		return
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		p.fail("flock: %v", err)
		return
	}
	held := r.metactl("", nil, "selftest-helper", "flock-try", path)
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		p.fail("unlock: %v", err)
		return
	}
	free := r.metactl("", nil, "selftest-helper", "flock-try", path)
	switch {
	case held.code != 0 || free.code != 0:
		p.fail("the helper: exit %d, %d: %s %s", held.code, free.code, held.stderr, free.stderr)
	case strings.TrimSpace(held.stdout) != "busy":
		p.fail("another process took an exclusive flock this process held (%q): locks are not honoured across processes", strings.TrimSpace(held.stdout))
	case strings.TrimSpace(free.stdout) != "acquired":
		p.fail("another process could not take a released flock (%q)", strings.TrimSpace(free.stdout))
	default:
		p.ok("a held exclusive flock refused another process; released, the other process took it")
	}
}

// startWriter starts a metactl write that holds the catalog lock for
// r.hold inside its transaction (a sleep failpoint before commit), and
// waits until it holds the lock (its holder record appears).
// The returned channel is closed when the writer has ended.
func (r *run) startWriter(cat string, point string, args ...string) (wait func() result, ended <-chan struct{}, err error) {
	cmd := r.command(cat, []string{"METACTL_FAILPOINT=" + point + "=sleep:" + r.hold.String()}, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	var res result
	go func() {
		err := cmd.Wait()
		res = finished(cmd, err, out.String(), errb.String())
		close(done)
	}()
	wait = func() result { <-done; return res }
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile(cat + ".lock"); len(b) > 0 {
			return wait, done, nil
		}
		select {
		case <-done:
			return nil, nil, fmt.Errorf("the writer ended before it held the lock: exit %d: %s", res.code, res.stderr)
		default:
		}
	}
	_ = cmd.Process.Kill()
	wait()
	return nil, nil, errors.New("the writer did not take the lock within 10s")
}

// writerLock: while one metactl import holds the catalog inside its
// transaction, a second writer must time out with exit 5 (busy) naming the
// holder; the first must then commit.
func (r *run) writerLock(p *Property) {
	cat := filepath.Join(r.scratch, "lock.db")
	if err := copyFile(r.seeds["empty"], cat); err != nil {
		p.fail("%v", err)
		return
	}
	wait, ended, err := r.startWriter(cat, "import.before-commit", "import", "--local-fs-dir", r.storage)
	if err != nil {
		p.fail("%v", err)
		return
	}
	second := r.metactl(cat, nil, "--lock-timeout", "200ms", "import", "--local-fs-dir", r.storage)
	var firstDone bool
	select {
	case <-ended:
		firstDone = true
	default:
	}
	first := wait()
	switch {
	case second.code == 0 && firstDone:
		p.fail("the first writer ended before the second one was refused: it did not hold the lock for %s (a build without failpoints?)", r.hold)
	case second.code == 0:
		p.fail("a second writer committed while the first held the lock: the catalog lock does not exclude writers here")
	case second.code != 5:
		p.fail("the second writer: exit %d, want 5 (busy): %s", second.code, second.stderr)
	case !strings.Contains(second.stderr, "held by pid"):
		p.fail("the busy message does not name the holder: %s", second.stderr)
	case first.code != 0:
		p.fail("the first writer: exit %d: %s", first.code, first.stderr)
	default:
		s, err := r.stateOf(cat)
		if err != nil || s.Generation != 1 {
			p.fail("after both writers: %v %s, want generation 1", err, s)
			return
		}
		p.ok("a second writer got exit 5 naming the holder while the first held the lock %s; the first committed", r.hold)
	}
}

// readerBesideWriter: readers in other processes loop while a compaction
// holds the write lock; every read must succeed and see the before- or the
// after-state, whole.
func (r *run) readerBesideWriter(p *Property) {
	cat := filepath.Join(r.scratch, "readers.db")
	if err := copyFile(r.seeds["imported"], cat); err != nil {
		p.fail("%v", err)
		return
	}
	before, err := r.stateOf(cat)
	if err != nil {
		p.fail("%v", err)
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	var mu sync.Mutex
	states := map[state]int{}
	var problems []string
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				s, err := r.stateOf(cat)
				mu.Lock()
				if err != nil && ctx.Err() == nil {
					problems = append(problems, err.Error())
				} else if err == nil {
					states[s]++
				}
				mu.Unlock()
			}
		}()
	}
	// The readers run before, during and after the writer's transaction.
	time.Sleep(r.hold / 4)
	wait, _, err := r.startWriter(cat, "compact.before-commit", compactArgs...)
	if err != nil {
		cancel()
		wg.Wait()
		p.fail("%v", err)
		return
	}
	first := wait()
	// A few reads after the commit too.
	time.Sleep(100 * time.Millisecond)
	cancel()
	wg.Wait()
	if first.code != 0 {
		p.fail("the writer: exit %d: %s", first.code, first.stderr)
		return
	}
	after, err := r.stateOf(cat)
	if err != nil {
		p.fail("%v", err)
		return
	}
	for s, n := range states {
		p.Reads += n
		if s != before && s != after {
			p.fail("%d reads saw %s, neither the before-state (%s) nor the after-state (%s)", n, s, before, after)
		}
	}
	if len(problems) > 0 {
		p.fail("%d reads failed, the first: %s", len(problems), problems[0])
	}
	if p.Reads == 0 {
		p.fail("no read completed")
	}
	p.ok("%d reads in 2 other processes beside a writer holding the lock %s: %d saw the before-state, %d the after-state, none failed",
		p.Reads, r.hold, states[before], states[after])
}

// Helper runs one helper probe in this process, for the hidden command
// "metactl selftest-helper":
//
//	rename-reader PATH DURATION   read PATH in a loop; print a JSON renameReport
//	flock-try PATH                try an exclusive flock; print "acquired" or "busy"
func Helper(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("selftest-helper: no probe named")
	}
	switch {
	case args[0] == "rename-reader" && len(args) == 3:
		d, err := time.ParseDuration(args[2])
		if err != nil {
			return fmt.Errorf("selftest-helper: %w", err)
		}
		return renameReader(ctx, args[1], d, stdout)
	case args[0] == "flock-try" && len(args) == 2:
		f, err := os.OpenFile(args[1], os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("selftest-helper: %w", err)
		}
		defer f.Close()
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			_, err = fmt.Fprintln(stdout, "busy")
			return err
		}
		if err != nil {
			return fmt.Errorf("selftest-helper: flock: %w", err)
		}
		_, err = fmt.Fprintln(stdout, "acquired")
		return err
	}
	return fmt.Errorf("selftest-helper: unknown probe %s", strconv.Quote(strings.Join(args, " ")))
}

func renameReader(ctx context.Context, path string, d time.Duration, stdout io.Writer) error {
	var rep renameReport
	seen := map[int]bool{}
	note := func(s string) {
		if rep.First == "" {
			rep.First = s
		}
	}
	for deadline := time.Now().Add(d); time.Now().Before(deadline) && ctx.Err() == nil; {
		b, err := os.ReadFile(path)
		rep.Reads++
		if errors.Is(err, fs.ErrNotExist) {
			rep.Missing++
			note("not found")
			continue
		}
		if err != nil {
			return fmt.Errorf("selftest-helper: read %s: %w", path, err)
		}
		n, err := checkVersion(b)
		if err != nil {
			rep.Torn++
			note(err.Error())
			continue
		}
		seen[n] = true
	}
	rep.Versions = len(seen)
	w := bufio.NewWriter(stdout)
	if err := json.NewEncoder(w).Encode(&rep); err != nil {
		return err
	}
	return w.Flush()
}
