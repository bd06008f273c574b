//go:build unix

package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metactl/metactl/storage"
)

// The command-adapter bridge (docs/aptos-bridge.md), driven exactly as
// Aptos drives a command-adapter config: each call is
// `bash -c "set -o nounset -o errexit -o pipefail; CMD"` with the call's
// variables in the environment (docs/aptos-format.md §9.2).

// plainFolderConfig is a local-folder command-adapter config of the kind
// Aptos's samples are: one bash command per call, a `cat` per file, over
// the LocalFs layout of folder (metadata/, metadata_backup/, backups).
// With gzip it stores every object gzip-compressed, as the bucket samples
// do.
func plainFolderConfig(t testing.TB, folder string, gzip bool) string {
	t.Helper()
	put, get := "cat", "cat"
	if gzip {
		put, get = "gzip -c", "gzip -cd"
	}
	cfg := `env_vars:
  - key: FOLDER
    value: '` + folder + `'
commands:
  create_backup: |
    mkdir -p "$FOLDER/$BACKUP_NAME"
    echo "$BACKUP_NAME"
  create_for_write: |
    FILE_HANDLE="$BACKUP_HANDLE/$FILE_NAME"
    echo "$FILE_HANDLE"
    exec 1>&-
    ` + put + ` > "$FOLDER/$FILE_HANDLE"
  open_for_read: |
    ` + get + ` "$FOLDER/$FILE_HANDLE"
  save_metadata_line: |
    FILE_HANDLE="metadata/$FILE_NAME"
    echo "$FILE_HANDLE"
    exec 1>&-
    mkdir -p "$FOLDER/metadata"
    ` + put + ` > "$FOLDER/$FILE_HANDLE"
  list_metadata_files: |
    (ls "$FOLDER/metadata" || :) | sed -e 's#^#metadata/#'
  backup_metadata_file: |
    mkdir -p "$FOLDER/metadata_backup"
    mv "$FOLDER/metadata/$FILE_NAME" "$FOLDER/metadata_backup/$FILE_NAME"
`
	path := filepath.Join(t.TempDir(), "bucket.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// aptosConfig is a command-adapter config as Aptos loads it.
type aptosConfig struct {
	t   testing.TB
	ca  *storage.CommandAdapter
	env []string
}

func loadAptosConfig(t testing.TB, path string) *aptosConfig {
	t.Helper()
	ca, err := storage.LoadCommandAdapter(path)
	if err != nil {
		t.Fatal(err)
	}
	c := &aptosConfig{t: t, ca: ca}
	for _, e := range ca.Config().EnvVars {
		c.env = append(c.env, e.Key+"="+e.Value)
	}
	return c
}

// call runs one call as Aptos does, returning stdout, stderr and the exit
// status.
func (c *aptosConfig) call(name string, vars []string, stdin []byte) (stdout, stderr []byte, code int) {
	c.t.Helper()
	cmd := exec.Command("bash", "-c", "set -o nounset -o errexit -o pipefail; "+c.ca.Command(name))
	cmd.Env = append(append(os.Environ(), c.env...), vars...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("run %s: %v", name, err)
	}
	return out.Bytes(), errb.Bytes(), code
}

// mustCall is call that fails the test unless the call exits 0.
func (c *aptosConfig) mustCall(name string, vars []string, stdin []byte) []byte {
	c.t.Helper()
	out, errb, code := c.call(name, vars, stdin)
	if code != 0 {
		c.t.Fatalf("%s %v: exit %d: %s", name, vars, code, errb)
	}
	return out
}

// copySample copies the shipped sample storage into a new folder.
func copySample(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "storage")
	if out, err := exec.Command("cp", "-r", filepath.Join(repoRoot(t), "testdata", "sample"), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	os.Remove(filepath.Join(dir, "README.md"))
	return dir
}

var (
	leanOnce sync.Once
	leanErr  error
)

// buildLean builds cmd/metactl-adapter beside the test's metactl, where
// adapter-config looks for it.
func buildLean(t testing.TB) {
	t.Helper()
	leanOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", filepath.Join(filepath.Dir(binary), "metactl-adapter"), "../metactl-adapter").CombinedOutput()
		if err != nil {
			leanErr = fmt.Errorf("build metactl-adapter: %v: %s", err, out)
		}
	})
	if leanErr != nil {
		t.Fatal(leanErr)
	}
}

