package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// snapshotOf is what an exact undo must bring back: every file with its
// state, size and lines (ls --json) and the view digest.
func snapshotOf(t *testing.T, cat string) string {
	t.Helper()
	var ls struct {
		Files json.RawMessage `json:"files"`
	}
	if err := json.Unmarshal([]byte(must(t, cat, nil, "ls", "--json").stdout), &ls); err != nil {
		t.Fatal(err)
	}
	return string(ls.Files) + stateOf(t, cat).ViewDigest
}

// TestUndoEachOperationKind: import, two compactions (the second moves
// the originals) and a cleanup, then each undone newest first through the
// binary; after each undo the catalog verifies and equals the state before
// the undone operation. The log shows which generation each undo
// reversed.
func TestUndoEachOperationKind(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	env := func(s string) []string { return []string{"METACTL_NOW=" + s} }
	var states []string // states[g]: after generation g
	states = append(states, "")
	compact := []string{"compact", "--transaction-file-compact-factor", "2", "--remove-compacted-file-after", "10"}
	steps := [][]string{
		{"import", "--local-fs-dir", aptosTestStorage(t)},
		compact,
		compact,
		{"cleanup", "--older-than", "1s"},
	}
	for i, args := range steps {
		must(t, cat, env(itoa(1700000000+uint64(i)*100)), args...)
		if g := stateOf(t, cat).Generation; g != uint64(i+1) {
			t.Fatalf("after %v: generation %d, want %d", args, g, i+1)
		}
		states = append(states, snapshotOf(t, cat))
	}
	empty := filepath.Join(t.TempDir(), "empty.db")
	emptyStorage := t.TempDir()
	if err := os.Mkdir(filepath.Join(emptyStorage, "metadata"), 0o755); err != nil {
		t.Fatal(err)
	}
	must(t, empty, nil, "import", "--local-fs-dir", emptyStorage)
	states[0] = snapshotOf(t, empty)

	for g := 4; g >= 1; g-- {
		dry := must(t, cat, env("1700001000"), "undo", itoa(uint64(g)), "--dry-run")
		if !strings.Contains(dry.stdout, "would undo generation "+itoa(uint64(g))) || stateOf(t, cat).Generation != uint64(8-g) {
			t.Fatalf("dry run of undo %d: %s (generation %d)", g, dry.stdout, stateOf(t, cat).Generation)
		}
		r := must(t, cat, env("1700001000"), "undo", itoa(uint64(g)), "--json")
		var doc struct {
			Operation struct {
				Undoes       uint64 `json:"undoes"`
				DigestBefore string `json:"digest_before"`
				DigestAfter  string `json:"digest_after"`
			} `json:"operation"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Operation.Undoes != uint64(g) {
			t.Fatalf("undo %d --json: %v: %s", g, err, r.stdout)
		}
		must(t, cat, nil, "verify")
		if got := snapshotOf(t, cat); got != states[g-1] {
			t.Fatalf("after undoing generation %d the catalog differs from before it:\n got %s\nwant %s", g, got, states[g-1])
		}
	}
	golden(t, "log-undo.txt", must(t, cat, nil, "log").stdout)
}

// TestUndoRefusals: through the binary, each refusal exits 3, names the
// operation in the way and leaves the catalog file byte for byte as it was;
// an unknown generation is a usage error.
func TestUndoRefusals(t *testing.T) {
	t.Parallel()
	env := func(s string) []string { return []string{"METACTL_NOW=" + s} }
	compact := []string{"compact", "--transaction-file-compact-factor", "2", "--remove-compacted-file-after", "10"}
	tests := []struct {
		name  string
		steps [][]string // run at 1700000000 + 100*i
		undo  string
		code  int
		want  string
	}{
		{"a later compaction moved the imported files",
			[][]string{{"import", "--local-fs-dir", "$STORAGE"}, compact, compact}, "1", 3,
			"metactl: undo generation 1: metadata/epoch_ending_0-0.meta was changed since by generation 3 (compact at 2023-11-14T22:16:40Z); undo that operation first"},
		{"a later compaction moved the files the undone one compacted",
			[][]string{{"import", "--local-fs-dir", "$STORAGE"}, compact, compact}, "2", 3,
			"metactl: undo generation 2: the reversal would leave view digest 000000000000, not 9a95ffb3f7e9: the view it left was used by generation 3 (compact at 2023-11-14T22:16:40Z); undo that operation first"},
		{"already undone",
			[][]string{{"import", "--local-fs-dir", "$STORAGE"}, {"undo", "1"}}, "1", 3,
			"metactl: undo generation 1: already undone by generation 2 (undo at 2023-11-14T22:15:00Z)"},
		{"change records purged after the grace period",
			[][]string{{"import", "--local-fs-dir", "$STORAGE"}, compact, compact, {"cleanup", "--older-than", "1s", "--retain", "1s"},
				{"cleanup", "--older-than", "1s", "--retain", "1s"}}, "4", 3,
			"metactl: undo generation 4: its change records were purged after the grace period by generation 5 (cleanup at 2023-11-14T22:20:00Z)"},
		{"no such generation",
			[][]string{{"import", "--local-fs-dir", "$STORAGE"}}, "9", 6,
			"metactl: undo generation 9: not in the journal (the catalog is at generation 1): not found"},
	}
	storage := aptosTestStorage(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat := filepath.Join(t.TempDir(), "c.db")
			for i, args := range tt.steps {
				args = append([]string(nil), args...)
				for j := range args {
					args[j] = strings.ReplaceAll(args[j], "$STORAGE", storage)
				}
				must(t, cat, env(itoa(1700000000+uint64(i)*100)), args...)
			}
			before := catalogBytes(t, cat)
			r := metactl(t, cat, env("1700009000"), "undo", tt.undo)
			if r.code != tt.code || strings.TrimSpace(r.stderr) != tt.want {
				t.Fatalf("undo %s: exit %d, stderr %q\nwant exit %d, %q", tt.undo, r.code, r.stderr, tt.code, tt.want)
			}
			after := catalogBytes(t, cat)
			if !bytes.Equal(before, after) {
				t.Error("a refused undo changed the catalog file")
			}
		})
	}
}
