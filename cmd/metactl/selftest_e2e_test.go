package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
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
func selftestOn(t *testing.T, dir string) string {
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
	return r.stdout
}

// TestSelftestLocalFilesystem: selftest passes where the tests run.
// Its --json shape is pinned by a golden file, with paths and figures
// (which vary from run to run) replaced.
func TestSelftestLocalFilesystem(t *testing.T) {
	// Not parallel: selftest times its probes (a writer holds the lock
	// 700ms, the run has a minute), which other tests' load can break.
	dir := t.TempDir()
	out := selftestOn(t, dir)
	out = regexp.MustCompile(`\.metactl-selftest-[0-9]+`).ReplaceAllString(strings.ReplaceAll(out, dir, "$DIR"), ".metactl-selftest-$$RANDOM")
	out = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`).ReplaceAllString(out, "N")
	golden(t, "json-selftest.json", out)
}

const tmpfsMagic = 0x01021994

func isTmpfs(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Type == tmpfsMagic
}

// TestSelftestTmpfs: selftest passes on a tmpfs: one mounted for the test
// when running as root, else /dev/shm when it is a tmpfs.
func TestSelftestTmpfs(t *testing.T) {
	// Not parallel: selftest times its probes (a writer holds the lock
	// 700ms, the run has a minute), which other tests' load can break.
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
	t.Parallel()
	r := metactl(t, "", nil, "selftest", "--dir", filepath.Join(t.TempDir(), "missing"))
	if r.code != exitUsage || !strings.Contains(r.stderr, "missing") {
		t.Errorf("missing folder: %s", r)
	}
}

// TestSelftestSIGINT: Ctrl-C during a selftest run stops it with exit 130
// and removes the scratch folder and everything in it.
func TestSelftestSIGINT(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binary, "selftest", "--dir", dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the probes have started: the scratch folder holds the
	// generated storage and seed catalogs by then.
	for i := 0; ; i++ {
		ents, _ := os.ReadDir(dir)
		if len(ents) == 1 {
			if inner, _ := os.ReadDir(filepath.Join(dir, ents[0].Name())); len(inner) >= 5 {
				break
			}
		}
		if i > 2000 {
			cmd.Process.Kill()
			t.Fatal("the scratch folder did not fill within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Fatalf("exit %d (%v), want %d: %s", code, err, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stderr.String(), "selftest: interrupted; the scratch folder") {
		t.Errorf("stderr: %s", stderr.String())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%s holds %d entries after the interrupted run", dir, len(ents))
	}
}
