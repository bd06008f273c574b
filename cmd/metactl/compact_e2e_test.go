package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// aptosTestStorage is the storage of Aptos's test_backup_compaction
// (docs/aptos-format.md §10 item 1): epoch endings [0,1) and [1,2), state
// snapshots at epochs 1 and 2, transactions 0-14 and 15-29.
func aptosTestStorage(t *testing.T) string {
	return writeStorage(t, map[string]string{
		"metadata/epoch_ending_0-0.meta":      `{"EpochEndingBackup":{"first_epoch":0,"last_epoch":0,"first_version":0,"last_version":0,"manifest":"epoch_ending_0-.a1b2/epoch_ending.manifest"}}` + "\n",
		"metadata/epoch_ending_1-1.meta":      `{"EpochEndingBackup":{"first_epoch":1,"last_epoch":1,"first_version":14,"last_version":14,"manifest":"epoch_ending_1-.0c3d/epoch_ending.manifest"}}` + "\n",
		"metadata/state_snapshot_ver_14.meta": `{"StateSnapshotBackup":{"epoch":1,"version":14,"manifest":"state_epoch_1_ver_14.00ff/state.manifest"}}` + "\n",
		"metadata/state_snapshot_ver_29.meta": `{"StateSnapshotBackup":{"epoch":2,"version":29,"manifest":"state_epoch_2_ver_29.1234/state.manifest"}}` + "\n",
		"metadata/transaction_0-14.meta":      `{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"transaction_0-.3c4d/transaction.manifest"}}` + "\n",
		"metadata/transaction_15-29.meta":     `{"TransactionBackup":{"first_version":15,"last_version":29,"manifest":"transaction_15-.beef/transaction.manifest"}}` + "\n",
	})
}

// TestAptosBackupCompactionScenario replays Aptos's test_backup_compaction
// through the binary, as a drop-in for backup-maintenance compact on a
// LocalFs folder: factors 2, grace 1 s, two runs 2 s apart.
func TestAptosBackupCompactionScenario(t *testing.T) {
	t.Parallel()
	dir := aptosTestStorage(t)
	cat := filepath.Join(t.TempDir(), "c.db")
	og := listDir(t, filepath.Join(dir, "metadata"))
	compact := []string{"compact", "--local-fs-dir", dir, "--epoch-ending-file-compact-factor", "2",
		"--state-snapshot-file-compact-factor", "2", "--transaction-file-compact-factor", "2", "--remove-compacted-file-after", "1"}
	const t1 = "1700000000"
	must(t, cat, []string{"METACTL_NOW=" + t1}, compact...)
	stateA := must(t, cat, nil, "status").stdout
	planA := must(t, cat, nil, "plan", "--json").stdout

	first := listDir(t, filepath.Join(dir, "metadata"))
	for _, h := range og {
		if !slices.Contains(first, h) {
			t.Errorf("after run 1, original %s is gone from metadata/: %v", h, first)
		}
	}
	for _, h := range []string{"epoch_ending_compacted_0-1.meta", "transaction_compacted_0-29.meta",
		"state_snapshot_compacted_epoch_1_2.meta", "compaction_timestamps_" + t1 + ".meta"} {
		if !slices.Contains(first, h) {
			t.Errorf("after run 1, %s missing from metadata/: %v", h, first)
		}
	}

	const t2 = "1700000002"
	must(t, cat, []string{"METACTL_NOW=" + t2}, compact...)
	final := listDir(t, filepath.Join(dir, "metadata"))
	want := []string{"compaction_timestamps_" + t1 + ".meta", "compaction_timestamps_" + t2 + ".meta",
		"epoch_ending_compacted_0-1.meta", "state_snapshot_compacted_epoch_1_2.meta", "transaction_compacted_0-29.meta"}
	if !slices.Equal(final, want) {
		t.Errorf("final metadata/ = %v\nwant %v", final, want)
	}
	if moved := listDir(t, filepath.Join(dir, "metadata_backup")); !slices.Equal(moved, og) {
		t.Errorf("metadata_backup/ = %v, want the 6 originals %v", moved, og)
	}
	if s := must(t, cat, nil, "status").stdout; s != stateA {
		t.Errorf("view changed: %q -> %q", stateA, s)
	}
	if p := must(t, cat, nil, "plan", "--json").stdout; !sameIgnoringGeneration(p, planA) {
		t.Errorf("restore selection changed:\n%s\n%s", planA, p)
	}
	// The exported compacted file holds Aptos's lines, in order.
	got, _ := os.ReadFile(filepath.Join(dir, "metadata", "transaction_compacted_0-29.meta"))
	wantTxn := `{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"transaction_0-.3c4d/transaction.manifest"}}` + "\n" +
		`{"TransactionBackup":{"first_version":15,"last_version":29,"manifest":"transaction_15-.beef/transaction.manifest"}}` + "\n"
	if string(got) != wantTxn {
		t.Errorf("transaction_compacted_0-29.meta = %q", got)
	}
	ts, _ := os.ReadFile(filepath.Join(dir, "metadata", "compaction_timestamps_"+t2+".meta"))
	if !strings.Contains(string(ts), `"metadata/compaction_timestamps_`+t1+`.meta":`+t2) {
		t.Errorf("second timestamps file does not timestamp the first: %s", ts)
	}
	// Compaction never changes the view digest: the journal says so.
	log := must(t, cat, nil, "log", "--json").stdout
	if !strings.Contains(log, `"kind": "compact"`) {
		t.Errorf("journal lacks the compactions: %s", log)
	}
	verify := must(t, cat, nil, "verify")
	if !strings.Contains(verify.stdout, "0 problems") {
		t.Errorf("verify: %s", verify)
	}
}

