// Package failpoint kills (or stalls) the process at named points, for
// crash and concurrency tests.
//
// Nothing is armed unless the program arms it: metactl's main calls
// [Enable] with the value of METACTL_FAILPOINT, and a test's child process
// does the same. No library reads the environment, so a program that
// embeds catalog, importer, compaction or export can never be killed by a
// stray variable; and the package is internal, so only this module's
// programs can arm it at all. A spec is a comma-separated list of points:
//
//	name            kill the process the first time it reaches name
//	name@3          kill it the third time (points inside loops)
//	name=sleep:2s   sleep 2s at every hit (hold a lock open for a test)
//
// The kill is os.Process.Kill (SIGKILL on Unix): nothing runs after the
// point, no deferred call, no bbolt rollback, no flush; the same as a power
// cut or an OOM kill there.
//
// When nothing is armed, Hit costs a single load of a package-level bool.
package failpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EnvVar names the environment variable metactl's main passes to Enable.
const EnvVar = "METACTL_FAILPOINT"

type point struct {
	remaining int           // kill when it reaches 0
	sleep     time.Duration // >0: sleep instead of kill
}

var (
	enabled bool
	mu      sync.Mutex
	points  map[string]*point
)

// Enable arms the points of spec, replacing any armed before; an empty
// spec disarms them all. It refuses a malformed spec (a crash test whose
// point silently failed to arm would pass without testing anything).
// Call it before any goroutine hits a point.
func Enable(spec string) error {
	ps, err := parse(spec)
	if err != nil {
		return err
	}
	mu.Lock()
	points = ps
	mu.Unlock()
	enabled = len(ps) > 0
	return nil
}

func parse(spec string) (map[string]*point, error) {
	ps := make(map[string]*point)
	for _, p := range strings.Split(spec, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		pt := &point{remaining: 1}
		name := p
		if n, action, ok := strings.Cut(p, "="); ok {
			d, ok := strings.CutPrefix(action, "sleep:")
			dur, err := time.ParseDuration(d)
			if !ok || err != nil || dur <= 0 {
				return nil, fmt.Errorf("failpoint %q: the action must be sleep:DURATION, for example sleep:2s", p)
			}
			pt.sleep, name = dur, n
		} else if n, count, ok := strings.Cut(p, "@"); ok {
			c, err := strconv.Atoi(count)
			if err != nil || c <= 0 {
				return nil, fmt.Errorf("failpoint %q: the count after @ must be a positive integer", p)
			}
			pt.remaining, name = c, n
		}
		if name == "" {
			return nil, fmt.Errorf("failpoint %q: no point name", p)
		}
		ps[name] = pt
	}
	return ps, nil
}

// Hit acts on the named point if it is armed, and returns normally
// otherwise.
func Hit(name string) {
	if !enabled {
		return
	}
	mu.Lock()
	pt, ok := points[name]
	var kill bool
	var sleep time.Duration
	if ok {
		if pt.sleep > 0 {
			sleep = pt.sleep
		} else {
			pt.remaining--
			kill = pt.remaining == 0
		}
	}
	mu.Unlock()
	if sleep > 0 {
		time.Sleep(sleep)
	}
	if kill {
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			_ = p.Kill()
		}
		select {} // the kill is on its way
	}
}
