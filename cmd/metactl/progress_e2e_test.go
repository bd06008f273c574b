package main

import (
	"encoding/json"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestProgressLogsVersionCompletion: without a terminal, long work writes
// one-line progress records on stderr (JSON with --log-format json), -q
// silences them; --version comes from the build info; the shell completion
// script and the completion protocol work.
func TestProgressLogsVersionCompletion(t *testing.T) {
	t.Parallel()
	sample := filepath.Join(repoRoot(t), "testdata", "sample")
	// Every update writes a record: reading the sample's 96 files takes
	// less than a millisecond, so a record must not depend on its pace.
	every := []string{"METACTL_PROGRESS_EVERY=1ns"}
	cat := filepath.Join(t.TempDir(), "c.db")
	r := must(t, cat, every, "--log-format", "json", "import", "--local-fs-dir", sample)
	records := 0
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var rec struct {
			Time, Level, Msg, Op string
			Done, Total          int
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Time == "" || rec.Msg == "" {
			t.Errorf("stderr line is not a JSON log record: %q (%v)", line, err)
			continue
		}
		if rec.Op == "import: read" && rec.Total == 96 {
			records++
		}
	}
	if records == 0 {
		t.Errorf("no import progress record with 96 files on stderr:\n%s", r.stderr)
	}
	// Work that cannot count shows the time elapsed.
	var errBuf strings.Builder
	a := &app{stderr: &errBuf, cli: &CLI{}, progressEvery: time.Millisecond}
	done := a.working("compact")
	time.Sleep(50 * time.Millisecond)
	done()
	if !strings.HasPrefix(errBuf.String(), "metactl: compact: working, 0s elapsed\n") {
		t.Errorf("working() without a terminal wrote %q", errBuf.String())
	}
	cat2 := filepath.Join(t.TempDir(), "c.db")
	if r := must(t, cat2, every, "-q", "import", "--local-fs-dir", sample); r.stderr != "" {
		t.Errorf("-q import wrote to stderr:\n%s", r.stderr)
	}
	if r := must(t, cat2, every, "-q", "verify"); r.stderr != "" {
		t.Errorf("-q verify wrote to stderr:\n%s", r.stderr)
	}

	v := must(t, "", nil, "--version").stdout
	for _, want := range []string{"metactl ", "module github.com/metactl/metactl\n", "revision ", runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(v, want) {
			t.Errorf("--version lacks %q:\n%s", want, v)
		}
	}

	for shell, want := range map[string]string{"bash": "complete -o default -C metactl metactl", "zsh": "bashcompinit", "fish": "complete -c metactl"} {
		if s := must(t, "", nil, "completion", shell).stdout; !strings.Contains(s, want) {
			t.Errorf("completion %s: %q lacks %q", shell, s, want)
		}
	}
	c := must(t, "", []string{"COMP_LINE=metactl comp"}, "metactl", "comp", "metactl").stdout
	lines := strings.Fields(c)
	slices.Sort(lines) // the completer does not sort
	if strings.Join(lines, ",") != "compact,completion" {
		t.Errorf("completing 'metactl comp' gave %q", c)
	}
	c = must(t, "", []string{"COMP_LINE=metactl compact --remove-"}, "metactl", "--remove-", "compact").stdout
	if c != "--remove-compacted-file-after\n" {
		t.Errorf("completing 'metactl compact --remove-' gave %q", c)
	}
}

// TestLogFormatJSONCoversEverything: with --log-format json every line on
// stderr is a JSON record, warnings (level WARN) and the final error
// (level ERROR) included, so a log collector never meets a plain line.
func TestLogFormatJSONCoversEverything(t *testing.T) {
	t.Parallel()
	s := writeStorage(t, map[string]string{
		"metadata/transaction_0-9.meta": `{"TransactionBackup":{"first_version":0,"last_version":9,"manifest":"t/m"}}` + "\n",
		"metadata/empty.meta":           "",
	})
	cat := filepath.Join(t.TempDir(), "c.db")
	records := func(r result) map[string][]string {
		t.Helper()
		byLevel := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
			var rec struct{ Time, Level, Msg string }
			if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Time == "" || rec.Level == "" {
				t.Errorf("stderr line is not a JSON log record: %q (%v)", line, err)
				continue
			}
			byLevel[rec.Level] = append(byLevel[rec.Level], rec.Msg)
		}
		return byLevel
	}
	got := records(must(t, cat, nil, "--log-format", "json", "import", "--local-fs-dir", s))
	want := "metadata/empty.meta: empty file (0 bytes): it holds no entry; Aptos never writes one (a failed upload?)"
	if !slices.Equal(got["WARN"], []string{want}) {
		t.Errorf("import warnings as JSON records: %q, want [%q]", got["WARN"], want)
	}
	r := metactl(t, filepath.Join(t.TempDir(), "nope.db"), nil, "--log-format", "json", "status")
	got = records(r)
	if r.code != 6 || len(got["ERROR"]) != 1 || !strings.Contains(got["ERROR"][0], "catalog does not exist") {
		t.Errorf("status on a missing catalog: %s\nwant exit 6 and one ERROR record", r)
	}
	// Text stays text. (--full: an incremental import does not read a
	// known file again, so it has nothing new to warn about.)
	r = metactl(t, cat, nil, "import", "--full", "--local-fs-dir", s)
	if !strings.Contains(r.stderr, "metactl: warning: "+want+"\n") {
		t.Errorf("text warning: %s", r)
	}
}
