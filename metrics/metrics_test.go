package metrics_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/metrics"
)

func txns(ranges ...[2]uint64) []aptos.TransactionBackup {
	var out []aptos.TransactionBackup
	for _, r := range ranges {
		out = append(out, aptos.TransactionBackup{FirstVersion: r[0], LastVersion: r[1], Manifest: "t/m"})
	}
	return out
}

func TestFrontier(t *testing.T) {
	snap := func(vs ...uint64) []aptos.StateSnapshotBackup {
		var out []aptos.StateSnapshotBackup
		for i, v := range vs {
			out = append(out, aptos.StateSnapshotBackup{Epoch: uint64(i), Version: v, Manifest: "s/m"})
		}
		return out
	}
	epochs := []aptos.EpochEndingBackup{{FirstEpoch: 0, LastEpoch: 0, FirstVersion: 0, LastVersion: 49}, {FirstEpoch: 1, LastEpoch: 1, FirstVersion: 50, LastVersion: 99}}
	for _, c := range []struct {
		name string
		view aptos.View
		want uint64
		ok   bool
	}{
		{"empty", aptos.View{}, 0, false},
		{"no snapshot", aptos.View{Transactions: txns([2]uint64{0, 99})}, 0, false},
		{"continuous", aptos.View{Transactions: txns([2]uint64{0, 99}, [2]uint64{100, 199}), StateSnapshots: snap(50)}, 199, true},
		{"gap stops it", aptos.View{Transactions: txns([2]uint64{0, 99}, [2]uint64{150, 199}), StateSnapshots: snap(50)}, 99, true},
		{"snapshot only beyond the gap", aptos.View{Transactions: txns([2]uint64{0, 99}, [2]uint64{150, 199}), StateSnapshots: snap(160)}, 0, false},
		{"not from version 0", aptos.View{Transactions: txns([2]uint64{1, 99}), StateSnapshots: snap(50)}, 0, false},
		{"epochs continuous", aptos.View{Transactions: txns([2]uint64{0, 199}), StateSnapshots: snap(10), EpochEndings: epochs}, 199, true},
		{"epoch gap", aptos.View{Transactions: txns([2]uint64{0, 199}), StateSnapshots: snap(10),
			EpochEndings: []aptos.EpochEndingBackup{epochs[0], {FirstEpoch: 2, LastEpoch: 2, FirstVersion: 120, LastVersion: 150}}}, 119, true},
	} {
		got, ok := metrics.Frontier(&c.view)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: Frontier = %d, %v; want %d, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestWriteTextfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metactl.prom")
	v := uint64(58000000)
	facts := &metrics.Facts{Generation: 7, LiveFiles: 5, MovedFiles: 96, Entries: 95, State: aptos.StorageState{LatestTransactionVersion: &v},
		Frontier: 58000000, Restorable: true, LastOperation: map[string]time.Time{"compact": time.Unix(1700000000, 0)}}
	err := metrics.WriteTextfile(path, metrics.Source{
		Facts:  func() (*metrics.Facts, error) { return facts, nil },
		Verify: func() *metrics.Verify { return &metrics.Verify{Problems: 2, At: time.Unix(1700000100, 0)} },
		Run: func() *metrics.Run {
			return &metrics.Run{Command: "compact", Start: time.Unix(1700000000, 0), Duration: 1500 * time.Millisecond}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"metactl_catalog_generation 7\n", `metactl_files{state="live"} 5` + "\n", `metactl_files{state="moved"} 96` + "\n",
		"metactl_view_entries 95\n", "metactl_storage_latest_transaction_version 5.8e+07\n", "metactl_restorable 1\n",
		"metactl_restorable_frontier_version 5.8e+07\n", `metactl_last_operation_timestamp_seconds{kind="compact"} 1.7e+09` + "\n",
		"metactl_verify_problems 2\n", `metactl_run_duration_seconds{command="compact"} 1.5` + "\n", `metactl_run_exit_code{command="compact"} 0` + "\n",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("textfile lacks %q:\n%s", want, b)
		}
	}
	// A field that is "none" is left out, not reported as 0.
	if strings.Contains(string(b), "metactl_storage_latest_state_snapshot_version") {
		t.Errorf("absent state snapshot exported:\n%s", b)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("textfile folder holds %d entries, want only the file (no temporary left)", len(ents))
	}
}
