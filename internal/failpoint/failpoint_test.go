package failpoint

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	defer parse("")
	parse("a, b@3 ,c=sleep:20ms")
	if !enabled || points["a"].remaining != 1 || points["b"].remaining != 3 || points["c"].sleep != 20*time.Millisecond {
		t.Fatalf("points = %+v", points)
	}
	start := time.Now()
	Hit("c")
	Hit("not-armed")
	if time.Since(start) < 20*time.Millisecond {
		t.Error("sleep point did not sleep")
	}
	parse("")
	if enabled {
		t.Error("empty spec enabled failpoints")
	}
}

// TestKill runs this test binary as a child that hits an armed point on
// its second pass and checks that SIGKILL ended it there.
func TestKill(t *testing.T) {
	if os.Getenv("FAILPOINT_CHILD") == "1" {
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
