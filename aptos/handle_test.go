package aptos_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/metactl/metactl/aptos"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		// storage/tests.rs test_shell_safe_name (docs/aptos-format.md §4).
		{".hidden", `illegal file name ".hidden": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{".", `illegal file name ".": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{"..", `illegal file name "..": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{"-m", `illegal file name "-m": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{"a b", `illegal file name "a b": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{"a\nb", `illegal file name "a\nb": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{"ab?", `illegal file name "ab?": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{strings.Repeat("x", 128), `illegal file name "` + strings.Repeat("x", 128) + `": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{strings.Repeat("x", 127), ""},
		{"abc", ""},
		// Boundaries of the {2,126} repetition and the character classes.
		{"", `illegal file name "": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{"ab", `illegal file name "ab": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{"_ab", `illegal file name "_ab": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{"0.-_Zz", ""},
		{"a/b", `illegal file name "a/b": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{"ab\x00", `illegal file name "ab\x00": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{"abé", `illegal file name "abé": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{"epoch_ending_0-0.meta", ""},
		{"a..b", ""},
	}
	for _, tc := range tests {
		err := aptos.ValidName(tc.name)
		if got := errText(err); got != tc.wantErr {
			t.Errorf("ValidName(%q) = %q, want %q", tc.name, got, tc.wantErr)
		}
		if err != nil && !errors.Is(err, aptos.ErrIllegalName) {
			t.Errorf("ValidName(%q): %v does not wrap ErrIllegalName", tc.name, err)
		}
	}
}

func TestParseHandle(t *testing.T) {
	const want = `: want "metadata/<name>" or "metadata_backup/<name>"`
	tests := []struct {
		handle  string
		dir     string
		name    string
		wantErr string
	}{
		{"metadata/epoch_ending_0-0.meta", "metadata", "epoch_ending_0-0.meta", ""},
		{"metadata_backup/x.meta", "metadata_backup", "x.meta", ""},
		{"metadata/.hidden", "metadata", ".hidden", ""}, // listed names are not validated
		{"metadata/a..b", "metadata", "a..b", ""},
		{"metadata/", "", "", `invalid handle "metadata/"` + want},
		{"metadata", "", "", `invalid handle "metadata"` + want},
		{"metadata/..", "", "", `invalid handle "metadata/.."` + want},
		{"metadata/.", "", "", `invalid handle "metadata/."` + want},
		{"metadata/../x", "", "", `invalid handle "metadata/../x"` + want},
		{"metadata/a/b", "", "", `invalid handle "metadata/a/b"` + want},
		{"/metadata/x", "", "", `invalid handle "/metadata/x"` + want},
		{"/etc/passwd", "", "", `invalid handle "/etc/passwd"` + want},
		{"backup/x.meta", "", "", `invalid handle "backup/x.meta"` + want},
		{"metadata/x\x00y", "", "", `invalid handle "metadata/x\x00y"` + want},
		{"", "", "", `invalid handle ""` + want},
	}
	for _, tc := range tests {
		dir, name, err := aptos.ParseHandle(tc.handle)
		if got := errText(err); got != tc.wantErr || dir != tc.dir || name != tc.name {
			t.Errorf("ParseHandle(%q) = %q, %q, %q; want %q, %q, %q", tc.handle, dir, name, got, tc.dir, tc.name, tc.wantErr)
		}
		if err != nil && !errors.Is(err, aptos.ErrInvalidHandle) {
			t.Errorf("ParseHandle(%q): %v does not wrap ErrInvalidHandle", tc.handle, err)
		}
	}
	if got := aptos.LiveHandle("x.meta"); got != "metadata/x.meta" {
		t.Errorf("LiveHandle = %q", got)
	}
	if got := aptos.MovedHandle("x.meta"); got != "metadata_backup/x.meta" {
		t.Errorf("MovedHandle = %q", got)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestCompactedName: the three compacted-file patterns of Aptos's
// compaction, and "" for kinds that are never compacted.
func TestCompactedName(t *testing.T) {
	tests := []struct {
		kind        aptos.Kind
		first, last uint64
		want        string
	}{
		{aptos.KindEpochEnding, 0, 1, "epoch_ending_compacted_0-1.meta"},
		{aptos.KindTransaction, 0, 29, "transaction_compacted_0-29.meta"},
		{aptos.KindStateSnapshot, 1, 2, "state_snapshot_compacted_epoch_1_2.meta"},
		{aptos.KindIdentity, 0, 0, ""},
		{aptos.KindCompactionTimestamps, 0, 0, ""},
	}
	for _, tc := range tests {
		if got := aptos.CompactedName(tc.kind, tc.first, tc.last); got != tc.want {
			t.Errorf("CompactedName(%s, %d, %d) = %q, want %q", tc.kind, tc.first, tc.last, got, tc.want)
		}
	}
}

// TestName: the per-entry names of Aptos's writers (docs/aptos-format.md
// §3.1), from Name and appended by AppendName.
func TestName(t *testing.T) {
	tests := []struct {
		m    aptos.Metadata
		want string
	}{
		{aptos.Metadata{Kind: aptos.KindEpochEnding, EpochEnding: aptos.EpochEndingBackup{FirstEpoch: 3, LastEpoch: 18446744073709551614}}, "epoch_ending_3-18446744073709551614.meta"},
		{aptos.Metadata{Kind: aptos.KindStateSnapshot, StateSnapshot: aptos.StateSnapshotBackup{Epoch: 7, Version: 120}}, "state_snapshot_ver_120.meta"},
		{aptos.Metadata{Kind: aptos.KindTransaction, Transaction: aptos.TransactionBackup{FirstVersion: 0, LastVersion: 14}}, "transaction_0-14.meta"},
		{aptos.Metadata{Kind: aptos.KindIdentity}, "identity.meta"},
		{aptos.Metadata{Kind: aptos.KindCompactionTimestamps, Timestamps: aptos.CompactionTimestamps{FileCompactedAt: 1700000000}}, "compaction_timestamps_1700000000.meta"},
		{aptos.Metadata{}, ""},
	}
	for _, tc := range tests {
		if got := tc.m.Name(); got != tc.want {
			t.Errorf("Name() of a %s line = %q, want %q", tc.m.Kind, got, tc.want)
		}
		if got := string(tc.m.AppendName([]byte("x/"))); got != "x/"+tc.want {
			t.Errorf("AppendName(\"x/\") of a %s line = %q, want %q", tc.m.Kind, got, "x/"+tc.want)
		}
	}
}
