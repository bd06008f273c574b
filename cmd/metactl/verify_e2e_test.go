package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyCLI: every problem at once with its code and files, exit 4;
// warnings alone exit 0; the --json document with problems is pinned.
func TestVerifyCLI(t *testing.T) {
	t.Parallel()
	bad := writeStorage(t, map[string]string{
		"metadata/state_epoch_0_ver_0.meta":           snapLine(0, 0),
		"metadata/transaction_0-99.meta":              txnLine(0, 99),
		"metadata/transaction_200-299.meta":           txnLine(200, 299),
		"metadata/transaction_200-299.retry.meta":     strings.Replace(txnLine(200, 299), "transaction_200-.m", "transaction_200-.retry", 1),
		"metadata_backup/transaction_100-199.meta":    txnLine(100, 199),
		"metadata/state_epoch_0_ver_0.duplicate.meta": snapLine(0, 0),
	})
	cat := filepath.Join(t.TempDir(), "c.db")
	env := []string{"METACTL_NOW=1700000000"}
	must(t, cat, env, "import", "--local-fs-dir", bad)
	r := metactl(t, cat, env, "verify")
	if r.code != 4 {
		t.Fatalf("want exit 4, got %s", r)
	}
	for _, s := range []string{
		"FAIL txn-manifest-conflict: transaction versions 200-299 are backed up 2 times",
		"     at metadata/transaction_200-299.meta:1\n        metadata/transaction_200-299.retry.meta:1\n",
		"FAIL txn-moved-only: versions 100-199 are in no live transaction backup",
		"     at metadata_backup/transaction_100-199.meta:1\n",
		"warn no-identity: ",
		": 2 problems, 1 warning\n",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q: %s", s, r)
		}
	}
	if r.stderr != "metactl: warning: no-identity: no identity.meta: the catalog has never seen this storage's identity\nmetactl: verify found problems\n" {
		t.Errorf("stderr: %q", r.stderr)
	}
	js := metactl(t, cat, env, "verify", "--json")
	if js.code != 4 {
		t.Fatalf("--json: want exit 4, got %s", js)
	}
	golden(t, "json-verify-problems.json", strings.ReplaceAll(js.stdout, cat, "$CATALOG"))

	// Warnings do not change the exit code.
	ok := writeStorage(t, map[string]string{
		"metadata/state_epoch_0_ver_0.meta": snapLine(0, 0),
		"metadata/transaction_0-99.meta":    txnLine(0, 99),
	})
	cat2 := filepath.Join(t.TempDir(), "c.db")
	must(t, cat2, env, "import", "--local-fs-dir", ok)
	if r := metactl(t, cat2, env, "verify"); r.code != 0 || !strings.Contains(r.stdout, "0 problems, 1 warning") || !strings.Contains(r.stderr, "warning: no-identity") {
		t.Errorf("warnings only: want exit 0, got %s", r)
	}
}
