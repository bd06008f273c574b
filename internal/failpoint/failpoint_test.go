package failpoint

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestEnable(t *testing.T) {
	defer Enable("")
	if err := Enable("a, b@3 ,c=sleep:20ms"); err != nil {
		t.Fatal(err)
	}
	if !enabled || points["a"].remaining != 1 || points["b"].remaining != 3 || points["c"].sleep != 20*time.Millisecond {
		t.Fatalf("points = %+v", points)
	}
	start := time.Now()
	Hit("c")
	Hit("not-armed")
	if time.Since(start) < 20*time.Millisecond {
		t.Error("sleep point did not sleep")
	}
	if err := Enable(""); err != nil || enabled {
		t.Errorf("empty spec: err %v, enabled %v; want nil and disarmed", err, enabled)
	}
}

func TestEnableRefusesMalformed(t *testing.T) {
	defer Enable("")
	for _, tc := range []struct{ spec, want string }{
		{"a=sleep:soon", `failpoint "a=sleep:soon": the action must be sleep:DURATION, for example sleep:2s`},
		{"a=crash", `failpoint "a=crash": the action must be sleep:DURATION, for example sleep:2s`},
		{"a=sleep:-1s", `failpoint "a=sleep:-1s": the action must be sleep:DURATION, for example sleep:2s`},
		{"ok, b@0", `failpoint "b@0": the count after @ must be a positive integer`},
		{"b@x", `failpoint "b@x": the count after @ must be a positive integer`},
		{"@2", `failpoint "@2": no point name`},
	} {
		err := Enable(tc.spec)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Enable(%q) = %v, want %s", tc.spec, err, tc.want)
		}
	}
	if enabled {
		t.Error("a refused spec armed points")
	}
}

// TestNothingArmedFromEnvironment: the variable alone arms nothing; only
// Enable does. A program embedding our packages is never killed by it.
func TestNothingArmedFromEnvironment(t *testing.T) {
	if os.Getenv("FAILPOINT_CHILD") == "env-only" {
		Hit("p")
		os.Stdout.WriteString("survived\n")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNothingArmedFromEnvironment$")
	cmd.Env = append(os.Environ(), "FAILPOINT_CHILD=env-only", EnvVar+"=p")
	out, err := cmd.Output()
	if err != nil || string(out) != "survived\nPASS\n" {
		t.Fatalf("child: err=%v, output %q; want it to survive the unarmed point", err, out)
	}
}

// TestKill runs this test binary as a child that arms the point from the
// environment, as metactl's main does, hits it on its second pass and
// checks that SIGKILL ended it there.
func TestKill(t *testing.T) {
	if os.Getenv("FAILPOINT_CHILD") == "1" {
		if err := Enable(os.Getenv(EnvVar)); err != nil {
			panic(err)
		}
		Hit("p")
		os.Stdout.WriteString("after first\n")
		Hit("p")
		os.Stdout.WriteString("after second\n")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill$")
	cmd.Env = append(os.Environ(), "FAILPOINT_CHILD=1", EnvVar+"=p@2")
	out, err := cmd.Output()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err == nil || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child: err=%v status=%v, want SIGKILL", err, cmd.ProcessState)
	}
	if string(out) != "after first\n" {
		t.Fatalf("child printed %q, want only the first line", out)
	}
}
