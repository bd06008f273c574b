package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gappedSample copies the sample storage without the transaction files of
// versions 17000001-19000000 (a gap of two batches) and returns the copy
// and the names of the files left out.
func gappedSample(t *testing.T) (dir string, missing []string) {
	t.Helper()
	src := filepath.Join(repoRoot(t), "testdata", "sample", "metadata")
	dir = t.TempDir()
	md := filepath.Join(dir, "metadata")
	if err := os.MkdirAll(md, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "transaction_17000001-18000000.meta" || e.Name() == "transaction_18000001-19000000.meta" {
			missing = append(missing, e.Name())
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(md, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, missing
}

// fillSample copies the files gappedSample left out into dir.
func fillSample(t *testing.T, dir string, missing []string) {
	t.Helper()
	for _, name := range missing {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "sample", "metadata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "metadata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStatusCoverage: status --coverage names the planted gap with its
// exact versions and the frontier below it, in text and in --json;
// --svg writes the drawing with the same text; without the flags status
// is the Aptos line alone.
func TestStatusCoverage(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	dir, missing := gappedSample(t)
	must(t, cat, nil, "import", "--local-fs-dir", dir)
	plain := must(t, cat, nil, "status").stdout
	if strings.Count(plain, "\n") != 1 {
		t.Errorf("status without --coverage: %q, want the Aptos line alone", plain)
	}
	out := must(t, cat, nil, "status", "--coverage").stdout
	want := plain + "restorable frontier: 17000000\ngap in transactions: versions 17000001-19000000\n"
	if out != want {
		t.Errorf("status --coverage:\n%s\nwant:\n%s", out, want)
	}
	var doc struct {
		Generation uint64
		Coverage   *struct {
			Restorable      bool   `json:"restorable"`
			FrontierVersion uint64 `json:"frontier_version"`
			GapCount        int    `json:"gap_count"`
			Gaps            []struct {
				FirstVersion uint64 `json:"first_version"`
				LastVersion  uint64 `json:"last_version"`
			} `json:"gaps"`
		} `json:"coverage"`
	}
	if err := json.Unmarshal([]byte(must(t, cat, nil, "--json", "status", "--coverage").stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if c := doc.Coverage; c == nil || !c.Restorable || c.FrontierVersion != 17000000 || c.GapCount != 1 ||
		c.Gaps[0].FirstVersion != 17000001 || c.Gaps[0].LastVersion != 19000000 {
		t.Errorf("status --json --coverage: %+v", doc.Coverage)
	}
	if strings.Contains(must(t, cat, nil, "--json", "status").stdout, `"coverage"`) {
		t.Error("status --json without --coverage has a coverage field")
	}
	svg := filepath.Join(t.TempDir(), "coverage.svg")
	must(t, cat, nil, "status", "--svg", svg)
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg ", "GAP versions 17000001-19000000", "frontier 17000000", `data-generation="1"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	fillSample(t, dir, missing)
	must(t, cat, nil, "import", "--local-fs-dir", dir)
	if out := must(t, cat, nil, "status", "--coverage").stdout; out != plain+"restorable frontier: 58000000\n" {
		t.Errorf("after the gap is filled: %q", out)
	}
}
