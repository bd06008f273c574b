package compaction_test

import (
	"bytes"
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
// that test skips. childBulkEnv, set to 1, makes its run a bulk one
// (Options.BulkEntries 1: on a scratch copy, with a checkpoint after
// every file).
const (
	childCatalogEnv = "METACTL_COMPACTION_TEST_CATALOG"
	childBulkEnv    = "METACTL_COMPACTION_TEST_BULK"
)

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
	o := failpointRun.opts
	checkpoint := 0
	if os.Getenv(childBulkEnv) == "1" {
		o.BulkEntries, checkpoint = 1, 1
	}
	db, err := catalog.Open(t.Context(), path, &catalog.Options{Timeout: 10 * time.Second,
		Now: func() time.Time { return time.Unix(failpointRun.at, 0) }, CheckpointBytes: checkpoint})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := compaction.Run(t.Context(), db, o); err != nil {
		t.Fatal(err)
	}
}

// TestFailpoints kills a compaction (SIGKILL, in a child process) at each
// of its failpoints and checks that the catalog then opens, passes bbolt's
// check and the index check, and is exactly the before-state, or, for a
// kill after the commit, exactly the after-state. It does so for a run in
// one transaction and for a bulk run (on a scratch copy with
// checkpoints, published by a rename), which has one more failpoint,
// compact.before-publish, and whose scratch file a kill leaves behind
// until the next writable open removes it.
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
		bulkOnly  bool
	}{
		{compaction.FailpointAfterPlan, false, false},
		{compaction.FailpointAfterWrite, false, false},
		{compaction.FailpointAfterMove, false, false},
		{compaction.FailpointAfterTimestamps, false, false},
		{string(catalog.KindCompact) + ".before-commit", false, false},
		{string(catalog.KindCompact) + ".before-publish", false, true},
		{string(catalog.KindCompact) + ".after-commit", true, false},
	}
	for _, bulk := range []bool{false, true} {
		for _, pt := range points {
			if pt.bulkOnly && !bulk {
				continue
			}
			name := pt.name
			if bulk {
				name = "bulk/" + name
			}
			t.Run(name, func(t *testing.T) { failpointKill(t, baseBytes, pt.name, bulk, pt.committed, before, after) })
		}
	}
}

// failpointKill runs TestFailpointChild on a copy of baseBytes, killed at
// point, and checks the catalog is then want (after if committed, else
// before).
func failpointKill(t *testing.T, baseBytes []byte, point string, bulk, committed bool, before, after state) {
	t.Helper()
	tc := copyCatalog(t, baseBytes, failpointRun.at)
	tc.db.Close()
	tc.db = nil // the child holds the catalog now
	cmd := exec.Command(os.Args[0], "-test.run=^TestFailpointChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childCatalogEnv+"="+tc.path, failpoint.EnvVar+"="+point)
	if bulk {
		cmd.Env = append(cmd.Env, childBulkEnv+"=1")
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child was not killed (err %v):\n%s", err, out)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not SIGKILL:\n%s", err, out)
	}
	if left, _ := filepath.Glob(tc.path + ".build-*"); bulk && !committed && len(left) != 1 {
		t.Fatalf("a bulk run killed at %s left scratch files %q, want one", point, left)
	}
	tc.open(t)
	want := before
	if committed {
		want = after
	}
	if got := tc.state(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("catalog after a kill at %s:\n got  %+v\n want %+v", point, got, want)
	}
	// The writable open removed what the killed run left.
	if left, _ := filepath.Glob(tc.path + ".build-*"); len(left) > 0 {
		t.Fatalf("after a kill at %s and a reopen, scratch files remain: %q", point, left)
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

// TestBulkRunSeenFromAnotherProcess: while a bulk run in a child process
// holds the catalog (stalled 1 s at compact.before-publish, its scratch
// file complete), this process can neither open the catalog (busy) nor
// find any byte of the catalog file changed; once the child is done, it
// reads exactly the after-state of the same run in one transaction.
func TestBulkRunSeenFromAnotherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	base := newCatalog(t, t0)
	base.put(t, catalog.Live, aptosTestFiles()...)
	base.run(t, failpointRun.opts)
	base.put(t, catalog.Live, single(txn(30, 44)))
	baseBytes := base.bytes(t)
	ref := copyCatalog(t, baseBytes, failpointRun.at)
	ref.run(t, failpointRun.opts)
	after := ref.state(t)

	tc := copyCatalog(t, baseBytes, failpointRun.at)
	tc.db.Close()
	tc.db = nil
	cmd := exec.Command(os.Args[0], "-test.run=^TestFailpointChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childCatalogEnv+"="+tc.path, childBulkEnv+"=1",
		failpoint.EnvVar+"="+string(catalog.KindCompact)+".before-publish=sleep:1s")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	midRun, busy := 0, 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out.String())
			}
			running = false
			continue
		case <-time.After(20 * time.Millisecond):
		}
		scratch, _ := filepath.Glob(tc.path + ".build-*")
		raw, err := os.ReadFile(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if len(scratch) == 0 || !bytes.Equal(raw, baseBytes) {
			continue // not started yet, or published (the child then exits)
		}
		midRun++
		db, err := catalog.Open(t.Context(), tc.path, &catalog.Options{ReadOnly: true, Timeout: -1})
		var be *catalog.BusyError
		if errors.As(err, &be) {
			busy++
		} else if err == nil {
			db.Close()
			t.Fatal("a reader opened the catalog while the bulk run held it")
		}
	}
	if midRun == 0 || busy == 0 {
		t.Fatalf("never observed the run in progress (%d samples with a scratch file, %d busy opens)", midRun, busy)
	}
	t.Logf("%d samples during the run, %d busy opens", midRun, busy)
	tc.open(t)
	if got := tc.state(t); !reflect.DeepEqual(got, after) {
		t.Fatalf("after the bulk run:\n got  %+v\n want %+v", got, after)
	}
}