// leanOrFull is the binary a generated config runs for a catalog at loc:
// metactl-adapter, for a catalog file itself, for any other through the
// adapter server.
func leanOrFull(loc string) string {
	return filepath.Join(filepath.Dir(binary), "metactl-adapter")
}

// leanExec is how a generated config's command starts leanOrFull(loc):
// with GOMAXPROCS=1, the caller's value kept for what metactl-adapter runs.
func leanExec(loc string) string {
	return "METACTL_ADAPTER_CALLER_GOMAXPROCS=${GOMAXPROCS-} GOMAXPROCS=1 exec " + leanOrFull(loc)
}

// bridgeConfig writes a bridge config with adapter-config and loads it.
func bridgeConfig(t testing.TB, cat string, storageArgs ...string) *aptosConfig {
	t.Helper()
	buildLean(t)
	path := filepath.Join(t.TempDir(), "bridge.yaml")
	must(t, cat, nil, append(append([]string{"adapter-config"}, storageArgs...), "-o", path)...)
	return loadAptosConfig(t, path)
}

func lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestAdapterConfigShape(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "it's a catalog.db")
	storageDir := copySample(t)
	must(t, cat, nil, "import", "--local-fs-dir", storageDir)
	bucket := plainFolderConfig(t, storageDir, false)
	buildLean(t)
	out := must(t, cat, nil, "adapter-config", "--command-adapter-config", bucket).stdout
	ca, err := storage.ParseCommandAdapter([]byte(out))
	if err != nil {
		t.Fatalf("the generated config does not parse: %v\n%s", err, out)
	}
	if len(ca.Config().EnvVars) != 0 {
		t.Errorf("env_vars: %v", ca.Config().EnvVars)
	}
	loc := catalogLocation(cat)
	for _, call := range []string{"create_backup", "create_for_write", "open_for_read", "save_metadata_line", "list_metadata_files", "backup_metadata_file"} {
		cmd := ca.Command(call)
		// On a catalog URL the read calls try the fast path first
		// (docs/aptos-bridge.md); the exec is the command's last line.
		fast := strings.Contains(loc, "://") && (call == "open_for_read" || call == "list_metadata_files")
		if fast != strings.Contains(cmd, "\nmetactl_fast r") {
			t.Errorf("%s: fast path %v, want %v: %q", call, !fast, fast, cmd)
		}
		if !strings.HasPrefix(lastLine(cmd), leanExec(loc)+" ") || !strings.HasSuffix(strings.TrimSpace(cmd), " adapter --adapter-timeout 10m --command-adapter-config "+bucket+" "+call) {
			t.Errorf("%s: %q", call, cmd)
		}
		if !strings.Contains(loc, "://") && !strings.Contains(cmd, `'`+strings.ReplaceAll(loc, "'", `'\''`)+`'`) {
			t.Errorf("%s: catalog not quoted: %q", call, cmd)
		}
	}
	// The catalog path with a quote in it survives bash.
	c := bridgeConfig(t, cat, "--command-adapter-config", bucket)
	if got := lines(c.mustCall("list_metadata_files", nil, nil)); len(got) != 96 {
		t.Errorf("listed %d files, want 96", len(got))
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"adapter-config"}, 2, "give the storage to wrap"},
		{[]string{"adapter-config", "--local-fs-dir", storageDir, "--command-adapter-config", bucket}, 2, "give one of --local-fs-dir and --command-adapter-config, not both"},
		{[]string{"adapter-config", "--local-fs-dir", filepath.Join(storageDir, "metadata")}, 3, "it is the metadata/ folder itself"},
	} {
		r := metactl(t, cat, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: %s; want exit %d and %q", tc.args, r, tc.code, tc.want)
		}
	}
}

