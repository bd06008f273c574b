package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// crashRounds is how often each failpoint is hit: 20 in CI, once with
// -short (a failpoint kills at the same step every time; the rounds only
// vary the timing around it), any number with METACTL_CRASH_ROUNDS.
func crashRounds(t *testing.T) int {
	if s := os.Getenv("METACTL_CRASH_ROUNDS"); s != "" {
		var n int
		fmt.Sscan(s, &n)
		return n
	}
	if testing.Short() {
		return 1
	}
	return 20
}

type catalogState struct {
	Generation uint64 `json:"generation"`
	ViewDigest string `json:"view_digest"`
}

func stateOf(t *testing.T, cat string) catalogState {
	t.Helper()
	var s catalogState
	if err := json.Unmarshal([]byte(must(t, cat, nil, "status", "--json").stdout), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCrashAtEveryFailpoint kills import, compaction and undo at every named
// step, before and after commit, many times each. After every kill the
// catalog must open, pass bbolt's check and metactl verify (index, digest
// and journal agree with the files), and be exactly the before-state or
// the after-state of the interrupted operation.
func TestCrashAtEveryFailpoint(t *testing.T) {
	t.Parallel()
	fileBackendOnly(t, "copies catalog files; etcd's crash test is TestEtcdCrashAtEveryFailpoint")
	rounds := crashRounds(t)
	base := t.TempDir()
	storage := filepath.Join(base, "storage")
	for e := uint64(0); e < 6; e++ {
		addEpoch(t, storage, e)
	}
	seed := filepath.Join(base, "seed.db")
	must(t, seed, []string{"METACTL_NOW=1700000000"}, "import", "--local-fs-dir", storage)
	must(t, seed, []string{"METACTL_NOW=1700000000"}, "compact", "--epoch-ending-file-compact-factor", "2")
	for e := uint64(6); e < 9; e++ {
		addEpoch(t, storage, e)
	}
	now := []string{"METACTL_NOW=1700100000"}
	ops := []struct {
		name   string
		args   []string
		points []string
	}{
		{"import", []string{"import", "--local-fs-dir", storage},
			[]string{"import.after-read", "import.after-validate", "import.after-put", "import.before-commit", "import.after-commit"}},
		{"compact", []string{"compact", "--epoch-ending-file-compact-factor", "3", "--transaction-file-compact-factor", "2",
			"--state-snapshot-file-compact-factor", "2", "--remove-compacted-file-after", "60"},
			[]string{"compact.after-plan", "compact.after-write", "compact.after-move", "compact.after-timestamps",
				"compact.before-commit", "compact.after-commit"}},
		// The seed's generation 2 is its compaction: undo it.
		{"undo", []string{"undo", "2"},
			[]string{"undo.after-check", "undo.after-restore", "undo.before-commit", "undo.after-commit"}},
	}
	kills := 0
	for _, op := range ops {
		// The before- and after-states, from an uninterrupted run on a copy.
		before := filepath.Join(base, op.name+"-before.db")
		copyFile(t, seed, before)
		if op.name == "compact" {
			must(t, before, now, "import", "--local-fs-dir", storage)
		}
		ref := filepath.Join(base, op.name+"-after.db")
		copyFile(t, before, ref)
		must(t, ref, now, op.args...)
		beforeState, afterState := stateOf(t, before), stateOf(t, ref)
		afterKey := afterState.ViewDigest + fmt.Sprint(afterState.Generation)
		want := map[string]bool{beforeState.ViewDigest + fmt.Sprint(beforeState.Generation): true, afterKey: true}

		for _, point := range op.points {
			seen := map[string]int{}
			for i := 0; i < rounds; i++ {
				cat := filepath.Join(base, "victim.db")
				copyFile(t, before, cat)
				os.Remove(cat + ".lock")
				cmd := exec.Command(binary, op.args...)
				cmd.Env = append(os.Environ(), "METACTL_CATALOG="+catalogLocation(cat), "METACTL_FAILPOINT="+point, now[0])
				out, err := cmd.CombinedOutput()
				ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
				if err == nil || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Fatalf("%s at %s: not killed (err %v): %s", op.name, point, err, out)
				}
				kills++
				v := metactl(t, cat, nil, "verify")
				if v.code != 0 {
					t.Fatalf("%s at %s: verify after the kill: %s", op.name, point, v)
				}
				s := stateOf(t, cat)
				key := s.ViewDigest + fmt.Sprint(s.Generation)
				if !want[key] {
					t.Fatalf("%s at %s: catalog is at generation %d digest %s, neither the before- nor the after-state", op.name, point, s.Generation, s.ViewDigest)
				}
				if key == afterKey {
					seen["after"]++
				} else {
					seen["before"]++
				}
				// The journal's newest record agrees with the state.
				var journal []struct {
					Generation  uint64 `json:"generation"`
					DigestAfter string `json:"digest_after"`
				}
				unmarshalLog(must(t, cat, nil, "log", "-n", "1", "--json").stdout, &journal)
				if len(journal) != 1 || journal[0].Generation != s.Generation || journal[0].DigestAfter != s.ViewDigest {
					t.Fatalf("%s at %s: journal %+v disagrees with state %+v", op.name, point, journal, s)
				}
			}
			wantSide := "before"
			if strings.HasSuffix(point, "after-commit") {
				wantSide = "after"
			}
			if seen[wantSide] != rounds {
				t.Errorf("%s at %s: states seen %v, want all %s", op.name, point, seen, wantSide)
			}
			t.Logf("%s: %d kills, states %v", point, rounds, seen)
		}
	}
	points := 0
	for _, op := range ops {
		points += len(op.points)
	}
	fmt.Printf("crash: %d kills at %d failpoints, every catalog verified\n", kills, points)
}
