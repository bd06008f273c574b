package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/aptos"
)

// metaLine is one serde_json line of m.
func metaLine(m aptos.Metadata) string { return string(aptos.EncodeLine(&m)) }

func txnLine(first, last uint64) string {
	return metaLine(aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: first, LastVersion: last,
		Manifest: fmt.Sprintf("transaction_%d-.m/transaction.manifest", first)}))
}

func snapLine(epoch, version uint64) string {
	return metaLine(aptos.NewStateSnapshot(aptos.StateSnapshotBackup{Epoch: epoch, Version: version,
		Manifest: fmt.Sprintf("state_epoch_%d_ver_%d.m/state.manifest", epoch, version)}))
}

// TestPlanCLI runs plan through the binary on storages that show each
// outcome: the exit code, the stderr text and the --json facts.
func TestPlanCLI(t *testing.T) {
	t.Parallel()
	genesis := writeStorage(t, map[string]string{
		"metadata/state_epoch_0_ver_0.meta": snapLine(0, 0),
		"metadata/transaction_0-0.meta":     txnLine(0, 0),
		"metadata/transaction_1-100.meta":   txnLine(1, 100),
	})
	noSnapshot := writeStorage(t, map[string]string{
		"metadata/state_epoch_2_ver_200.meta": snapLine(2, 200),
		"metadata/transaction_0-299.meta":     txnLine(0, 299),
	})
	two := writeStorage(t, map[string]string{
		"metadata/state_epoch_1_ver_100.meta": snapLine(1, 100),
		"metadata/state_epoch_2_ver_200.meta": snapLine(2, 200),
		"metadata/transaction_0-99.meta":      txnLine(0, 99),
		"metadata/transaction_100-199.meta":   txnLine(100, 199),
		"metadata/transaction_200-299.meta":   txnLine(200, 299),
	})
	holes := writeStorage(t, map[string]string{
		"metadata/state_epoch_0_ver_0.meta":        snapLine(0, 0),
		"metadata/transaction_0-99.meta":           txnLine(0, 99),
		"metadata/transaction_200-299.meta":        txnLine(200, 299),
		"metadata_backup/transaction_100-199.meta": txnLine(100, 199),
		"metadata_backup/transaction_300-399.meta": txnLine(300, 399),
		"metadata_backup/state_epoch_0_ver_0.meta": snapLine(0, 0),
	})
	rows := []struct {
		name    string
		storage string
		args    []string
		code    int
		stdout  []string // substrings of stdout (text) in order
		stderr  string   // substring of stderr, "" for empty stderr
		json    string   // substring of the --json document
	}{
		{"genesis snapshot reads transaction_0-0", genesis, []string{"--target-version", "50"}, 0,
			[]string{"restore to version 50", "tree snapshot: epoch 0 version 0", "transaction backups from version 0: 2", "  0-0 ", "  1-100 ", "replay from version 1"}, "", `"ok": true`},
		{"no snapshot at or below the target", noSnapshot, []string{"--target-version", "50"}, 3,
			nil, "metactl: plan: Aptos's restore would refuse: no state snapshot at or below target version 50: Cannot find tree snapshot before target version", `"plan": null`},
		{"target beyond coverage: capped with a warning", genesis, []string{"--target-version", "500"}, 0,
			[]string{"restore to version 100"}, "metactl: warning: target version 500 is beyond the latest backed-up transaction version 100: the restore stops at 100, as Aptos's does", `"capped": true`},
		{"--strict turns the cap into exit 3", genesis, []string{"--target-version", "500", "--strict"}, 3,
			[]string{"restore to version 100"}, "the restore stops at 100, as Aptos's does (--strict)\n", `"ok": false`},
		{"a hole at the end of the range names the moved file", holes, []string{"--target-version", "150"}, 3,
			[]string{"transaction backups from version 0: 1", "MISSING versions 100-150 are not covered by any live file; moved file(s) that would cover them: metadata_backup/transaction_100-199.meta"},
			"metactl: plan: a restore to version 150 would stop short", `"moved_files": [
        "metadata_backup/transaction_100-199.meta"`},
		{"a hole inside the range: Aptos's error, the range, the moved file", holes, nil, 3,
			nil, "Transaction backup ranges not continuous, expecting version 100, got 200.; versions 100-199 are not covered by any live file; moved file(s) that would cover them: metadata_backup/transaction_100-199.meta", `"first": 100`},
		{"--ledger-history-start-version 0 without a snapshot at 0", noSnapshot, []string{"--ledger-history-start-version", "0"}, 0,
			[]string{"kv snapshot: none", "tree snapshot: epoch 2 version 200", "transaction backups from version 0: 1", "replay state values from version 0 to 200, then everything from version 201"}, "", `"kv_replay_from_version": 0`},
		{"--ledger-history-start-version between snapshots", two, []string{"--ledger-history-start-version", "150"}, 0,
			[]string{"kv snapshot: epoch 1 version 100", "(restored first, values only)", "tree snapshot: epoch 2 version 200",
				"transaction backups from version 100: 2", "  100-199 ", "  200-299 ", "replay state values from version 101 to 200, then everything from version 201"}, "", `"restore_kv_snapshot": true`},
		{"--replay-all", two, []string{"--replay-all", "--ledger-history-start-version", "150"}, 0,
			[]string{"kv snapshot: epoch 1 version 100", "(not restored: --replay-all)", "transaction backups from version 100: 2", "replay from version 201"}, "", `"replay_all": true`},
		{"bad version", genesis, []string{"--target-version=abc"}, 2, nil, `want a version (0 to 18446744073709551615), got "abc"`, ""},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			cat := filepath.Join(t.TempDir(), "c.db")
			must(t, cat, nil, "import", "--local-fs-dir", r.storage)
			res := metactl(t, cat, nil, append([]string{"plan"}, r.args...)...)
			if res.code != r.code {
				t.Fatalf("want exit %d, got %s", r.code, res)
			}
			rest := res.stdout
			for _, s := range r.stdout {
				i := strings.Index(rest, s)
				if i < 0 {
					t.Fatalf("stdout lacks %q (in order): %s", s, res)
				}
				rest = rest[i+len(s):]
			}
			if (r.stderr == "") != (res.stderr == "") || !strings.Contains(res.stderr, r.stderr) {
				t.Fatalf("stderr: want %q, got %s", r.stderr, res)
			}
			if r.json == "" {
				return
			}
			js := metactl(t, cat, nil, append([]string{"plan", "--json"}, r.args...)...)
			if js.code != r.code || !strings.Contains(js.stdout, r.json) {
				t.Fatalf("--json: want exit %d and %q, got %s", r.code, r.json, js)
			}
			var doc api.Plan
			if err := json.Unmarshal([]byte(js.stdout), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.OK != (r.code == 0) || (doc.Error == nil) != doc.OK {
				t.Errorf("--json ok=%v error=%v for exit %d", doc.OK, doc.Error, r.code)
			}
			if js.stderr != res.stderr {
				t.Errorf("--json stderr differs from text stderr:\n%s\n%s", js.stderr, res.stderr)
			}
		})
	}
	// The --json document of a plan that stops short, pinned.
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", holes)
	r := metactl(t, cat, nil, "plan", "--json", "--target-version", "150")
	if r.code != 3 {
		t.Fatalf("want exit 3, got %s", r)
	}
	golden(t, "json-plan-missing.json", r.stdout)
}
