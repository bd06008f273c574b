// Package scratch makes the private temporary folders of a metactl process
// (an archive unpacked into a catalog, serve's archives) named by the
// process that made them, PREFIX+"PID-START-RANDOM", so that a later run
// removes those a killed process (SIGKILL, OOM) left behind: a folder whose
// pid is gone, or is another process under a reused pid, is stale.
package scratch

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Prefixes are the names of metactl's scratch folders: every Make removes
// the stale folders of all of them, so whatever a killed process left goes
// at the next run of any command that makes one.
var Prefixes = []string{"metactl-archive-", "metactl-query-", "metactl-remote-", "metactl-serve-", "metactl-copy-", "metactl-stdin-"}

// Make removes the stale folders in parent ("" for the system's temporary
// folder) named by prefix or one of Prefixes, and makes a new one named by
// prefix for this process.
func Make(parent, prefix string) (string, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	RemoveStale(parent, prefix)
	for _, p := range Prefixes {
		if p != prefix {
			RemoveStale(parent, p)
		}
	}
	return os.MkdirTemp(parent, fmt.Sprintf("%s%d-%d-", prefix, os.Getpid(), processStart(os.Getpid())))
}

// CreateTemp removes the stale files and folders in dir named by prefix
// and creates a new file there named by prefix for this process:
// prefix+"PID-START-RANDOM"+suffix (an export's temporary archive, a
// spooled archive from a pipe), so the next run removes it if this
// process is killed before it renames or removes it.
func CreateTemp(dir, prefix, suffix string) (*os.File, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	RemoveStale(dir, prefix)
	return os.CreateTemp(dir, fmt.Sprintf("%s%d-%d-*%s", prefix, os.Getpid(), processStart(os.Getpid()), suffix))
}

// RemoveStale removes the files and folders in parent named prefix+"PID-START" or
// prefix+"PID-START-RANDOM" whose process is no longer running, and returns
// their names. Folders named otherwise are not its to remove.
func RemoveStale(parent, prefix string) []string {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		parts := strings.SplitN(rest, "-", 3)
		if len(parts) < 2 {
			continue
		}
		pid, err1 := strconv.Atoi(parts[0])
		start, err2 := strconv.ParseInt(parts[1], 10, 64)
		if err1 != nil || err2 != nil || pid <= 0 {
			continue
		}
		if alive(pid) && processStart(pid) == start {
			continue
		}
		if os.RemoveAll(filepath.Join(parent, e.Name())) == nil {
			removed = append(removed, e.Name())
		}
	}
	return removed
}
