package main

import (
	"github.com/metactl/metactl/internal/etcdtest"

	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// binary is the metactl built once for all end-to-end tests: they run the
// real program in real processes.
var binary string

func TestMain(m *testing.M) {
	etcdtest.RunMemberIfAsked() // a member process of TestEtcdMemberLoss
	flag.Parse()
	// The end-to-end tests marked t.Parallel wait on child processes (the
	// binary, bash, sleeps), not on this process: run more of them at once
	// than -parallel's default (GOMAXPROCS, 2 on the CI machine), unless
	// -parallel is given. Against etcd (METACTL_TEST_BACKEND=etcd, the
	// second pass of .ci/run) one at a time, as before they were marked:
	// every test's writers hold 2s leases on the one in-process member.
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		n := "4"
		if os.Getenv(backendEnv) == "etcd" {
			n = "1"
		}
		flag.Set("test.parallel", n)
	}
	dir, err := os.MkdirTemp("", "metactl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The go builds of the tests (this one, the lean adapter's) keep the
	// shared build cache, which XDG_CACHE_HOME below would move to an
	// empty folder (a build of every dependency, over a minute of CPU).
	if os.Getenv("GOCACHE") == "" {
		if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
			os.Setenv("GOCACHE", strings.TrimSpace(string(out)))
		}
	}
	// etcd writers keep their local copies in the user's cache folder
	// (catalog/etcdstore/cache.go): a private one, for every process.
	os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	// The adapter servers that bridge calls on etcd catalogs start
	// (internal/adaptersrv) live in a private folder, exit soon when
	// idle, and are stopped at the end.
	os.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
	os.Setenv("METACTL_ADAPTER_SERVER_IDLE", "10s")
	binary = filepath.Join(dir, "metactl")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build metactl:", err)
		os.Exit(1)
	}
	if err := startBackend(); err != nil {
		fmt.Fprintln(os.Stderr, "start the catalog backend:", err)
		os.Exit(1)
	}
	code := m.Run()
	stopAdapterServers(filepath.Join(dir, "run", "metactl"))
	stopOwnEtcd()
	stopBackend()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one finished metactl process.
type result struct {
	stdout, stderr string
	code           int
	// took is the process's run, from its start to its exit: what the
	// benchmarks report (not the checks of its output after it).
	took time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// metactl runs the binary with the given catalog and extra environment
// ("K=V" strings) and waits for it.
func metactl(t testing.TB, catalogPath string, env []string, args ...string) result {
	t.Helper()
	return metactlIn(t, "", catalogPath, env, args...)
}

// metactlIn is metactl run in the working folder dir ("" for the test's).
// An empty catalogPath leaves METACTL_CATALOG empty, so the default
// catalog path applies.
func metactlIn(t testing.TB, dir, catalogPath string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "METACTL_CATALOG="+catalogLocation(catalogPath))
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run metactl %v: %v", args, err)
	}
	for _, f := range textFaults(out.String(), errb.String()) {
		t.Errorf("metactl %q printed a faulty text: %s", args, f)
	}
	return result{out.String(), errb.String(), code, took}
}

// must runs metactl and fails the test unless it exits 0.
func must(t testing.TB, catalogPath string, env []string, args ...string) result {
	t.Helper()
	r := metactl(t, catalogPath, env, args...)
	if r.code != 0 {
		t.Fatalf("metactl %s: %s", strings.Join(args, " "), r)
	}
	return r
}

