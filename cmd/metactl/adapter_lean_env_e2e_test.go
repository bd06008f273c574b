//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdapterLeanEnv: a generated config runs metactl-adapter with
// GOMAXPROCS=1 (a call on one P starts no second scheduler thread), and
// what metactl-adapter runs gets the caller's environment back: the
// wrapped storage's command of a data call (create_backup), and metactl
// with the wrapped command of a write's write-through
// (save_metadata_line), with GOMAXPROCS unset, set, and set empty by the
// caller; the marker variable never reaches them.
func TestAdapterLeanEnv(t *testing.T) {
	t.Parallel()
	buildLean(t)
	tmp := t.TempDir()
	cat := asFile(filepath.Join(tmp, "c.db"))
	dir := smallStorage(t)
	must(t, cat, nil, "import", "--local-fs-dir", dir)
	report := `echo "GOMAXPROCS=${GOMAXPROCS-unset} marker=${METACTL_ADAPTER_CALLER_GOMAXPROCS-unset}" >"$FOLDER/env-$1"`
	bucket := filepath.Join(tmp, "bucket.yaml")
	writeTextFile(t, bucket, `env_vars:
  - key: FOLDER
    value: '`+dir+`'
commands:
  create_backup: |
    set -- create_backup; `+report+`
    mkdir -p "$FOLDER/$BACKUP_NAME"
    echo "$BACKUP_NAME"
  create_for_write: |
    FILE_HANDLE="$BACKUP_HANDLE/$FILE_NAME"
    echo "$FILE_HANDLE"
    exec 1>&-
    cat > "$FOLDER/$FILE_HANDLE"
  open_for_read: |
    cat "$FOLDER/$FILE_HANDLE"
  save_metadata_line: |
    set -- save_metadata_line; `+report+`
    FILE_HANDLE="metadata/$FILE_NAME"
    echo "$FILE_HANDLE"
    exec 1>&-
    cat > "$FOLDER/$FILE_HANDLE"
  list_metadata_files: |
    (ls "$FOLDER/metadata" || :) | sed -e 's#^#metadata/#'
  backup_metadata_file: |
    mkdir -p "$FOLDER/metadata_backup"
    mv "$FOLDER/metadata/$FILE_NAME" "$FOLDER/metadata_backup/$FILE_NAME"
`)
	c := bridgeConfig(t, cat, "--command-adapter-config", bucket)
	if cmd := c.ca.Command("open_for_read"); !strings.HasPrefix(cmd, leanExec(cat)+" ") {
		t.Fatalf("open_for_read: %q", cmd)
	}
	var base []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "GOMAXPROCS" && k != "METACTL_ADAPTER_CALLER_GOMAXPROCS" {
			base = append(base, kv)
		}
	}
	base = append(base, c.env...)
	for i, tc := range []struct {
		caller []string // the caller's GOMAXPROCS
		want   string
	}{
		{nil, "GOMAXPROCS=unset marker=unset"},
		{[]string{"GOMAXPROCS=3"}, "GOMAXPROCS=3 marker=unset"},
		{[]string{"GOMAXPROCS="}, "GOMAXPROCS=unset marker=unset"},
	} {
		first := 4501 + 10*i
		for _, call := range []struct {
			name  string
			vars  []string
			stdin string
		}{
			{"create_backup", []string{"BACKUP_NAME=backup_" + itoa(uint64(i))}, ""},
			{"save_metadata_line", []string{"FILE_NAME=transaction_" + itoa(uint64(first)) + "-" + itoa(uint64(first+1)) + ".meta"},
				bridgeTxnLine(first, first+1, "ab"+itoa(uint64(i)))},
		} {
			os.Remove(filepath.Join(dir, "env-"+call.name))
			cmd := exec.Command("bash", "-c", "set -o nounset -o errexit -o pipefail; "+c.ca.Command(call.name))
			cmd.Env = append(append(append([]string{}, base...), tc.caller...), call.vars...)
			cmd.Stdin = strings.NewReader(call.stdin)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v %s: %v: %s", tc.caller, call.name, err, errb.String())
			}
			got, err := os.ReadFile(filepath.Join(dir, "env-"+call.name))
			if err != nil {
				t.Fatalf("%v %s: the wrapped command did not run: %v", tc.caller, call.name, err)
			}
			if strings.TrimSpace(string(got)) != tc.want {
				t.Errorf("caller %v, %s: the wrapped command saw %q, want %q", tc.caller, call.name, got, tc.want)
			}
		}
	}
}
