package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

type selftestDoc struct {
	Pass       bool `json:"pass"`
	Removed    bool `json:"removed"`
	Kills      int  `json:"kills"`
	Reads      int  `json:"reads"`
	Millis     int  `json:"millis"`
	Properties []struct {
		Name   string `json:"name"`
		Pass   bool   `json:"pass"`
		Detail string `json:"detail"`
	} `json:"properties"`
}

// selftestOn runs 'metactl selftest --quick --json' on dir through the
// binary and checks every property passes, the figures are there and
// nothing is left in dir.
func selftestOn(t *testing.T, dir string) {
	t.Helper()
	before, _ := os.ReadDir(dir)
	r := metactl(t, "", nil, "selftest", "--dir", dir, "--quick", "--json")
	var doc selftestDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("selftest --json: %v: %s", err, r)
	}
	names := []string{}
	for _, p := range doc.Properties {
		names = append(names, p.Name)
		if !p.Pass {
			t.Errorf("%s: FAIL: %s", p.Name, p.Detail)
		}
	}
	want := "fsync rename-atomic flock writer-lock reader-beside-writer crash-import crash-compact crash-export"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("properties %q, want %q", got, want)
	}
	if r.code != 0 || !doc.Pass || !doc.Removed || doc.Kills < 14 || doc.Reads == 0 {
		t.Errorf("exit %d, report %+v", r.code, doc)
	}
	after, _ := os.ReadDir(dir)
	if len(after) != len(before) {
		t.Errorf("%s had %d entries, now %d: the scratch folder was not removed", dir, len(before), len(after))
	}
	t.Logf("%s: %d kills, %d reads, %d ms", dir, doc.Kills, doc.Reads, doc.Millis)
}

// TestSelftestLocalFilesystem: selftest passes where the tests run.
func TestSelftestLocalFilesystem(t *testing.T) {
	selftestOn(t, t.TempDir())
}

const tmpfsMagic = 0x01021994

func isTmpfs(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Type == tmpfsMagic
}

// TestSelftestTmpfs: selftest passes on a tmpfs: one mounted for the test
// when running as root, else /dev/shm when it is a tmpfs.
func TestSelftestTmpfs(t *testing.T) {
	dir := ""
	if os.Geteuid() == 0 {
		mnt := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt).CombinedOutput(); err == nil {
			t.Cleanup(func() {
				if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
					t.Errorf("umount %s: %v: %s", mnt, err, out)
				}
			})
			dir = mnt
		} else {
			t.Logf("mount -t tmpfs: %v: %s", err, out)
		}
	}
	if dir == "" {
		if !isTmpfs("/dev/shm") {
			t.Skip("not root (or mount refused) and /dev/shm is not a tmpfs: no tmpfs to test on")
		}
		d, err := os.MkdirTemp("/dev/shm", "metactl-selftest-test-")
		if err != nil {
			t.Skipf("no tmpfs to test on: %v", err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	if !isTmpfs(dir) {
		t.Fatalf("%s is not a tmpfs", dir)
	}
	selftestOn(t, filepath.Clean(dir))
}

// TestSelftestUsage: a missing folder is a usage error.
func TestSelftestUsage(t *testing.T) {
	r := metactl(t, "", nil, "selftest", "--dir", filepath.Join(t.TempDir(), "missing"))
	if r.code != exitUsage || !strings.Contains(r.stderr, "missing") {
		t.Errorf("missing folder: %s", r)
	}
}
