//go:build unix

package adaptersrv

import "strings"

// SchedTrace is the GODEBUG setting [Start] gives the server's process
// (unless its GODEBUG sets schedtrace already): a scheduler trace line
// every day, to the server's stderr, which is /dev/null.
//
// Why: a server waits on sockets with one P (GOMAXPROCS=1), so between
// the steps of a call (the accept, the request, the etcd round trip, the
// answer) its one P is idle and the Go runtime's sysmon thread goes into
// deep sleep; the next system call wakes it (a futex), and it then polls
// every 20 µs until the P is idle again. Measured on the fast path, that
// was 22% of the server's CPU (perf, 3,000 calls in a row). With
// schedtrace set, sysmon never deep-sleeps (the runtime's sysmon loop,
// proc.go: "sysmon should not enter deep sleep if schedtrace is
// enabled"): once nothing is retaken it backs off to a poll every 10 ms,
// and no call wakes it. docs/aptos-bridge.md, "The fast path", has the
// figures. The server runs no other program, so no child inherits it.
const SchedTrace = "schedtrace=86400000"

// serverEnv returns env with [SchedTrace] added to its GODEBUG: to the
// first GODEBUG entry (the one the runtime reads) unless that sets
// schedtrace already, or as a new entry if there is none. env itself is
// not changed.
func serverEnv(env []string) []string {
	out := append([]string(nil), env...)
	for i, kv := range out {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok {
			continue
		}
		for _, s := range strings.Split(v, ",") {
			if strings.HasPrefix(strings.TrimSpace(s), "schedtrace=") {
				return out
			}
		}
		if v != "" {
			v += ","
		}
		out[i] = "GODEBUG=" + v + SchedTrace
		return out
	}
	return append(out, "GODEBUG="+SchedTrace)
}
