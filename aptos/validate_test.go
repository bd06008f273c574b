package aptos_test

import (
	"errors"
	"math"
	"testing"

	"github.com/metactl/metactl/aptos"
)

// TestValidateEntryNamesTheValue: each rule's message names the field and
// the value that broke it.
func TestValidateEntryNamesTheValue(t *testing.T) {
	const max = math.MaxUint64
	rows := []struct {
		name string
		m    aptos.Metadata
		want string
	}{
		{"transaction last_version u64::MAX", aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: 0, LastVersion: max, Manifest: "a/m"}),
			"last_version 18446744073709551615 (u64::MAX): the next range would overflow"},
		{"epoch-ending last_epoch u64::MAX", aptos.NewEpochEnding(aptos.EpochEndingBackup{LastEpoch: max, LastVersion: 9, Manifest: "a/m"}),
			"last_epoch 18446744073709551615 (u64::MAX): the next range would overflow"},
		{"epoch-ending last_version u64::MAX", aptos.NewEpochEnding(aptos.EpochEndingBackup{LastEpoch: 1, LastVersion: max, Manifest: "a/m"}),
			"last_version 18446744073709551615 (u64::MAX): the next range would overflow"},
		{"transaction first > last", aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: 10, LastVersion: 9, Manifest: "a/m"}),
			"first_version 10 > last_version 9"},
		{"epoch-ending first_epoch > last_epoch", aptos.NewEpochEnding(aptos.EpochEndingBackup{FirstEpoch: 2, LastEpoch: 1, Manifest: "a/m"}),
			"first_epoch 2 > last_epoch 1"},
		{"manifest", aptos.NewStateSnapshot(aptos.StateSnapshotBackup{Manifest: "a/../b"}),
			`manifest "a/../b" has a ".." segment`},
		// Several bad keys: the first in sorted order is named, whatever
		// the map's order.
		{"compaction_timestamps keys", aptos.NewCompactionTimestamps(aptos.CompactionTimestamps{FileCompactedAt: 1,
			Timestamps: map[string]*uint64{"metadata/z.meta": nil, "zz/x.meta": nil, "../x": nil, "metadata/a.meta": nil, "b/y.meta": nil}}),
			`compaction_timestamps key: file handle "../x" is not metadata/<name>`},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			err := aptos.ValidateEntry(&r.m)
			if err == nil || err.Error() != r.want || !errors.Is(err, aptos.ErrInvalid) {
				t.Errorf("ValidateEntry = %v, want %q wrapping ErrInvalid", err, r.want)
			}
		})
	}
}
