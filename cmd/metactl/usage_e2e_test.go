package main

import (
	"path/filepath"
	"testing"
)

// TestUsageErrorPointsAtCommandHelp: a flag or argument mistake points at
// the --help of the command it was made in, where the flag is explained.
func TestUsageErrorPointsAtCommandHelp(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ls", "--nope"}, "metactl: unknown flag --nope\nrun 'metactl ls --help' for usage\n"},
		{[]string{"cleanup"}, "metactl: missing flags: --older-than=DUR\nrun 'metactl cleanup --help' for usage\n"},
		{[]string{"cleanup", "--older-than", "1x"}, "metactl: --older-than: duration \"1x\": want seconds (86400) or a duration such as 90s, 36h, 7d or 1w\nrun 'metactl cleanup --help' for usage\n"},
		{[]string{"bogus"}, "metactl: unexpected argument bogus\nrun 'metactl --help' for usage\n"},
	} {
		r := metactl(t, cat, nil, tc.args...)
		if r.code != 2 || r.stderr != tc.want {
			t.Errorf("%v: want exit 2 and stderr %q, got %s", tc.args, tc.want, r)
		}
	}
}
