package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// coordinatorScript plays Aptos's backup coordinator: it keeps adding
// transaction backups, transaction_<n>-<m>.meta with one valid line each,
// contiguous from version 0, until $STOP exists, and logs each name once
// it is in place. Each file is written beside the storage and renamed in,
// so a reader never sees half a file (the race of a half-written file is
// the importer's to report, not this test's).
const coordinatorScript = `set -o nounset -o errexit -o pipefail
i=0
while [ ! -e "$STOP" ]; do
  n=$((i * 1000)); m=$((n + 999))
  f="transaction_${n}-${m}.meta"
  printf '{"TransactionBackup":{"first_version":%d,"last_version":%d,"manifest":"transaction_%d-.0001/transaction.manifest"}}\n' "$n" "$m" "$n" > "$SCRATCH/$f"
  mv "$SCRATCH/$f" "$STORAGE/metadata/$f"
  echo "$f" >> "$LOG"
  i=$((i + 1))
  sleep 0.01
done
`

// TestBackupCoordinatorNeverLosesFiles is issue 8's live-storage test: a
// second process keeps adding new metadata files to a LocalFs storage
// while export --prune and the drop-in compaction run in a loop against
// it. Every command must succeed, no export may remove a file, and at the
// end every file the coordinator wrote must still be in the storage
// (in metadata/, or in metadata_backup/ once compaction moved it), byte
// for byte. METACTL_SOAK sets the duration (default 6s).
func TestBackupCoordinatorNeverLosesFiles(t *testing.T) {
	// Not parallel: it counts what a soak of a few seconds did.
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not found")
	}
	d := soakDuration(t, 6*time.Second, 2*time.Second)
	work := t.TempDir()
	s, scratch := filepath.Join(work, "storage"), filepath.Join(work, "scratch")
	for _, p := range []string{filepath.Join(s, "metadata"), scratch} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stop, logPath := filepath.Join(work, "STOP"), filepath.Join(work, "coordinator.log")
	cat := filepath.Join(work, "c.db")

	coord := exec.Command("bash", "-c", coordinatorScript)
	coord.Env = append(os.Environ(), "STOP="+stop, "SCRATCH="+scratch, "STORAGE="+s, "LOG="+logPath)
	var coordErr strings.Builder
	coord.Stderr = &coordErr
	if err := coord.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stopCoordinator := func() {
		if stopped {
			return
		}
		stopped = true
		os.WriteFile(stop, nil, 0o644)
		if err := coord.Wait(); err != nil {
			t.Errorf("coordinator: %v: %s", err, coordErr.String())
		}
	}
	defer stopCoordinator()

	// Wait for the first file, so the first drop-in has something to do.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ents, _ := os.ReadDir(filepath.Join(s, "metadata")); len(ents) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the coordinator wrote nothing")
		}
	}

	var exports, compactions, kept int
	now := int64(1700000000)
	// At least 2 rounds however slow the machine is: the second is the
	// first to meet files the coordinator added while the first ran.
	for end := time.Now().Add(d); time.Now().Before(end) || compactions < 2; {
		// The drop-in: sync, compact (factor 10, files expire after 1s
		// of injected clock), publish.
		now += 2
		env := []string{"METACTL_NOW=" + strconv.FormatInt(now, 10)}
		must(t, cat, env, "compact", "--local-fs-dir", s, "--transaction-file-compact-factor", "10",
			"--epoch-ending-file-compact-factor", "10", "--state-snapshot-file-compact-factor", "10",
			"--remove-compacted-file-after", "1")
		compactions++
		r := must(t, cat, env, "export", "--local-fs-dir", s, "--prune", "--json")
		var res struct {
			Removed []string
			Kept    []struct{ Path, Reason string }
		}
		decodeJSON(t, r.stdout, &res)
		if len(res.Removed) != 0 {
			t.Fatalf("export --prune removed %v", res.Removed)
		}
		for _, k := range res.Kept {
			if k.Reason != "new" {
				t.Errorf("export kept %s as %q, want every unknown file to be a new backup", k.Path, k.Reason)
			}
		}
		kept += len(res.Kept)
		exports++
	}
	stopCoordinator()

	// Every file the coordinator wrote is still there, whole.
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	written, lost, live, moved := 0, 0, 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := sc.Text()
		written++
		n, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(name, "-", 2)[0], "transaction_"))
		want := `{"TransactionBackup":{"first_version":` + strconv.Itoa(n) + `,"last_version":` + strconv.Itoa(n+999) +
			`,"manifest":"transaction_` + strconv.Itoa(n) + `-.0001/transaction.manifest"}}` + "\n"
		b, err := os.ReadFile(filepath.Join(s, "metadata", name))
		if err == nil {
			live++
		} else if b, err = os.ReadFile(filepath.Join(s, "metadata_backup", name)); err == nil {
			moved++
		}
		if err != nil || string(b) != want {
			lost++
			t.Errorf("coordinator file %s lost or changed: %q, %v", name, b, err)
		}
	}
	if written == 0 || compactions < 2 {
		t.Fatalf("the coordinator wrote %d files over %d compactions: nothing was tested", written, compactions)
	}
	// A last drop-in imports what is left; the catalog then knows them all.
	must(t, cat, []string{"METACTL_NOW=" + strconv.FormatInt(now+2, 10)}, "compact", "--local-fs-dir", s,
		"--transaction-file-compact-factor", "10", "--remove-compacted-file-after", "1")
	if r := metactl(t, cat, nil, "verify"); r.code != 0 {
		t.Errorf("verify after the soak: %s", r)
	}
	t.Logf("%v: coordinator wrote %d files; %d drop-in compactions and %d exports --prune ran; exports reported %d new files (kept); at the end %d in metadata/, %d moved to metadata_backup/, %d lost",
		d, written, compactions, exports, kept, live, moved, lost)
}
