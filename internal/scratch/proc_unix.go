//go:build unix

package scratch

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// processStart returns when process pid started, in clock ticks since boot
// (Linux: /proc/PID/stat field 22), or 0 where that is unknown: a stale
// folder is then told by its pid alone.
func processStart(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	fields := bytes.Fields(b[i+1:])
	if len(fields) < 20 { // field 22 is the 20th after the name
		return 0
	}
	v, err := strconv.ParseInt(string(fields[19]), 10, 64)
	if err != nil {
		return 0
	}
	return v
}
