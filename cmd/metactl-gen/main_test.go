package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/internal/samplegen"
)

const repoRoot = "../.."

// The commands testdata/sample/README.md documents, run with their --out
// moved to a temporary folder, must reproduce the committed samples.
func TestReadmeCommandsReproduceSample(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, "testdata/sample/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const prefix = "go run ./cmd/metactl-gen "
	var cmds [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			cmds = append(cmds, strings.Fields(strings.TrimPrefix(line, prefix)))
		}
	}
	if len(cmds) != 2 {
		t.Fatalf("README documents %d commands, want 2", len(cmds))
	}
	for _, args := range cmds {
		var committed string
		tmp := t.TempDir()
		for i := range args {
			if args[i] == "--out" && i+1 < len(args) {
				committed = filepath.Join(repoRoot, args[i+1])
				args[i+1] = tmp
			}
		}
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 {
			t.Fatalf("metactl-gen %v: exit %d: %s", args, code, errb.String())
		}
		want := readTree(t, filepath.Join(committed, aptos.MetadataDir))
		got := readTree(t, filepath.Join(tmp, aptos.MetadataDir))
		if len(got) != len(want) {
			t.Errorf("%v wrote %d files, %s holds %d", args, len(got), committed, len(want))
		}
		for name, b := range want {
			if !bytes.Equal(got[name], b) {
				t.Errorf("%v: %s differs from %s", args, name, committed)
			}
		}
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return m
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"--out", dir, "--epochs", "3"}, 0, "wrote 12 files (12 lines", ""},
		{[]string{"--out", dir, "--epochs", "3"}, 1, "", "not empty"},
		{[]string{"--epochs", "3"}, 2, "", "--out"},
		{[]string{"--out", dir}, 2, "", "--epochs"},
		{[]string{"--out", dir, "--epochs", "x"}, 2, "", "--epochs"},
		{[]string{"--out", dir, "--epochs", "3", "--bogus"}, 2, "", "bogus"},
		{[]string{"--out", dir, "--epochs", "-1"}, 2, "", "--epochs"},
		{[]string{"--out", dir, "--epochs", "3", "--snapshot-interval", "0"}, 2, "", "--snapshot-interval"},
		{[]string{"--help"}, 0, "Usage: metactl-gen", ""},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		if code != c.code || !strings.Contains(out.String(), c.stdout) || !strings.Contains(errb.String(), c.stderr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d, %q, %q", c.args, code, out.String(), errb.String(), c.code, c.stdout, c.stderr)
		}
	}
}

func TestJSON(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"--out", dir, "--epochs", "10", "--gzip", "--no-identity", "--json", "--seed", "5", "--txn-batch", "3000000"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if bytes.Count(out.Bytes(), []byte("\n")) != 1 {
		t.Errorf("want one line, got %q", out.String())
	}
	var st samplegen.Stats
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	want, err := samplegen.Stat(samplegen.Options{Epochs: 10, Gzip: true, Seed: 5, TxnBatch: 3_000_000})
	if err != nil {
		t.Fatal(err)
	}
	want.Dir = dir
	st.Bytes, want.Bytes = 0, 0
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if st.Identity != "" || len(readTree(t, filepath.Join(dir, aptos.MetadataDir))) != st.Files {
		t.Errorf("unexpected files for %+v", st)
	}
}