// TestAdapterBridgeReads: list_metadata_files lists the catalog's live
// files; open_for_read serves live files, moved ones, and files an undo
// deleted; an unknown handle fails naming it.
func TestAdapterBridgeReads(t *testing.T) {
	t.Parallel()
	for _, wrap := range []string{"--local-fs-dir", "--command-adapter-config"} {
		t.Run(wrap, func(t *testing.T) {
			t.Parallel()
			cat := filepath.Join(t.TempDir(), "c.db")
			storageDir := copySample(t)
			must(t, cat, nil, "import", "--local-fs-dir", storageDir)
			target := storageDir
			if wrap == "--command-adapter-config" {
				target = plainFolderConfig(t, storageDir, false)
			}
			c := bridgeConfig(t, cat, wrap, target)
			want, err := os.ReadDir(filepath.Join(storageDir, "metadata"))
			if err != nil {
				t.Fatal(err)
			}
			listed := lines(c.mustCall("list_metadata_files", nil, nil))
			if len(listed) != len(want) || !slices.IsSorted(listed) {
				t.Fatalf("listed %d files (sorted %v), want %d", len(listed), slices.IsSorted(listed), len(want))
			}
			for i, e := range want {
				if i%4 != 0 {
					continue // a quarter keeps the test quick; the proof test opens them all
				}
				h := "metadata/" + e.Name()
				got := c.mustCall("open_for_read", []string{"FILE_HANDLE=" + h}, nil)
				raw, _ := os.ReadFile(filepath.Join(storageDir, h))
				if !bytes.Equal(got, raw) {
					t.Fatalf("open_for_read %s: %q, want %q", h, got, raw)
				}
			}
			out, errb, code := c.call("open_for_read", []string{"FILE_HANDLE=metadata/nope_0-0.meta"}, nil)
			if code != 6 || len(out) != 0 || !strings.Contains(string(errb), `"metadata/nope_0-0.meta" is not in the catalog`) {
				t.Errorf("unknown handle: exit %d, stdout %q, stderr %q", code, out, errb)
			}

			// Compact at t, then at t+100 with a grace of 10 s: the
			// second run moves the originals.
			compact := []string{"compact", "--transaction-file-compact-factor", "10", "--epoch-ending-file-compact-factor", "10", "--remove-compacted-file-after", "10"}
			must(t, cat, []string{"METACTL_NOW=1700000000"}, compact...)
			listedCompacted := lines(c.mustCall("list_metadata_files", nil, nil))
			must(t, cat, []string{"METACTL_NOW=1700000100"}, compact...)
			afterMove := lines(c.mustCall("list_metadata_files", nil, nil))
			if len(afterMove) >= len(listedCompacted) {
				t.Fatalf("the second compaction moved nothing: %d then %d live", len(listedCompacted), len(afterMove))
			}
			// Every file of the older listing still opens, moved or not.
			for i, h := range listed {
				if i%4 != 1 {
					continue
				}
				got := c.mustCall("open_for_read", []string{"FILE_HANDLE=" + h}, nil)
				raw, _ := os.ReadFile(filepath.Join(storageDir, h))
				if !bytes.Equal(got, raw) {
					t.Fatalf("moved %s: %q, want %q", h, got, raw)
				}
			}
			// Undo both compactions: the compacted files are deleted, and
			// a client that listed them still reads them.
			must(t, cat, nil, "undo", "3")
			must(t, cat, nil, "undo", "2")
			for _, h := range listedCompacted {
				if got := c.mustCall("open_for_read", []string{"FILE_HANDLE=" + h}, nil); len(got) == 0 {
					t.Fatalf("%s: empty", h)
				}
			}
			if got := lines(c.mustCall("list_metadata_files", nil, nil)); !slices.Equal(got, listed) {
				t.Fatalf("after the undos: %d live, want the %d first listed", len(got), len(listed))
			}
		})
	}
}