func sameIgnoringGeneration(a, b string) bool {
	strip := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.Contains(l, `"generation"`) {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	return strip(a) == strip(b)
}

// TestCompactContinuityErrorChangesNothing: a gap inside one chunk exits 3
// with Aptos's message, and the catalog file is byte-for-byte unchanged.
func TestCompactContinuityErrorChangesNothing(t *testing.T) {
	t.Parallel()
	dir := writeStorage(t, map[string]string{
		"metadata/epoch_ending_0-0.meta": `{"EpochEndingBackup":{"first_epoch":0,"last_epoch":0,"first_version":0,"last_version":0,"manifest":"e0/m"}}` + "\n",
		"metadata/epoch_ending_2-2.meta": `{"EpochEndingBackup":{"first_epoch":2,"last_epoch":2,"first_version":5,"last_version":5,"manifest":"e2/m"}}` + "\n",
	})
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", dir)
	before := catalogBytes(t, cat)
	r := metactl(t, cat, nil, "compact", "--epoch-ending-file-compact-factor", "2")
	if r.code != 3 || !strings.Contains(r.stderr, "Epoch ending backup ranges is not continuous expecting epoch 1, got 2") {
		t.Fatalf("want exit 3 with Aptos's message: %s", r)
	}
	after := catalogBytes(t, cat)
	if string(before) != string(after) {
		t.Error("failed compaction changed the catalog")
	}
	// Across a chunk boundary (factor 1) compaction accepts it; verify does not.
	must(t, cat, nil, "compact")
	if r := metactl(t, cat, nil, "verify"); r.code != 4 || !strings.Contains(r.stdout, "Epoch ending backup ranges not continuous, expecting epoch 1, got 2.") {
		t.Errorf("verify: want exit 4 naming the gap: %s", r)
	}
}

func TestCompactDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", aptosTestStorage(t))
	before := catalogBytes(t, cat)
	r := must(t, cat, []string{"METACTL_NOW=1700000000"}, "compact", "--dry-run", "--transaction-file-compact-factor", "2", "--json")
	after := catalogBytes(t, cat)
	if string(before) != string(after) {
		t.Error("dry run changed the catalog file")
	}
	if !strings.Contains(r.stdout, `"metadata/transaction_compacted_0-29.meta"`) || !strings.Contains(r.stdout, `"dry_run": true`) {
		t.Errorf("dry-run plan: %s", r.stdout)
	}
}
