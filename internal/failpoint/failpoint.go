// Package failpoint kills the process at named points, for crash tests.
//
// Set METACTL_FAILPOINT to a comma-separated list of point names; when the
// running process reaches one of them, [Hit] sends SIGKILL to the process
// itself, so nothing (no deferred call, no bbolt rollback, no flush) runs
// after it: the same as a power cut or an OOM kill at that instant.
//
// A name may carry a count, "name@3", to kill at the third hit instead of the
// first (for points inside loops, such as one file write of many).
//
// When the variable is unset, Hit is a single load of a package-level bool.
package failpoint

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// EnvVar names the environment variable read once at program start.
const EnvVar = "METACTL_FAILPOINT"

var (
	enabled bool
	mu      sync.Mutex
	points  map[string]int // name -> remaining hits before the kill
)

func init() {
	spec := os.Getenv(EnvVar)
	if spec == "" {
		return
	}
	points = make(map[string]int)
	for _, p := range strings.Split(spec, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		n := 1
		if name, count, ok := strings.Cut(p, "@"); ok {
			if c, err := strconv.Atoi(count); err == nil && c > 0 {
				n = c
			}
			p = name
		}
		points[p] = n
	}
	enabled = len(points) > 0
}

// Hit kills the process with SIGKILL if name is an armed failpoint whose
// count has run out. It returns normally otherwise.
func Hit(name string) {
	if !enabled {
		return
	}
	mu.Lock()
	n, ok := points[name]
	if ok {
		n--
		points[name] = n
	}
	mu.Unlock()
	if ok && n == 0 {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never returns: the signal is on its way
	}
}
