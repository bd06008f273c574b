package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func epochLine(e uint64, manifest string) string {
	return `{"EpochEndingBackup":{"first_epoch":` + itoa(e) + `,"last_epoch":` + itoa(e) + `,"first_version":` + itoa(e*10) +
		`,"last_version":` + itoa(e*10+9) + `,"manifest":"` + manifest + `"}}` + "\n"
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func liveHandles(t *testing.T, cat string) []string {
	t.Helper()
	var ls struct {
		Files []struct{ Handle, State string }
	}
	json.Unmarshal([]byte(must(t, cat, nil, "ls", "--json").stdout), &ls)
	var out []string
	for _, f := range ls.Files {
		if f.State == "live" {
			out = append(out, f.Handle)
		}
	}
	return out
}

// TestAptosDerivedCases are docs/aptos-format.md §10 item 2 and §10 item 8
// through the binary.
func TestAptosDerivedCases(t *testing.T) {
	t.Parallel()
	t.Run("idempotent", func(t *testing.T) {
		cat := filepath.Join(t.TempDir(), "c.db")
		must(t, cat, nil, "import", "--local-fs-dir", aptosTestStorage(t))
		before := must(t, cat, nil, "plan", "--json").stdout
		args := []string{"compact", "--epoch-ending-file-compact-factor", "2", "--state-snapshot-file-compact-factor", "2", "--transaction-file-compact-factor", "2"}
		must(t, cat, []string{"METACTL_NOW=1700000000"}, args...)
		must(t, cat, []string{"METACTL_NOW=1700000100"}, args...)
		if after := must(t, cat, nil, "plan", "--json").stdout; !sameIgnoringGeneration(before, after) {
			t.Errorf("two compactions changed the view:\n%s\n%s", before, after)
		}
		// Another run in the same second rewrites that second's timestamps
		// file once (it now timestamps itself, as Aptos's would); after
		// that, runs in the same second change nothing.
		must(t, cat, []string{"METACTL_NOW=1700000100"}, args...)
		gen := must(t, cat, nil, "status", "--json").stdout
		data := catalogBytes(t, cat)
		r := must(t, cat, []string{"METACTL_NOW=1700000100"}, append(args, "--json")...)
		again := catalogBytes(t, cat)
		if !strings.Contains(r.stdout, `"changed": false`) || string(data) != string(again) || gen != must(t, cat, nil, "status", "--json").stdout {
			t.Errorf("a repeated compaction at the same instant changed the catalog: %s", r.stdout)
		}
	})
	t.Run("factor 3 over epochs 0..9", func(t *testing.T) {
		files := map[string]string{}
		for e := uint64(0); e < 10; e++ {
			files["metadata/epoch_ending_"+itoa(e)+"-"+itoa(e)+".meta"] = epochLine(e, "e"+itoa(e)+"/m")
		}
		cat := filepath.Join(t.TempDir(), "c.db")
		must(t, cat, nil, "import", "--local-fs-dir", writeStorage(t, files))
		r := must(t, cat, []string{"METACTL_NOW=1700000000"}, "compact", "--epoch-ending-file-compact-factor", "3", "--json")
		var out struct{ Written []string }
		json.Unmarshal([]byte(r.stdout), &out)
		want := []string{"metadata/epoch_ending_compacted_0-2.meta", "metadata/epoch_ending_compacted_3-5.meta",
			"metadata/epoch_ending_compacted_6-8.meta", "metadata/epoch_ending_compacted_9-9.meta"}
		if !slices.Equal(out.Written, want) {
			t.Errorf("wrote %v, want %v", out.Written, want)
		}
	})
	t.Run("duplicates in two files are deduplicated", func(t *testing.T) {
		cat := filepath.Join(t.TempDir(), "c.db")
		must(t, cat, nil, "import", "--local-fs-dir", writeStorage(t, map[string]string{
			"metadata/epoch_ending_0-0.meta":           epochLine(0, "e0/m"),
			"metadata/epoch_ending_compacted_0-0.meta": epochLine(0, "e0/m"),
		}))
		r := must(t, cat, []string{"METACTL_NOW=1700000000"}, "compact")
		got, _ := json.Marshal(must(t, cat, nil, "read", "epoch_ending_compacted_0-0.meta").stdout)
		if strings.Count(string(got), "EpochEndingBackup") != 1 {
			t.Errorf("duplicate kept: %s\n%s", got, r.stdout)
		}
	})
	t.Run("same range, different manifests", func(t *testing.T) {
		cat := filepath.Join(t.TempDir(), "c.db")
		must(t, cat, nil, "import", "--local-fs-dir", writeStorage(t, map[string]string{
			"metadata/epoch_ending_0-0.meta":  epochLine(0, "a/m"),
			"metadata/epoch_ending_0-0b.meta": epochLine(0, "b/m"),
		}))
		r := metactl(t, cat, nil, "compact", "--epoch-ending-file-compact-factor", "2")
		if r.code != 3 || !strings.Contains(r.stderr, "Epoch ending backup ranges is not continuous expecting epoch 1, got 0") {
			t.Errorf("want Aptos's continuity error: %s", r)
		}
	})
	t.Run("grace boundary is strict", func(t *testing.T) {
		cat := filepath.Join(t.TempDir(), "c.db")
		must(t, cat, nil, "import", "--local-fs-dir", aptosTestStorage(t))
		const t0 = 1700000000
		must(t, cat, []string{"METACTL_NOW=" + itoa(t0)}, "compact")
		must(t, cat, []string{"METACTL_NOW=" + itoa(t0+86400)}, "compact")
		if live := liveHandles(t, cat); !slices.Contains(live, "metadata/transaction_0-14.meta") {
			t.Errorf("moved at t+86400: %v", live)
		}
		must(t, cat, []string{"METACTL_NOW=" + itoa(t0+86401)}, "compact")
		if live := liveHandles(t, cat); slices.Contains(live, "metadata/transaction_0-14.meta") {
			t.Errorf("still live at t+86401: %v", live)
		}
	})
}

// TestCleanupAndLog: cleanup deletes only moved files older than the
// bound, in one journaled transaction; log shows every operation.
func TestCleanupAndLog(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	env := func(s string) []string { return []string{"METACTL_NOW=" + s} }
	must(t, cat, env("1700000000"), "import", "--local-fs-dir", aptosTestStorage(t))
	args := []string{"compact", "--transaction-file-compact-factor", "2", "--remove-compacted-file-after", "10"}
	must(t, cat, env("1700000000"), args...)
	must(t, cat, env("1700000100"), args...) // moves the 6 originals at t+100 (no identity.meta in this storage)
	before := liveHandles(t, cat)

	// At t+100+3600: moved an hour ago. --older-than 2h deletes nothing.
	r := must(t, cat, env("1700003700"), "cleanup", "--older-than", "2h", "--json")
	if !strings.Contains(r.stdout, `"deleted": []`) {
		t.Errorf("cleanup deleted files moved an hour ago: %s", r.stdout)
	}
	r = must(t, cat, env("1700003700"), "cleanup", "--older-than", "30m", "--dry-run")
	if !strings.Contains(r.stdout, "would delete 6 moved files") {
		t.Errorf("dry run: %s", r.stdout)
	}
	if n := strings.Count(must(t, cat, nil, "ls", "--state", "moved").stdout, "moved"); n != 6 {
		t.Errorf("dry run deleted something: %d moved left", n)
	}
	must(t, cat, env("1700003700"), "cleanup", "--older-than", "30m")
	if out := must(t, cat, nil, "ls", "--state", "moved").stdout; strings.Contains(out, "moved ") {
		t.Errorf("moved files left after cleanup: %s", out)
	}
	if after := liveHandles(t, cat); !slices.Equal(before, after) {
		t.Errorf("cleanup touched live files: %v -> %v", before, after)
	}
	golden(t, "log.txt", must(t, cat, nil, "log").stdout)
	var ops []struct {
		Kind         string `json:"kind"`
		DigestBefore string `json:"digest_before"`
		DigestAfter  string `json:"digest_after"`
		Deleted      struct{ Count int }
	}
	unmarshalLog(must(t, cat, nil, "log", "--json").stdout, &ops)
	if len(ops) != 4 || ops[0].Kind != "cleanup" || ops[0].Deleted.Count != 6 {
		t.Fatalf("journal: %+v", ops)
	}
	for _, op := range ops {
		if op.Kind == "compact" && op.DigestBefore != op.DigestAfter {
			t.Errorf("compaction changed the view digest: %+v", op)
		}
	}
}
