package web_test

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the process's user and system CPU time so far: on a
// shared machine a benchmark's wall time says as much about the other
// processes as about the code, its CPU time does not.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
