package compaction_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/compaction"
	"github.com/metactl/metactl/internal/failpoint"
)

// childCatalogEnv names the catalog TestFailpointChild compacts; unset,
// that test skips.
const childCatalogEnv = "METACTL_COMPACTION_TEST_CATALOG"

// failpointRun is the run the child process makes (and the parent repeats
// in-process to learn the after-state): a second run, 2 s after the first,
// that writes a new compacted file, moves expired files and writes a new
// timestamps file, so every step changes something.
var failpointRun = struct {
	at   int64
	opts compaction.Options
}{t0 + 2, opts(2, 2, 2, time.Second)}

// TestFailpointChild is the child process of TestFailpoints: it compacts
// the catalog named by the environment, where METACTL_FAILPOINT kills it.
func TestFailpointChild(t *testing.T) {
	path := os.Getenv(childCatalogEnv)
	if path == "" {
		t.Skip("helper process of TestFailpoints")
	}
	if err := failpoint.Enable(os.Getenv(failpoint.EnvVar)); err != nil {
		t.Fatal(err)
	}
	db, err := catalog.Open(t.Context(), path, &catalog.Options{Timeout: 10 * time.Second,
		Now: func() time.Time { return time.Unix(failpointRun.at, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := compaction.Run(t.Context(), db, failpointRun.opts); err != nil {
		t.Fatal(err)
	}
}

// TestFailpoints kills a compaction (SIGKILL, in a child process) at each
// of its failpoints and checks that the catalog then opens, passes bbolt's
// check and the index check, and is exactly the before-state, or, for a
// kill after the commit, exactly the after-state.
func TestFailpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	// The before-state: the originals of test_backup_compaction, compacted
	// once at t0, plus a new transaction file.
	base := newCatalog(t, t0)
	base.put(t, catalog.Live, aptosTestFiles()...)
	base.run(t, failpointRun.opts)
	base.put(t, catalog.Live, single(txn(30, 44)))
	before := base.state(t)
	baseBytes := base.bytes(t)

	// The after-state, from the same run in-process on a copy.
	ref := copyCatalog(t, baseBytes, failpointRun.at)
	p, op := ref.run(t, failpointRun.opts)
	if len(p.Move) == 0 || op.Added.Count < 2 {
		t.Fatalf("the reference run must write and move: %+v", op)
	}
	after := ref.state(t)

	points := []struct {
		name      string
		committed bool
	}{
		{compaction.FailpointAfterPlan, false},
		{compaction.FailpointAfterWrite, false},
		{compaction.FailpointAfterMove, false},
		{compaction.FailpointAfterTimestamps, false},
		{compaction.OperationKind + ".before-commit", false},
		{compaction.OperationKind + ".after-commit", true},
	}
	for _, pt := range points {
		t.Run(pt.name, func(t *testing.T) {
			tc := copyCatalog(t, baseBytes, failpointRun.at)
			tc.db.Close()
			tc.db = nil // the child holds the catalog now
			cmd := exec.Command(os.Args[0], "-test.run=^TestFailpointChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), childCatalogEnv+"="+tc.path, failpoint.EnvVar+"="+pt.name)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("child was not killed (err %v):\n%s", err, out)
			}
			if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, not SIGKILL:\n%s", err, out)
			}
			tc.open(t)
			want := before
			if pt.committed {
				want = after
			}
			if got := tc.state(t); !reflect.DeepEqual(got, want) {
				t.Fatalf("catalog after a kill at %s:\n got  %+v\n want %+v", pt.name, got, want)
			}
		})
	}
}

// copyCatalog writes raw to a new catalog file and opens it with a clock
// at secs; cleanup checks and closes it.
func copyCatalog(t *testing.T, raw []byte, secs int64) *testCatalog {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.db")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return openTestCatalog(t, path, secs)
}
