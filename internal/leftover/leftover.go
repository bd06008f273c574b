// Package leftover names the temporary files and folders of metactl's
// writers after the process that made them (its pid and start time), so
// that the next run of any writer can remove those whose writer is dead:
// a temporary archive of a killed export, an archive unpacked into the
// system's temporary folder by a killed read, a query's private catalog.
//
// A name carries "<prefix><pid>-<start>-" before the random part that
// os.CreateTemp and os.MkdirTemp add. start is the process's start time
// in clock ticks since boot (/proc/PID/stat, field 22), so a pid reused
// by another process does not pass for the writer; where /proc is
// missing (macOS) it is 0 and the pid alone decides.
package leftover

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Pattern returns the os.CreateTemp / os.MkdirTemp pattern of a
// temporary name with prefix, owned by this process: prefix, pid, start,
// then the random part ("*"), then suffix.
func Pattern(prefix, suffix string) string {
	return prefix + Owner() + "-*" + suffix
}

// Owner returns "<pid>-<start>" of this process.
func Owner() string {
	pid := os.Getpid()
	return strconv.Itoa(pid) + "-" + strconv.FormatUint(startTime(pid), 10)
}

// Sweep removes the entries of dir whose names start with prefix followed
// by the "<pid>-<start>-" of a process that is no longer running, and
// returns their paths. Entries of running writers, of this process, and
// names without an owner are left alone. Errors are ignored: a sweep is
// best effort and must never fail the run that does it.
func Sweep(dir, prefix string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pid, start, ok := parseOwner(rest)
		if !ok || pid == os.Getpid() || alive(pid, start) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.RemoveAll(p); err == nil || errors.Is(err, fs.ErrNotExist) {
			removed = append(removed, p)
		}
	}
	return removed
}

// parseOwner reads "<pid>-<start>-..." at the start of s.
func parseOwner(s string) (pid int, start uint64, ok bool) {
	p, rest, ok1 := strings.Cut(s, "-")
	st, _, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(p)
	start, err2 := strconv.ParseUint(st, 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return 0, 0, false
	}
	return pid, start, true
}

// alive reports whether process pid runs and, where start times are
// known, started at start.
func alive(pid int, start uint64) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false // ESRCH: no such process
	}
	if now := startTime(pid); start != 0 && now != 0 && now != start {
		return false // the pid was reused
	}
	return true
}

// startTime returns process pid's start time in clock ticks since boot,
// or 0 where it cannot be read.
func startTime(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return 0
	}
	v, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0
	}
	return v
}
