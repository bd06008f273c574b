//go:build unix

package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metactl/metactl/internal/adaptersrv"
)

// The adapter server (internal/adaptersrv, docs/aptos-bridge.md): on an
// etcd catalog, metactl-adapter answers the read calls through a per-host
// server that the first call starts. These tests run the real binaries
// under bash against a real etcd member, each with a server folder of its
// own (XDG_RUNTIME_DIR).

// serverRun is a test's private server folder and the variables that
// select it.
type serverRun struct {
	t   *testing.T
	dir string // the servers' folder (adaptersrv.Dir under XDG_RUNTIME_DIR)
	env []string
}

func newServerRun(t *testing.T, extra ...string) *serverRun {
	t.Helper()
	// Short: a socket path must fit in 104 bytes.
	root, err := os.MkdirTemp("", "mas-")
	if err != nil {
		t.Fatal(err)
	}
	r := &serverRun{t: t, dir: filepath.Join(root, "metactl"), env: append([]string{"XDG_RUNTIME_DIR=" + root}, extra...)}
	t.Cleanup(func() {
		stopAdapterServers(r.dir)
		os.RemoveAll(root)
	})
	return r
}

// stopAdapterServers stops every server whose lock file in dir names a
// live pid, and waits (up to a minute) for it to exit.
func stopAdapterServers(dir string) {
	locks, _ := filepath.Glob(filepath.Join(dir, "*.lock"))
	for _, l := range locks {
		if pid := lockPID(l); pid > 0 {
			syscall.Kill(pid, syscall.SIGTERM)
			for i := 0; i < 600 && syscall.Kill(pid, 0) == nil; i++ {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

func lockPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// key returns the key of the one server the folder holds files of.
func (r *serverRun) key() string {
	r.t.Helper()
	socks, _ := filepath.Glob(filepath.Join(r.dir, "*.sock"))
	if len(socks) != 1 {
		r.t.Fatalf("want one server socket in %s, found %v", r.dir, socks)
	}
	return strings.TrimSuffix(filepath.Base(socks[0]), ".sock")
}

// waitUp waits until a server answers (a minute at most: it is started
// detached by a call and a failure would hang the test, not fail it on
// timing) and returns its status.
func (r *serverRun) waitUp(notPID int) adaptersrv.Status {
	r.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		socks, _ := filepath.Glob(filepath.Join(r.dir, "*.sock"))
		if len(socks) == 1 {
			key := strings.TrimSuffix(filepath.Base(socks[0]), ".sock")
			if st, err := adaptersrv.QueryStatus(r.dir, key, 10*time.Second); err == nil && st.PID != notPID {
				return st
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("no adapter server answered in %s within a minute", r.dir)
	return adaptersrv.Status{}
}

func (r *serverRun) status() adaptersrv.Status {
	r.t.Helper()
	st, err := adaptersrv.QueryStatus(r.dir, r.key(), 10*time.Second)
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

// etcdBridge imports a small storage into an etcd catalog of the test's
// own and writes its bridge config.
func etcdBridge(t *testing.T, r *serverRun) (cat, storageDir string, c *aptosConfig) {
	t.Helper()
	// A prefix of this run's own (the server folder's name), so -count
	// repeats start from an empty catalog.
	cat = etcdURL(t, testEtcd(t), filepath.Base(filepath.Dir(r.dir)), etcdOptions)
	storageDir = smallStorage(t)
	must(t, cat, nil, "import", "--local-fs-dir", storageDir)
	c = bridgeConfig(t, cat, "--local-fs-dir", storageDir)
	if !strings.Contains(c.ca.Command("open_for_read"), "metactl-adapter ") {
		t.Fatalf("the config does not run metactl-adapter: %s", c.ca.Command("open_for_read"))
	}
	c.env = append(c.env, r.env...)
	return cat, storageDir, c
}

// answer is one call's whole outcome.
func answerOf(out, errb []byte, code int) string {
	return "exit " + strconv.Itoa(code) + "\nstdout " + strconv.Quote(string(out)) + "\nstderr " + strconv.Quote(string(errb))
}

// TestAdapterServerAgrees: through the server, every read call answers
// what 'metactl adapter' answers in a process of its own: list, live,
// moved and deleted files, unknown handles, data files and a missing
// FILE_HANDLE; the server started by the first call answers the others.
func TestAdapterServerAgrees(t *testing.T) {
	r := newServerRun(t)
	cat, storageDir, c := etcdBridge(t, r)
	listed := lines(c.mustCall("list_metadata_files", nil, nil))
	// Compact twice (the second run moves the originals), then undo the
	// second compaction: its compacted files are deleted.
	compact := []string{"compact", "--transaction-file-compact-factor", "10", "--epoch-ending-file-compact-factor", "10", "--remove-compacted-file-after", "10"}
	must(t, cat, []string{"METACTL_NOW=1700000000"}, compact...)
	compacted := lines(c.mustCall("list_metadata_files", nil, nil))
	must(t, cat, []string{"METACTL_NOW=1700000100"}, compact...)
	must(t, cat, nil, "undo", "3")
	var deleted string
	for _, h := range compacted {
		if strings.Contains(h, "compacted") {
			deleted = h
		}
	}
	if deleted == "" {
		t.Fatalf("no compacted file listed: %v", compacted)
	}
	// A data file, which passes through to the storage.
	dataHandle := "backup_1/chunk_0"
	os.MkdirAll(filepath.Join(storageDir, "backup_1"), 0o755)
	if err := os.WriteFile(filepath.Join(storageDir, dataHandle), []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	st := r.waitUp(0)
	cases := []struct {
		call   string
		vars   []string
		served bool
	}{
		{"list_metadata_files", nil, true},
		{"open_for_read", []string{"FILE_HANDLE=" + listed[0]}, true}, // moved
		{"open_for_read", []string{"FILE_HANDLE=" + strings.Replace(listed[1], "metadata/", "metadata_backup/", 1)}, true}, // moved, as a legacy storage names it
		{"open_for_read", []string{"FILE_HANDLE=" + compacted[len(compacted)-1]}, true},
		{"open_for_read", []string{"FILE_HANDLE=" + deleted}, true},
		{"open_for_read", []string{"FILE_HANDLE=metadata/nope_0-0.meta"}, true},
		{"open_for_read", []string{"FILE_HANDLE=" + dataHandle}, false},
		{"open_for_read", []string{"FILE_HANDLE=nope/x"}, false},
		{"open_for_read", nil, false},
	}
	for _, tc := range cases {
		vars := append(append([]string{}, r.env...), tc.vars...)
		out, errb, code := c.call(tc.call, vars, nil)
		lean := answerOf(out, errb, code)
		full := exec.Command(binary, "--catalog", cat, "--lock-timeout", "30s", "adapter", "--adapter-timeout", "10m", "--local-fs-dir", storageDir, tc.call)
		full.Env = append(os.Environ(), vars...)
		var fo, fe bytes.Buffer
		full.Stdout, full.Stderr = &fo, &fe
		fcode := 0
		var ee *exec.ExitError
		if err := full.Run(); errors.As(err, &ee) {
			fcode = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if want := answerOf(fo.Bytes(), fe.Bytes(), fcode); lean != want {
			t.Errorf("%s %v:\nthrough the server: %s\nmetactl adapter:    %s", tc.call, tc.vars, lean, want)
		}
		now := r.status()
		if now.PID != st.PID {
			t.Fatalf("%s %v: the server changed from pid %d to %d", tc.call, tc.vars, st.PID, now.PID)
		}
		// Served: by the fast path, or through the socket.
		if served := now.Requests+now.Fast > st.Requests+st.Fast; served != tc.served {
			t.Errorf("%s %v: served by the server %v, want %v", tc.call, tc.vars, served, tc.served)
		}
		st = now
	}
	if got, want := lockPID(adaptersrv.LockPath(r.dir, r.key())), st.PID; got != want {
		t.Errorf("the lock file names pid %d, want the server's %d", got, want)
	}
}

// TestAdapterServerSeesWrites: each call is a read of its own at the
// newest generation: a file saved (and a file moved) between two calls is
// seen by the next.
func TestAdapterServerSeesWrites(t *testing.T) {
	r := newServerRun(t)
	_, _, c := etcdBridge(t, r)
	before := lines(c.mustCall("list_metadata_files", nil, nil))
	st := r.waitUp(0)
	line := bridgeTxnLine(90000, 90099, "aaaa")
	c.mustCall("save_metadata_line", []string{"FILE_NAME=transaction_90000-90099.meta"}, []byte(line))
	after := lines(c.mustCall("list_metadata_files", nil, nil))
	if len(after) != len(before)+1 || !strings.Contains(strings.Join(after, "\n"), "metadata/transaction_90000-90099.meta") {
		t.Fatalf("after a save: %d files listed, want %d with the saved one", len(after), len(before)+1)
	}
	if got := string(c.mustCall("open_for_read", []string{"FILE_HANDLE=metadata/transaction_90000-90099.meta"}, nil)); got != line {
		t.Errorf("open_for_read of the saved file: %q, want %q", got, line)
	}
	line2 := bridgeTxnLine(90100, 90199, "bbbb")
	c.mustCall("save_metadata_line", []string{"FILE_NAME=transaction_90100-90199.meta"}, []byte(line2))
	if got := lines(c.mustCall("list_metadata_files", nil, nil)); len(got) != len(after)+1 {
		t.Errorf("after a second save: %d files listed, want %d", len(got), len(after)+1)
	}
	if now := r.status(); now.PID != st.PID || now.Requests+now.Fast != st.Requests+st.Fast+3 {
		t.Errorf("server status %+v after 3 reads, was %+v: want the same server, 3 more calls", now, st)
	}
}

// TestAdapterServerCacheSeesWrites: the server's file cache (filled once
// 16 reads went without it, then answering while the catalog's current
// key is unchanged) never answers from before a write another process
// made between two calls: a new file saved, and a compacted file whose
// content was replaced under the same name, are each read right after the
// write as they are after it, and as 'metactl adapter' reads them.
func TestAdapterServerCacheSeesWrites(t *testing.T) {
	r := newServerRun(t)
	cat, storageDir, c := etcdBridge(t, r)
	listed := lines(c.mustCall("list_metadata_files", nil, nil))
	r.waitUp(0)
	open := func(h string) string {
		t.Helper()
		got := string(c.mustCall("open_for_read", []string{"FILE_HANDLE=" + h}, nil))
		full := exec.Command(binary, "--catalog", cat, "adapter", "--local-fs-dir", storageDir, "open_for_read")
		full.Env = append(os.Environ(), "FILE_HANDLE="+h)
		want, err := full.Output()
		if err != nil || got != string(want) {
			t.Fatalf("open_for_read %s: through the server %q; metactl adapter %q, %v", h, got, want, err)
		}
		return got
	}
	// Enough reads for the server to fill its cache, and reads from it.
	warm := func() {
		t.Helper()
		for i := 0; i < 24; i++ {
			open(listed[i%len(listed)])
		}
	}
	save := func(name, content string) {
		t.Helper()
		c.mustCall("save_metadata_line", []string{"FILE_NAME=" + name}, []byte(content))
	}
	a := readFile(t, filepath.Join(storageDir, "metadata", "transaction_0-0.meta"))
	b := readFile(t, filepath.Join(storageDir, "metadata", "transaction_1-500.meta"))
	save("transaction_compacted_0-500.meta", a+b)
	warm()
	if got := open("metadata/transaction_compacted_0-500.meta"); got != a+b {
		t.Fatalf("the compacted file: %q, want %q", got, a+b)
	}
	// Its content replaced (the originals still hold every entry).
	save("transaction_compacted_0-500.meta", a)
	if got := open("metadata/transaction_compacted_0-500.meta"); got != a {
		t.Fatalf("the replaced compacted file: %q, want %q", got, a)
	}
	warm()
	line := bridgeTxnLine(90000, 90099, "aaaa")
	save("transaction_90000-90099.meta", line)
	if got := open("metadata/transaction_90000-90099.meta"); got != line {
		t.Fatalf("the saved file: %q, want %q", got, line)
	}
}

// TestAdapterServerLifecycle: a server exits when idle and leaves nothing
// (its route file included); a killed server's socket, lock and route file
// (and another key's leftovers) are removed or replaced by the next server
// a call starts, and the call's answer is right all along.
func TestAdapterServerLifecycle(t *testing.T) {
	r := newServerRun(t, "METACTL_ADAPTER_SERVER_IDLE=1s")
	_, _, c := etcdBridge(t, r)
	want := c.mustCall("list_metadata_files", nil, nil)
	st := r.waitUp(0)
	// Idle: the server exits and removes its socket and lock file.
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && syscall.Kill(st.PID, 0) == nil {
		time.Sleep(100 * time.Millisecond)
	}
	if left, _ := os.ReadDir(r.dir); syscall.Kill(st.PID, 0) == nil || len(left) != 0 {
		t.Fatalf("idle server %d: running %v, left %v", st.PID, syscall.Kill(st.PID, 0) == nil, left)
	}

	// A new one; kill it hard: its socket and lock file stay.
	r2 := newServerRun(t)
	c.env = append(c.env, r2.env...)
	if got := c.mustCall("list_metadata_files", nil, nil); !bytes.Equal(got, want) {
		t.Fatalf("list: %q, want %q", got, want)
	}
	st = r2.waitUp(0)
	key := r2.key()
	syscall.Kill(st.PID, syscall.SIGKILL)
	for i := 0; i < 600 && syscall.Kill(st.PID, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(adaptersrv.SocketPath(r2.dir, key)); err != nil {
		t.Fatalf("the killed server's socket: %v", err)
	}
	// Another key's leftovers, of a server long dead.
	for _, f := range []string{"0123456789abcdef.lock", "0123456789abcdef.sock"} {
		os.WriteFile(filepath.Join(r2.dir, f), []byte("999999\n"), 0o600)
	}
	if got := c.mustCall("list_metadata_files", nil, nil); !bytes.Equal(got, want) {
		t.Fatalf("list with a dead server: %q, want %q", got, want)
	}
	st2 := r2.waitUp(st.PID)
	if st2.PID == st.PID || lockPID(adaptersrv.LockPath(r2.dir, key)) != st2.PID {
		t.Errorf("new server %d, lock names %d; the killed one was %d", st2.PID, lockPID(adaptersrv.LockPath(r2.dir, key)), st.PID)
	}
	left, _ := os.ReadDir(r2.dir)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	// The killed server's route file was replaced by the new server's.
	var routes []string
	for _, n := range names {
		if strings.HasSuffix(n, adaptersrv.FastExt) {
			routes = append(routes, n)
		}
	}
	if len(names) != 3 || !strings.HasPrefix(names[0], key) || !strings.HasPrefix(names[1], key) || len(routes) != 1 {
		t.Errorf("server folder holds %v, want only %s's socket, lock and route file", names, key)
	} else if rt, err := adaptersrv.ReadRoute(filepath.Join(r2.dir, routes[0])); err != nil || rt.Key != key {
		t.Errorf("route file %s: %+v, %v; want the new server's", routes[0], rt, err)
	}
	if got := c.mustCall("list_metadata_files", nil, nil); !bytes.Equal(got, want) {
		t.Fatalf("list through the new server: %q, want %q", got, want)
	}
}

// TestAdapterServerReleasesStdout: the call that starts the server ends
// with its stdout pipe closed: Aptos reads to EOF and must not wait for
// the server, which holds no descriptor of the call's.
func TestAdapterServerReleasesStdout(t *testing.T) {
	r := newServerRun(t)
	_, _, c := etcdBridge(t, r)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", "set -o nounset -o errexit -o pipefail; "+c.ca.Command("list_metadata_files"))
	cmd.Env = append(os.Environ(), r.env...)
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(pr)
		got <- b
	}()
	select {
	case b := <-got:
		if len(lines(b)) == 0 {
			t.Errorf("nothing listed")
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("stdout not closed two minutes after the call started: the server holds it")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	r.waitUp(0) // the call did start a server
}

// serverPIDs lists the adapter-server processes of the folder dir.
func serverPIDs(dir string) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte("adapter-server\x00--dir\x00"+dir+"\x00")) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestAdapterServerConcurrentStart: calls that all find no server at once
// (Aptos's 8-way sync starting) all answer right, and of the servers they
// start one runs: the others find its lock held and exit.
func TestAdapterServerConcurrentStart(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("needs /proc")
	}
	r := newServerRun(t)
	_, _, c := etcdBridge(t, r)
	outs := make([]string, 8)
	done := make(chan int)
	for i := range outs {
		go func() {
			out, errb, code := c.call("list_metadata_files", nil, nil)
			outs[i] = answerOf(out, errb, code)
			done <- i
		}()
	}
	for range outs {
		<-done
	}
	for i, o := range outs {
		if o != outs[0] || !strings.HasPrefix(o, "exit 0\n") {
			t.Fatalf("call %d: %s\ncall 0: %s", i, o, outs[0])
		}
	}
	st := r.waitUp(0)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && len(serverPIDs(r.dir)) > 1 {
		time.Sleep(100 * time.Millisecond)
	}
	if pids := serverPIDs(r.dir); len(pids) != 1 || pids[0] != st.PID {
		t.Errorf("adapter servers running: %v, want only %d", pids, st.PID)
	}
	if out, errb, code := c.call("list_metadata_files", nil, nil); answerOf(out, errb, code) != outs[0] {
		t.Errorf("through the server: %s, want %s", answerOf(out, errb, code), outs[0])
	}
	if now := r.status(); now.PID != st.PID || now.Requests+now.Fast != st.Requests+st.Fast+1 {
		t.Errorf("status %+v, was %+v: want the same server, one more call", now, st)
	}
}
