package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestOneVocabulary: durations in Aptos's seconds and with units mean the
// same, output prints one style and pluralises, and ls shows a moved file
// where it lives.
func TestOneVocabulary(t *testing.T) {
	t.Parallel()
	sample := filepath.Join(repoRoot(t), "testdata", "sample")
	compactArgs := []string{"compact", "--epoch-ending-file-compact-factor", "100", "--transaction-file-compact-factor", "100",
		"--state-snapshot-file-compact-factor", "100"}
	var outs []string
	for _, grace := range []string{"86400", "1d", "24h", "86400s"} {
		cat := filepath.Join(t.TempDir(), "c.db")
		must(t, cat, nil, "import", "--local-fs-dir", sample)
		must(t, cat, []string{"METACTL_NOW=1700000000"}, append(compactArgs, "--remove-compacted-file-after", grace)...)
		outs = append(outs, must(t, cat, []string{"METACTL_NOW=1700086400"}, append(compactArgs, "--remove-compacted-file-after", grace)...).stdout)
		// Aptos expires strictly after the grace: one second later, all go.
		r := must(t, cat, []string{"METACTL_NOW=1700086401"}, append(compactArgs, "--remove-compacted-file-after", grace)...)
		if !strings.Contains(r.stdout, "(grace 1d)") || !strings.Contains(r.stdout, "96 moved") {
			t.Errorf("--remove-compacted-file-after %s: %s", grace, r.stdout)
		}
		if grace == "1d" {
			ls := must(t, cat, nil, "ls", "--state", "moved").stdout
			if !strings.Contains(ls, "metadata_backup/epoch_ending_0-0.meta") || strings.Contains(ls, " metadata/") {
				t.Errorf("ls --state moved does not show moved files in metadata_backup/:\n%s", ls)
			}
			for _, older := range []string{"3600", "1h", "60m"} {
				if r := must(t, cat, []string{"METACTL_NOW=1700090002"}, "cleanup", "--dry-run", "--older-than", older).stdout; !strings.Contains(r, "would delete 96 moved files moved before 2023-11-15T22:13:22Z") {
					t.Errorf("cleanup --older-than %s: %s", older, r)
				}
			}
		}
	}
	for _, o := range outs[1:] {
		if o != outs[0] {
			t.Errorf("the same grace in other units gives other output:\n%s\nvs\n%s", o, outs[0])
		}
	}
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", writeStorage(t, map[string]string{
		"metadata/epoch_ending_0-0.meta": epochLine(0, "e0/m"),
	}))
	r := must(t, cat, []string{"METACTL_NOW=1700000000"}, "compact", "--epoch-ending-file-compact-factor", "2")
	if !strings.Contains(r.stdout, "epoch_ending_compacted_0-0.meta: 1 line\n") {
		t.Errorf("want \"1 line\":\n%s", r.stdout)
	}
}