// TestAdapterBridgeDataPassthrough: data files go through the wrapped
// storage's own commands: the same handles, bytes, stderr and exit
// status as calling that storage directly.
func TestAdapterBridgeDataPassthrough(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	storageDir := copySample(t)
	must(t, cat, nil, "import", "--local-fs-dir", storageDir)
	bucket := loadAptosConfig(t, plainFolderConfig(t, storageDir, true))
	for _, wrap := range []string{"--command-adapter-config", "--local-fs-dir"} {
		t.Run(wrap, func(t *testing.T) {
			arg := storageDir
			if wrap == "--command-adapter-config" {
				arg = plainFolderConfig(t, storageDir, true)
			}
			c := bridgeConfig(t, cat, wrap, arg)
			name := "transaction_100-.ab" + strings.TrimPrefix(wrap, "--")[:2]
			backup := string(bytes.TrimSpace(c.mustCall("create_backup", []string{"BACKUP_NAME=" + name}, nil)))
			if backup != name {
				t.Fatalf("create_backup: handle %q, want %q", backup, name)
			}
			data := make([]byte, 300<<10)
			rand.Read(data)
			handle := string(bytes.TrimSpace(c.mustCall("create_for_write", []string{"BACKUP_HANDLE=" + backup, "FILE_NAME=0-.chunk"}, data)))
			if handle != backup+"/0-.chunk" {
				t.Fatalf("create_for_write: handle %q", handle)
			}
			got := c.mustCall("open_for_read", []string{"FILE_HANDLE=" + handle}, nil)
			if !bytes.Equal(got, data) {
				t.Fatalf("open_for_read of a data file: %d bytes back, want the %d written", len(got), len(data))
			}
			if wrap == "--command-adapter-config" {
				// The object in the bucket is what the bucket's own
				// command wrote (gzip), read back the same way directly.
				direct := bucket.mustCall("open_for_read", []string{"FILE_HANDLE=" + handle}, nil)
				if !bytes.Equal(direct, data) {
					t.Fatal("the bucket's own open_for_read disagrees")
				}
				// A failing command: same exit status and stderr.
				dOut, dErr, dCode := bucket.call("open_for_read", []string{"FILE_HANDLE=" + backup + "/missing"}, nil)
				bOut, bErr, bCode := c.call("open_for_read", []string{"FILE_HANDLE=" + backup + "/missing"}, nil)
				if dCode == 0 || bCode != dCode || !bytes.Equal(bErr, dErr) || !bytes.Equal(bOut, dOut) {
					t.Errorf("failing data read: bridge exit %d stderr %q stdout %q; direct exit %d stderr %q stdout %q", bCode, bErr, bOut, dCode, dErr, dOut)
				}
			} else {
				raw, _ := os.ReadFile(filepath.Join(storageDir, handle))
				if !bytes.Equal(raw, data) {
					t.Fatal("LocalFs: the file in the folder differs")
				}
				if _, _, code := c.call("open_for_read", []string{"FILE_HANDLE=../etc/passwd"}, nil); code == 0 {
					t.Error("a handle leaving the folder was read")
				}
			}
			if wrap == "--command-adapter-config" {
				// A wrapped command that hangs is killed after
				// --adapter-timeout, with its process group.
				hang := strings.Replace(readFile(t, arg), `gzip -cd "$FOLDER/$FILE_HANDLE"`, `sleep 600 | cat`, 1)
				hung := filepath.Join(t.TempDir(), "hung.yaml")
				writeTextFile(t, hung, hang)
				hc := bridgeConfig(t, cat, wrap, hung, "--adapter-timeout", "1s")
				start := time.Now()
				_, errb, code := hc.call("open_for_read", []string{"FILE_HANDLE=" + handle}, nil)
				if code == 0 || time.Since(start) > 30*time.Second || !strings.Contains(string(errb), "within 1s") {
					t.Errorf("hung data read: exit %d after %s: %s", code, time.Since(start), errb)
				}
			}
			// A missing variable is refused as Aptos's nounset would.
			if _, errb, code := c.call("open_for_read", nil, nil); code == 0 || !strings.Contains(string(errb), "FILE_HANDLE is not set") {
				t.Errorf("no FILE_HANDLE: exit %d, %s", code, errb)
			}
		})
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeTextFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAdapterLeanAndFullAgree: metactl-adapter and 'metactl adapter' give
// the same bytes, stderr and exit status for the same command line: the
// calls the lean binary answers itself (the reads, the data calls), those
// it hands to metactl (the writes, a catalog location that is not a
// catalog file, an unknown handle), and a wrapped config that does not
// load, which only the calls that use the storage read.
func TestAdapterLeanAndFullAgree(t *testing.T) {
	t.Parallel()
	buildLean(t)
	tmp := t.TempDir()
	cat := asFile(filepath.Join(tmp, "c.db"))
	dir := smallStorage(t)
	must(t, cat, nil, "import", "--local-fs-dir", dir)
	arc := filepath.Join(tmp, "c.mcar")
	must(t, cat, nil, "export", "--archive", arc)
	if err := os.MkdirAll(filepath.Join(dir, "backup_1"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeTextFile(t, filepath.Join(dir, "backup_1", "chunk_0"), "data bytes\n")
	broken := filepath.Join(tmp, "broken.yaml")
	writeTextFile(t, broken, "commands: [not, a, map\n")
	local := []string{"--local-fs-dir", dir}
	bucket := []string{"--command-adapter-config", plainFolderConfig(t, dir, false)}
	someMeta := "FILE_HANDLE=metadata/epoch_ending_3-3.meta"
	lean := filepath.Join(filepath.Dir(binary), "metactl-adapter")
	for _, tc := range []struct {
		catalog string   // default: cat
		storage []string // default: local
		call    string
		vars    []string
		stdin   string
	}{
		{call: "list_metadata_files"},
		{call: "open_for_read", vars: []string{someMeta}},
		{call: "open_for_read", vars: []string{"FILE_HANDLE=metadata_backup/epoch_ending_3-3.meta"}},
		{call: "open_for_read", vars: []string{"FILE_HANDLE=metadata/nope_1-1.meta"}},
		{call: "open_for_read"},
		{call: "open_for_read", vars: []string{"FILE_HANDLE=backup_1/chunk_0"}},
		{call: "open_for_read", vars: []string{"FILE_HANDLE=backup_1/nope"}},
		{call: "open_for_read", vars: []string{"FILE_HANDLE=../outside"}},
		{call: "create_backup", vars: []string{"BACKUP_NAME=backup_2"}},
		{call: "create_backup"},
		{call: "nope"},
		{call: "save_metadata_line", vars: []string{"FILE_NAME=transaction_0-0.meta"}, stdin: bridgeTxnLine(0, 0, "ffff")},
		{call: "save_metadata_line", vars: []string{"FILE_NAME=transaction_4501-4502.meta"}, stdin: "{\"nope\":1}\n"},
		{call: "backup_metadata_file", vars: []string{"FILE_NAME=transaction_1-500.meta"}},
		// Not a catalog file: an archive (read-only work reads it), the
		// storage folder, a metadata file, nothing.
		{catalog: arc, call: "list_metadata_files"},
		{catalog: arc, call: "open_for_read", vars: []string{someMeta}},
		{catalog: dir, call: "list_metadata_files"},
		{catalog: filepath.Join(dir, "metadata", "epoch_ending_3-3.meta"), call: "open_for_read", vars: []string{someMeta}},
		{catalog: filepath.Join(tmp, "missing.db"), call: "list_metadata_files"},
		// A wrapped config that does not load: the metadata reads never
		// load it, the data calls fail on it.
		{storage: []string{"--command-adapter-config", broken}, call: "list_metadata_files"},
		{storage: []string{"--command-adapter-config", broken}, call: "open_for_read", vars: []string{someMeta}},
		{storage: []string{"--command-adapter-config", broken}, call: "open_for_read", vars: []string{"FILE_HANDLE=backup_1/chunk_0"}},
		{storage: []string{"--local-fs-dir", filepath.Join(tmp, "nosuch")}, call: "create_backup", vars: []string{"BACKUP_NAME=backup_3"}},
		// A bucket's config that loads: metactl-adapter answers the
		// metadata reads, and hands the data calls to metactl, which
		// parses the YAML; a failing command's exit status and stderr
		// come through.
		{storage: bucket, call: "open_for_read", vars: []string{someMeta}},
		{storage: bucket, call: "open_for_read", vars: []string{"FILE_HANDLE=backup_1/chunk_0"}},
		{storage: bucket, call: "open_for_read", vars: []string{"FILE_HANDLE=backup_1/nope"}},
		{storage: bucket, call: "create_backup", vars: []string{"BACKUP_NAME=backup_4"}},
		{storage: bucket, call: "create_backup"},
	} {
		c, st := tc.catalog, tc.storage
		if c == "" {
			c = cat
		}
		if st == nil {
			st = local
		}
		var got [2]string
		for i, bin := range []string{lean, binary} {
			args := append([]string{"--catalog", c, "--lock-timeout", "30s", "adapter", "--adapter-timeout", "10m"}, st...)
			cmd := exec.Command(bin, append(args, tc.call)...)
			cmd.Env = append(os.Environ(), tc.vars...)
			cmd.Stdin = strings.NewReader(tc.stdin)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			got[i] = fmt.Sprintf("exit %d\nstdout %q\nstderr %q", code, out.String(), errb.String())
		}
		if got[0] != got[1] {
			t.Errorf("--catalog %s %v %s %v:\nmetactl-adapter: %s\nmetactl adapter: %s", c, st, tc.call, tc.vars, got[0], got[1])
		}
	}
}
