package storage_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/metactl/metactl/storage"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		// storage/tests.rs test_shell_safe_name (spec §4).
		{".hidden", `illegal name: ".hidden"`},
		{".", `illegal name: "."`},
		{"..", `illegal name: ".."`},
		{"-m", `illegal name: "-m"`},
		{"a b", `illegal name: "a b"`},
		{"a\nb", `illegal name: "a\nb"`},
		{"ab?", `illegal name: "ab?"`},
		{strings.Repeat("x", 128), `illegal name: "` + strings.Repeat("x", 128) + `"`},
		{strings.Repeat("x", 127), ""},
		{"abc", ""},
		// Boundaries of the {2,126} repetition and the character classes.
		{"", `illegal name: ""`},
		{"ab", `illegal name: "ab"`},
		{"_ab", `illegal name: "_ab"`},
		{"0.-_Zz", ""},
		{"a/b", `illegal name: "a/b"`},
		{"ab\x00", `illegal name: "ab\x00"`},
		{"abé", `illegal name: "abé"`},
		{"epoch_ending_0-0.meta", ""},
		{"a..b", ""},
	}
	for _, tc := range tests {
		err := storage.ValidName(tc.name)
		if got := errText(err); got != tc.wantErr {
			t.Errorf("ValidName(%q) = %q, want %q", tc.name, got, tc.wantErr)
		}
		if err != nil && !errors.Is(err, storage.ErrIllegalName) {
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
		dir, name, err := storage.ParseHandle(tc.handle)
		if got := errText(err); got != tc.wantErr || dir != tc.dir || name != tc.name {
			t.Errorf("ParseHandle(%q) = %q, %q, %q; want %q, %q, %q", tc.handle, dir, name, got, tc.dir, tc.name, tc.wantErr)
		}
		if err != nil && !errors.Is(err, storage.ErrInvalidHandle) {
			t.Errorf("ParseHandle(%q): %v does not wrap ErrInvalidHandle", tc.handle, err)
		}
	}
	if got := storage.LiveHandle("x.meta"); got != "metadata/x.meta" {
		t.Errorf("LiveHandle = %q", got)
	}
	if got := storage.MovedHandle("x.meta"); got != "metadata_backup/x.meta" {
		t.Errorf("MovedHandle = %q", got)
	}
}
