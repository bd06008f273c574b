// Package failpoint kills (or stalls) the process at named points, for
// crash and concurrency tests.
//
// Set METACTL_FAILPOINT to a comma-separated list of point specs:
//
//	name            SIGKILL the process the first time it reaches name
//	name@3          SIGKILL it the third time (points inside loops)
//	name=sleep:2s   sleep 2s at every hit (hold a lock open for a test)
//
// SIGKILL means nothing runs after the point: no deferred call, no bbolt
// rollback, no flush; the same as a power cut or an OOM kill there.
//
// When the variable is unset, Hit costs a single load of a package-level
// bool. The variable is read once, at program start.
package failpoint

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EnvVar names the environment variable read at program start.
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

func init() { parse(os.Getenv(EnvVar)) }

func parse(spec string) {
	points = make(map[string]*point)
	for _, p := range strings.Split(spec, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		pt := &point{remaining: 1}
		if name, action, ok := strings.Cut(p, "="); ok {
			if d, ok := strings.CutPrefix(action, "sleep:"); ok {
				if dur, err := time.ParseDuration(d); err == nil {
					pt.sleep = dur
				}
			}
			p = name
		} else if name, count, ok := strings.Cut(p, "@"); ok {
			if c, err := strconv.Atoi(count); err == nil && c > 0 {
				pt.remaining = c
			}
			p = name
		}
		points[p] = pt
	}
	enabled = len(points) > 0
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
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
