package verify_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/verify"
)

// The entry builders of the shared fixtures, under short names for the
// tables below.
var (
	txn  = catalogtest.Transaction
	snap = catalogtest.StateSnapshot
	ep   = catalogtest.EpochEnding
)

func identity(b byte) aptos.Metadata {
	var id aptos.HashValue
	id[0] = b
	return aptos.NewIdentity(id)
}

// at places entries in one file, line after line.
func at(handle string, entries ...aptos.Metadata) []aptos.Located {
	out := make([]aptos.Located, len(entries))
	for i, m := range entries {
		out[i] = aptos.Located{Handle: handle, Line: i + 1, Entry: m}
	}
	return out
}

func cat(parts ...[]aptos.Located) []aptos.Located {
	var out []aptos.Located
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// good is a consistent storage: identity, epochs 0-2, a snapshot at the
// end of epoch 1, transactions 0-299.
var good = cat(
	at("metadata/identity.meta", identity(1)),
	at("metadata/epoch_ending_0-1.meta", ep(0, 1, 0, 100, "e0")),
	at("metadata/epoch_ending_2-2.meta", ep(2, 2, 200, 200, "e2")),
	at("metadata/state_epoch_1_ver_100.meta", snap(1, 100, "s100")),
	at("metadata/transaction_compacted_0-199.meta", txn(0, 99, "t0"), txn(100, 199, "t100")),
	at("metadata/transaction_200-299.meta", txn(200, 299, "t200")),
)

// TestCheck has one row per code of a view problem, each with the exact
// findings it expects; the base storage alone has none.
func TestCheck(t *testing.T) {
	rows := []struct {
		name        string
		live, moved []aptos.Located
		want        []string // Finding.String() of every problem, in order
	}{
		{name: "consistent", live: good},
		{name: "an exact duplicate in another file is no problem",
			live: cat(good, at("metadata/transaction_0-99.meta", txn(0, 99, "t0")))},
		{
			name: verify.CodeTxnGap,
			live: cat(good, at("metadata/transaction_400-499.meta", txn(400, 499, "t400"))),
			want: []string{`txn-gap: versions 300-399 are in no transaction backup; Aptos's restore stops with "Transaction backup ranges not continuous, expecting version 300, got 400." (metadata/transaction_200-299.meta:1, metadata/transaction_400-499.meta:1)`},
		},
		{
			name: verify.CodeTxnGap + " at version 0",
			live: at("metadata/t.meta", identity(1), txn(5, 9, "t5")),
			want: []string{`txn-gap: versions 0-4 are in no transaction backup; Aptos's restore stops with "Transaction backup ranges not continuous, expecting version 0, got 5." (metadata/t.meta:2)`},
		},
		{
			name:  verify.CodeTxnMovedOnly + " inside the range",
			live:  cat(at("metadata/identity.meta", identity(1)), at("metadata/transaction_0-99.meta", txn(0, 99, "t0")), at("metadata/transaction_200-299.meta", txn(200, 299, "t200"))),
			moved: at("metadata_backup/transaction_100-199.meta", txn(100, 199, "t100")),
			want:  []string{`txn-moved-only: versions 100-199 are in no live transaction backup, only in moved files (metadata_backup/); Aptos's restore stops with "Transaction backup ranges not continuous, expecting version 100, got 200." (metadata_backup/transaction_100-199.meta:1, metadata/transaction_0-99.meta:1, metadata/transaction_200-299.meta:1)`},
		},
		{
			name:  verify.CodeTxnMovedOnly + " beyond the live ones",
			live:  cat(at("metadata/identity.meta", identity(1)), at("metadata/transaction_0-99.meta", txn(0, 99, "t0"))),
			moved: cat(at("metadata_backup/transaction_0-99.meta", txn(0, 99, "t0")), at("metadata_backup/transaction_100-199.meta", txn(100, 199, "t100"))),
			want:  []string{`txn-moved-only: versions 100-199 are in no live transaction backup, only in moved files (metadata_backup/); a restore stops before them without an error (metadata_backup/transaction_100-199.meta:1, metadata/transaction_0-99.meta:1)`},
		},
		{
			name: verify.CodeTxnOverlap,
			live: cat(good, at("metadata/transaction_150-249.meta", txn(150, 249, "t150"))),
			want: []string{
				`txn-overlap: transaction backups 100-199 and 150-249 overlap (versions 150-199); Aptos's restore stops with "Transaction backup ranges not continuous, expecting version 200, got 150." (metadata/transaction_150-249.meta:1, metadata/transaction_compacted_0-199.meta:2)`,
				`txn-overlap: transaction backups 150-249 and 200-299 overlap (versions 200-249); a restore cannot cross it (metadata/transaction_150-249.meta:1, metadata/transaction_200-299.meta:1)`,
			},
		},
		{
			name: verify.CodeTxnManifestConflict,
			live: cat(good, at("metadata/transaction_200-299.retry.meta", txn(200, 299, "t200-retry"))),
			want: []string{`txn-manifest-conflict: transaction versions 200-299 are backed up 2 times with different manifests (t200, t200-retry): Aptos keeps all of them and its restore refuses the range (metadata/transaction_200-299.meta:1, metadata/transaction_200-299.retry.meta:1)`},
		},
		{
			name: verify.CodeEpochGap,
			live: cat(good, at("metadata/epoch_ending_5-5.meta", ep(5, 5, 500, 500, "e5"))),
			want: []string{`epoch-gap: epochs 3-4 are in no epoch-ending backup; Aptos's restore stops with "Epoch ending backup ranges not continuous, expecting epoch 3, got 5." (metadata/epoch_ending_2-2.meta:1, metadata/epoch_ending_5-5.meta:1)`},
		},
		{
			name:  verify.CodeEpochMovedOnly,
			live:  cat(good, at("metadata/epoch_ending_4-4.meta", ep(4, 4, 400, 400, "e4"))),
			moved: at("metadata_backup/epoch_ending_3-3.meta", ep(3, 3, 300, 300, "e3")),
			want:  []string{`epoch-moved-only: epochs 3 are in no live epoch-ending backup, only in moved files (metadata_backup/); Aptos's restore stops with "Epoch ending backup ranges not continuous, expecting epoch 3, got 4." (metadata_backup/epoch_ending_3-3.meta:1, metadata/epoch_ending_2-2.meta:1, metadata/epoch_ending_4-4.meta:1)`},
		},
		{
			name: verify.CodeEpochOverlap,
			live: cat(good, at("metadata/epoch_ending_1-2.meta", ep(1, 2, 100, 200, "e1"))),
			want: []string{
				`epoch-overlap: epoch-ending backups 0-1 and 1-2 overlap (epochs 1); Aptos's restore stops with "Epoch ending backup ranges not continuous, expecting epoch 2, got 1." (metadata/epoch_ending_0-1.meta:1, metadata/epoch_ending_1-2.meta:1)`,
				`epoch-overlap: epoch-ending backups 1-2 and 2 overlap (epochs 2); a restore cannot cross it (metadata/epoch_ending_1-2.meta:1, metadata/epoch_ending_2-2.meta:1)`,
			},
		},
		{
			name: verify.CodeEpochConflict,
			live: cat(good, at("metadata/epoch_ending_2-2.b.meta", ep(2, 2, 210, 210, "e2b"))),
			want: []string{`epoch-conflict: epochs 2 are backed up 2 times with different contents (versions 200 e2; versions 210 e2b): Aptos keeps all of them and its restore refuses the range (metadata/epoch_ending_2-2.b.meta:1, metadata/epoch_ending_2-2.meta:1)`},
		},
		{
			name: verify.CodeEpochBackwards,
			live: cat(good, at("metadata/epoch_ending_3-3.meta", ep(3, 3, 150, 150, "e3"))),
			want: []string{`epoch-backwards: epochs 3 end at versions 150, not after epochs 2 (versions 200): versions must grow with epochs (metadata/epoch_ending_2-2.meta:1, metadata/epoch_ending_3-3.meta:1)`},
		},
		{
			name: verify.CodeSnapshotConflict,
			live: cat(good, at("metadata/state_epoch_1_ver_100.b.meta", snap(1, 100, "s100b"))),
			want: []string{`snapshot-conflict: 2 state snapshots at version 100 disagree (epoch 1 s100; epoch 1 s100b): a restore picks one by epoch and manifest order (metadata/state_epoch_1_ver_100.b.meta:1, metadata/state_epoch_1_ver_100.meta:1)`},
		},
		{
			name: verify.CodeSnapshotEpoch + " (after its epoch's end)",
			live: cat(good, at("metadata/state_epoch_1_ver_150.meta", snap(1, 150, "s150"))),
			want: []string{`snapshot-epoch: state snapshot at version 150 says epoch 1, but epoch 1 ends at version 100 (metadata/epoch_ending_0-1.meta:1, metadata/state_epoch_1_ver_150.meta:1)`},
		},
		{
			name: verify.CodeSnapshotEpoch + " (before its epoch's start)",
			live: cat(good, at("metadata/state_epoch_2_ver_50.meta", snap(2, 50, "s50"))),
			want: []string{`snapshot-epoch: state snapshot at version 50 says epoch 2, but epoch 1 ends only at version 100 (metadata/epoch_ending_0-1.meta:1, metadata/state_epoch_2_ver_50.meta:1)`},
		},
		{
			name: verify.CodeManifestReused,
			live: cat(good, at("metadata/state_epoch_2_ver_200.meta", snap(2, 200, "t200"))),
			want: []string{`manifest-reused: manifest t200 is used by 2 different backups (state snapshot at version 200 (epoch 2); transaction backup 200-299): at most one of them can be what it holds (metadata/state_epoch_2_ver_200.meta:1, metadata/transaction_200-299.meta:1)`},
		},
		{
			name:  verify.CodeIdentityConflict,
			live:  good,
			moved: at("metadata_backup/identity.meta", identity(2)),
			want: []string{fmt.Sprintf(`identity-conflict: 2 different identities (01%s, 02%s): these files come from different backup storages (metadata/identity.meta:1, metadata_backup/identity.meta:1)`,
				strings.Repeat("0", 62), strings.Repeat("0", 62))},
		},
		{
			name: "every problem at once, in code order",
			live: cat(good, at("metadata/transaction_400-499.meta", txn(400, 499, "t400")), at("metadata/epoch_ending_5-5.meta", ep(5, 5, 500, 500, "e5")),
				at("metadata/state_epoch_1_ver_100.b.meta", snap(1, 100, "s100b"))),
			want: []string{
				`epoch-gap: epochs 3-4 are in no epoch-ending backup; Aptos's restore stops with "Epoch ending backup ranges not continuous, expecting epoch 3, got 5." (metadata/epoch_ending_2-2.meta:1, metadata/epoch_ending_5-5.meta:1)`,
				`snapshot-conflict: 2 state snapshots at version 100 disagree (epoch 1 s100; epoch 1 s100b): a restore picks one by epoch and manifest order (metadata/state_epoch_1_ver_100.b.meta:1, metadata/state_epoch_1_ver_100.meta:1)`,
				`txn-gap: versions 300-399 are in no transaction backup; Aptos's restore stops with "Transaction backup ranges not continuous, expecting version 300, got 400." (metadata/transaction_200-299.meta:1, metadata/transaction_400-499.meta:1)`,
			},
		},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			problems, warnings := verify.Check(r.live, r.moved)
			var got []string
			for _, p := range problems {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(r.want, "\n") {
				t.Errorf("problems\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(r.want, "\n     "))
			}
			if len(warnings) != 0 {
				t.Errorf("warnings: %v", warnings)
			}
		})
	}
}

func TestCheckWarnings(t *testing.T) {
	problems, warnings := verify.Check(at("metadata/transaction_0-9.meta", txn(0, 9, "t0")), nil)
	if len(problems) != 0 {
		t.Errorf("problems: %v", problems)
	}
	want := "no-identity: no identity.meta: the catalog has never seen this storage's identity"
	if len(warnings) != 1 || warnings[0].String() != want {
		t.Errorf("warnings = %v, want [%s]", warnings, want)
	}
}