func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	got = backendNeutral(got)
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden file (run with -update if intended)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestSampleGolden(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	sample := filepath.Join(repoRoot(t), "testdata", "sample")
	// An empty catalog reads as Aptos's empty view.
	must(t, cat, nil, "import", "--local-fs-dir", emptyStorage(t))
	golden(t, "status-empty.txt", must(t, cat, nil, "status").stdout)

	r := must(t, cat, nil, "import", "--local-fs-dir", sample)
	if !strings.Contains(r.stdout, "96 files") {
		t.Errorf("import summary: %s", r.stdout)
	}
	golden(t, "status.txt", must(t, cat, nil, "status").stdout)
	golden(t, "ls.txt", must(t, cat, nil, "ls").stdout)
	golden(t, "read.txt", must(t, cat, nil, "read", "metadata/identity.meta", "epoch_ending_3-3.meta",
		"metadata/state_snapshot_ver_0.meta", "metadata/transaction_1-1000000.meta").stdout)

	// The gzip copy of the sample (bucket style) gives the same catalog view.
	cat2 := filepath.Join(t.TempDir(), "c.db")
	must(t, cat2, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample-gzip"))
	if a, b := must(t, cat, nil, "status", "--json").stdout, must(t, cat2, nil, "status", "--json").stdout; a != b {
		t.Errorf("gzip sample differs:\n%s\n%s", a, b)
	}
	// Re-import changes nothing: same generation, same bytes.
	before := catalogBytes(t, cat)
	r = must(t, cat, nil, "import", "--local-fs-dir", sample)
	after := catalogBytes(t, cat)
	if !strings.Contains(r.stdout, "nothing changed (generation 1)") || !bytes.Equal(before, after) {
		t.Errorf("re-import changed the catalog: %s", r.stdout)
	}
}

func TestReadCompactedFileAndUnknownHandle(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	must(t, cat, []string{"METACTL_NOW=1700000000"}, "compact", "--epoch-ending-file-compact-factor", "10",
		"--state-snapshot-file-compact-factor", "10", "--transaction-file-compact-factor", "100")
	golden(t, "read-compacted.txt", must(t, cat, nil, "read", "metadata/epoch_ending_compacted_0-9.meta").stdout)
	r := metactl(t, cat, nil, "read", "metadata/nope.meta")
	if r.code != 6 || !strings.Contains(r.stderr, `file "metadata/nope.meta" is not in the catalog`) {
		t.Errorf("unknown handle: %s", r)
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cat := filepath.Join(dir, "c.db")
	cases := []struct {
		name string
		args []string
		code int
		text string
	}{
		{"no command", nil, 2, "expected one of"},
		{"unknown flag", []string{"status", "--bogus"}, 2, "unknown flag --bogus"},
		{"factor 0", []string{"compact", "--transaction-file-compact-factor", "0"}, 2, "compaction factors must be at least 1, got 0"},
		{"two sources", []string{"import", "--local-fs-dir", dir, "--archive", filepath.Join(repoRoot(t), "README.md")}, 2, "give exactly one source"},
		{"no catalog", []string{"status"}, 6, "catalog does not exist"},
		{"bad older-than", []string{"cleanup", "--older-than", "soon"}, 2, `--older-than: duration "soon": want seconds`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := metactl(t, cat, nil, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.text) {
				t.Fatalf("want exit %d with %q, got %s", tc.code, tc.text, r)
			}
		})
	}
	if catalogExists(t, cat) {
		t.Error("a failed command created the catalog")
	}
}

func writeStorage(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestImportBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	before := catalogBytes(t, cat)
	bad := writeStorage(t, map[string]string{
		"metadata/transaction_0-0.meta":  `{"TransactionBackup":{"first_version":0,"last_version":0}}` + "\n",
		"metadata/epoch_ending_9-9.meta": `{"EpochEndingBackup":{"first_epoch":9,"last_epoch":8,"first_version":1,"last_version":2,"manifest":"e/m"}}` + "\n",
		"metadata/transaction_5-6.meta":  `{"TransactionBackup":{"first_version":5,"last_version":6,"manifest":"t/m"}}` + "\n\n" + `{"TransactionBackupRange":{}}` + "\n",
		"metadata/state_snapshot_1.meta": `{"StateSnapshotBackup":{"epoch":1,"version":2,"manifest":"../etc/passwd"}}` + "\n",
		"metadata/transaction_7-7.meta":  `{"TransactionBackup":{"first_version":7,"last_version":7,"manifest":"t/m"}}` + "\n",
		"metadata_backup/identity2.meta": `{"Identity":{"id":"00"}}` + "\n",
	})
	r := metactl(t, cat, nil, "import", "--local-fs-dir", bad)
	if r.code != 3 {
		t.Fatalf("want exit 3: %s", r)
	}
	for _, want := range []string{
		"import metadata/transaction_0-0.meta:1:57: missing field `manifest`",
		"import metadata/epoch_ending_9-9.meta:1: first_epoch 9 > last_epoch 8",
		"import metadata/transaction_5-6.meta:2:1: EOF while parsing a value",
		"import metadata/transaction_5-6.meta:3:2: unknown variant `TransactionBackupRange`",
		"import metadata/state_snapshot_1.meta:1: manifest \"../etc/passwd\" has a \"..\" segment",
		"import metadata_backup/identity2.meta:1:19: id: invalid value: want 64 hex digits",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	after := catalogBytes(t, cat)
	if !bytes.Equal(before, after) {
		t.Error("a refused import changed the catalog file")
	}
}

// TestLockTimeoutAcrossProcesses holds the write lock in one metactl
// process (a failpoint stalls it inside its transaction) while another one
// reads: with a short --lock-timeout the reader exits 5 naming the holder;
// with a long one it waits and then sees the writer's commit.
func TestLockTimeoutAcrossProcesses(t *testing.T) {
	cat := filepath.Join(t.TempDir(), "c.db")
	sample := filepath.Join(repoRoot(t), "testdata", "sample")
	must(t, cat, nil, "import", "--local-fs-dir", emptyStorage(t))

	writer := exec.Command(binary, "import", "--local-fs-dir", sample)
	writer.Env = append(os.Environ(), "METACTL_CATALOG="+catalogLocation(cat), "METACTL_FAILPOINT=import.after-put=sleep:3s")
	var wout bytes.Buffer
	writer.Stdout, writer.Stderr = &wout, &wout
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	defer writer.Process.Kill()
	// Wait until the writer holds the lock (its holder record appears).
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b := lockRecord(t, cat); bytes.Contains(b, []byte(`"pid":`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writer never took the lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	busyCmd := []string{"--lock-timeout", "300ms", "status"}
	if useEtcd() {
		// etcd readers never wait for a writer: they read the current
		// generation at one revision. A second writer does wait.
		r := must(t, cat, nil, "--lock-timeout", "300ms", "status")
		if !strings.Contains(r.stdout, "latest_transaction_version: none") {
			t.Errorf("a reader during the write did not see the before-state: %s", r)
		}
		start = time.Now()
		busyCmd = []string{"--lock-timeout", "300ms", "cleanup", "--older-than", "1h"}
	}
	r := metactl(t, cat, nil, busyCmd...)
	waited := time.Since(start)
	wantHolder := fmt.Sprintf("held by pid %d, \"metactl import\"", writer.Process.Pid)
	if r.code != 5 || !strings.Contains(r.stderr, wantHolder) {
		t.Fatalf("short timeout: want exit 5 naming %q, got %s", wantHolder, r)
	}
	if waited > 2500*time.Millisecond {
		t.Errorf("reader waited %v with a 300ms timeout", waited)
	}
	if useEtcd() {
		// The waiting process is a second writer (readers do not wait).
		must(t, cat, nil, "--lock-timeout", "20s", "cleanup", "--older-than", "1h")
	}
	r = must(t, cat, nil, "--lock-timeout", "20s", "status")
	if err := writer.Wait(); err != nil {
		t.Fatalf("writer: %v\n%s", err, wout.String())
	}
	if !strings.Contains(r.stdout, "latest_transaction_version: 58000000") {
		t.Errorf("waiting reader did not see the writer's commit: %s", r)
	}
}

// TestDamagedCatalogNeverCrashes runs read commands on damaged files: each
// exits 1 with a hint, none panics.
func TestDamagedCatalogNeverCrashes(t *testing.T) {
	t.Parallel()
	fileBackendOnly(t, "damages the catalog file's bytes")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	must(t, good, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	content, _ := os.ReadFile(good)
	middle := bytes.Clone(content)
	for i := 4 * 4096; i < len(middle); i++ {
		middle[i] = byte(i * 7)
	}
	cases := map[string][]byte{
		"truncated-8k":   content[:8192],
		"truncated-half": content[:len(content)/2],
		"zeroed":         make([]byte, len(content)),
		"garbage-pages":  middle,
		"text":           []byte("not a catalog\n"),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".db")
			os.WriteFile(p, data, 0o600)
			for _, args := range [][]string{{"status"}, {"ls"}, {"verify"}, {"compact"}} {
				r := metactl(t, p, nil, args...)
				if r.code == 0 || strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine") {
					if !(args[0] == "verify" && r.code == 4) {
						t.Fatalf("%v on %s: %s", args, name, r)
					}
				}
				if r.code == 1 && !strings.Contains(r.stderr, "catalog file is damaged") {
					t.Errorf("%v on %s: no damage message: %s", args, name, r)
				}
			}
		})
	}
}

// TestInterruptRollsBack sends SIGINT to an import stalled inside its
// transaction: it must exit 130 and leave the catalog as it was.
func TestInterruptRollsBack(t *testing.T) {
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", emptyStorage(t))
	before := catalogBytes(t, cat)
	cmd := exec.Command(binary, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	cmd.Env = append(os.Environ(), "METACTL_CATALOG="+catalogLocation(cat), "METACTL_FAILPOINT=import.after-put=sleep:1s")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b := lockRecord(t, cat); bytes.Contains(b, []byte(`"pid":`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("import never took the lock")
		}
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("want exit 130, got %v: %s", err, out.String())
	}
	after := catalogBytes(t, cat)
	if !bytes.Equal(before, after) {
		t.Error("an interrupted import changed the catalog")
	}
	if r := must(t, cat, nil, "status", "--json"); !strings.Contains(r.stdout, `"generation": 0`) {
		t.Errorf("status after interrupt: %s", r.stdout)
	}
}
