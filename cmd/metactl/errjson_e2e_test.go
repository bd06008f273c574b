package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metactl/metactl/api"
)

// TestJSONErrorDocument pins the --json error document
// (testdata/golden/json-error.json): for each kind of failure, stdout holds
// exactly one {"error": {...}} whose exit equals the process's exit code and
// whose message is the stderr text without "metactl: ".
func TestJSONErrorDocument(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	cat := filepath.Join(work, "c.db")
	bad := writeStorage(t, map[string]string{
		"metadata/transaction_0-0.meta":  `{"TransactionBackup":{"first_version":0,"last_version":0}}` + "\n",
		"metadata/epoch_ending_9-9.meta": `{"EpochEndingBackup":{"first_epoch":9,"last_epoch":8,"first_version":1,"last_version":2,"manifest":"e/m"}}` + "\n",
	})
	cases := []struct {
		name string
		exit int
		args []string
	}{
		{"unknown flag", 2, []string{"status", "--bogus"}},
		{"bad factor", 2, []string{"compact", "--transaction-file-compact-factor", "0"}},
		{"no catalog", 6, []string{"status"}},
		{"invalid input", 3, []string{"import", "--local-fs-dir", bad}},
	}
	var all strings.Builder
	for _, c := range cases {
		r := metactl(t, cat, nil, append([]string{"--json"}, c.args...)...)
		if r.code != c.exit {
			t.Errorf("%s: exit %d, want %d\n%s", c.name, r.code, c.exit, r)
			continue
		}
		var doc map[string]json.RawMessage
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		if err := dec.Decode(&doc); err != nil || dec.More() || len(doc) != 1 || doc["error"] == nil {
			t.Errorf("%s: stdout is not one error document (%v):\n%s", c.name, err, r.stdout)
			continue
		}
		var body errorBody
		if err := json.Unmarshal(doc["error"], &body); err != nil {
			t.Fatal(err)
		}
		if body.Exit != r.code || body.Code != api.ErrorCodes[r.code] {
			t.Errorf("%s: exit %d code %q in the document, process exit %d", c.name, body.Exit, body.Code, r.code)
		}
		if first, _, _ := strings.Cut(r.stderr, "\n"); !strings.HasPrefix(first, "metactl: ") ||
			!strings.HasPrefix(body.Message, strings.TrimPrefix(first, "metactl: ")) {
			t.Errorf("%s: message %q does not match stderr %q", c.name, body.Message, r.stderr)
		}
		all.WriteString("# " + c.name + "\n" + r.stdout)
	}
	golden(t, "json-error.json", strings.ReplaceAll(strings.ReplaceAll(all.String(), bad, "$STORAGE"), work, "$WORK"))
}
