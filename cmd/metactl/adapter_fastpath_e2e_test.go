//go:build unix

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/metactl/metactl/internal/adaptersrv"
)

// The fast path (docs/aptos-bridge.md, "The fast path"): a generated
// config's list_metadata_files and open_for_read ask the adapter server
// with bash builtins over loopback TCP, and exec metactl-adapter when that
// gives no answer. These tests run the generated config under real bash,
// as Aptos does, against the real server and a real etcd member; the
// server's counters say which path answered.

// runBash runs command as Aptos does, with exactly the environment env
// (and args as $1...), and returns its whole answer.
func runBash(t *testing.T, command string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"-c", "set -o nounset -o errexit -o pipefail; " + command, "bash"}, args...)...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	code := 0
	var ee *exec.ExitError
	if err := cmd.Run(); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return answerOf(out.Bytes(), errb.Bytes(), code)
}

// lastLine is a config command's last line: the command as it was before
// the fast path (the exec of metactl-adapter).
func lastLine(command string) string {
	ls := strings.Split(strings.TrimSpace(command), "\n")
	return ls[len(ls)-1]
}

// callEnv is the environment of a call: this process's, the server run's
// folder, and vars.
func callEnv(r *serverRun, vars ...string) []string {
	return append(append(append([]string{}, os.Environ()...), r.env...), vars...)
}

// without returns env without the variables named.
func without(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, n := range names {
			keep = keep && k != n
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// fastCounts is a server's count of answers: through the socket, the
// fast path's answers and the fast path's fallbacks.
type fastCounts struct{ socket, fast, fell uint64 }

func countsOf(st adaptersrv.Status) fastCounts {
	return fastCounts{st.Requests, st.Fast, st.FastFallbacks}
}

func (a fastCounts) minus(b fastCounts) fastCounts {
	return fastCounts{a.socket - b.socket, a.fast - b.fast, a.fell - b.fell}
}

// foreign listens on a loopback port as another program might after a
// server died: it reads what comes, answers junk, and records what it
// was sent.
type foreign struct {
	ln   net.Listener
	mu   sync.Mutex
	got  []byte
	done chan struct{}
}

func newForeign(t *testing.T) *foreign {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &foreign{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			b := make([]byte, 4096)
			n, _ := c.Read(b)
			f.mu.Lock()
			f.got = append(f.got, b[:n]...)
			f.mu.Unlock()
			io.WriteString(c, "HTTP/1.0 400 Bad Request\n\nmetadata/x.meta\n")
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-f.done })
	return f
}

func (f *foreign) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

// TestFastPathAnswers: with the server up, the generated config's read
// calls are answered by the fast path (the server counts them; no call
// reaches its socket), each exactly as metactl-adapter alone answers it;
// a file saved by another process between two calls is listed and read
// by the next.
func TestFastPathAnswers(t *testing.T) {
	r := newServerRun(t)
	_, _, c := etcdBridge(t, r)
	list, open := c.ca.Command("list_metadata_files"), c.ca.Command("open_for_read")
	if !strings.Contains(open, "metactl_fast r") || !strings.Contains(list, "metactl_fast r") || strings.Contains(c.ca.Command("save_metadata_line"), "metactl_fast") {
		t.Fatalf("the config's fast path is not where it belongs:\n%s", open)
	}
	listed := lines(c.mustCall("list_metadata_files", nil, nil))
	st := r.waitUp(0)
	before := countsOf(st)
	// The server started by metactl-adapter keeps the runtime's sysmon
	// out of deep sleep (adaptersrv.SchedTrace).
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(st.PID) + "/environ"); err == nil && !strings.Contains("\x00"+string(b), "\x00GODEBUG=") {
		t.Errorf("the server's environment has no GODEBUG")
	} else if err == nil && !strings.Contains(string(b), adaptersrv.SchedTrace) {
		t.Errorf("the server's GODEBUG lacks %s", adaptersrv.SchedTrace)
	}
	env := callEnv(r)
	calls := 0
	check := func(command string, vars ...string) string {
		t.Helper()
		got := runBash(t, command, append(env, vars...))
		calls++
		if want := runBash(t, lastLine(command), append(env, vars...)); got != want {
			t.Errorf("%v: the fast path answered\n%s\nmetactl-adapter alone\n%s", vars, got, want)
		}
		return got
	}
	if got := check(list); !strings.HasPrefix(got, "exit 0\n") {
		t.Fatalf("list: %s", got)
	}
	for _, h := range listed {
		check(open, "FILE_HANDLE="+h)
	}
	// Another process saves a file: the next calls see it.
	line := bridgeTxnLine(90000, 90099, "aaaa")
	c.mustCall("save_metadata_line", []string{"FILE_NAME=transaction_90000-90099.meta"}, []byte(line))
	if got := check(list); !strings.Contains(got, "metadata/transaction_90000-90099.meta") {
		t.Errorf("list after a save: %s", got)
	}
	if got, want := check(open, "FILE_HANDLE=metadata/transaction_90000-90099.meta"), answerOf([]byte(line), nil, 0); got != want {
		t.Errorf("the saved file: %s, want %s", got, want)
	}
	now := r.status()
	// Each check ran the config once (fast) and its last line once
	// (through the socket).
	if d := countsOf(now).minus(before); now.PID != st.PID || d != (fastCounts{socket: uint64(calls), fast: uint64(calls)}) {
		t.Errorf("counts %+v over %d calls (and as many of metactl-adapter alone): want every call fast", d, calls)
	}
}

// fastServer returns, for the server of key that r started, a function
// that reads its call counts, and its one route file with the route it
// holds.
func fastServer(t *testing.T, r *serverRun, key string) (counts func() fastCounts, routeFile string, route adaptersrv.Route) {
	t.Helper()
	counts = func() fastCounts {
		t.Helper()
		st, err := adaptersrv.QueryStatus(r.dir, key, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return countsOf(st)
	}
	routes, _ := filepath.Glob(filepath.Join(r.dir, "*"+adaptersrv.FastExt))
	if len(routes) != 1 {
		t.Fatalf("route files: %v", routes)
	}
	route, err := adaptersrv.ReadRoute(routes[0])
	if err != nil {
		t.Fatal(err)
	}
	return counts, routes[0], route
}

// TestFastPathFallsBack: each thing that must keep the fast path from
// answering does, and the call's answer is metactl-adapter's own, byte
// for byte, exit status included. Row by row: which path answered.
func TestFastPathFallsBack(t *testing.T) {
	r := newServerRun(t)
	cat, storageDir, c := etcdBridge(t, r)
	listed := lines(c.mustCall("list_metadata_files", nil, nil))
	st := r.waitUp(0)
	key := r.key()
	// This server's counts (another key's server starts below).
	counts, routeFile, route := fastServer(t, r, key)
	open := c.ca.Command("open_for_read")
	setRoute := func(rt adaptersrv.Route) {
		t.Helper()
		if err := adaptersrv.WriteRoute(routeFile, rt); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(storageDir, "backup_1"), 0o755)
	os.WriteFile(filepath.Join(storageDir, "backup_1", "chunk_0"), []byte("data\n"), 0o644)
	closed, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	f := newForeign(t)
	file := "FILE_HANDLE=" + listed[0]
	fast, fell, socket, none := fastCounts{socket: 1, fast: 1}, fastCounts{socket: 2, fell: 1}, fastCounts{socket: 2}, fastCounts{}
	cases := []struct {
		name    string
		vars    []string
		drop    []string // variables unset
		prepare func()
		restore func()
		want    fastCounts // this call and metactl-adapter alone after it
		code    int
		full    bool // also compare with metactl itself
	}{
		{name: "a metadata file", vars: []string{file}, want: fast},
		// bash writes a request over 4 KiB in pieces (the server
		// acknowledges each at once: TCP_QUICKACK).
		{name: "an environment over 4 KiB", vars: []string{file, "BIG=" + strings.Repeat("x", 9000)}, want: fast},
		{name: "the caller's GOMAXPROCS", vars: []string{file, "GOMAXPROCS=3", "METACTL_ADAPTER_CALLER_GOMAXPROCS=5"}, want: fast},
		{name: "an unknown handle", vars: []string{"FILE_HANDLE=metadata/nope_0-0.meta"}, want: fell, code: 6, full: true},
		{name: "a data file", vars: []string{"FILE_HANDLE=backup_1/chunk_0"}, want: fastCounts{fell: 1}},
		{name: "FILE_HANDLE unset", want: fastCounts{fell: 1}, code: 3},
		// Another key: metactl-adapter starts a server of its own
		// (which leaves the route to this one) and runs metactl.
		{name: "a key variable more", vars: []string{file, "METACTL_FASTPATH_TEST=1"}, want: fastCounts{fell: 1}},
		{name: "METACTL_ADAPTER_SERVER=off", vars: []string{file, "METACTL_ADAPTER_SERVER=off"}, want: none},
		{name: "METACTL_ADAPTER_SERVER=No", vars: []string{file, "METACTL_ADAPTER_SERVER=No"}, want: none},
		{name: "a wrong token", vars: []string{file}, want: socket,
			prepare: func() { rt := route; rt.Token = strings.Repeat("0", 32); setRoute(rt) }, restore: func() { setRoute(route) }},
		{name: "a stale route, nothing on its port", vars: []string{file}, want: socket,
			prepare: func() { rt := route; rt.Port = closedPort; setRoute(rt) }, restore: func() { setRoute(route) }},
		{name: "a stale route, another program on its port", vars: []string{file}, want: socket,
			prepare: func() { rt := route; rt.Port = f.port(); setRoute(rt) }, restore: func() { setRoute(route) }},
		{name: "a damaged route file", vars: []string{file}, want: socket,
			prepare: func() { os.WriteFile(routeFile, []byte("12 34\n"), 0o600) }, restore: func() { setRoute(route) }},
		{name: "the route file a link", vars: []string{file}, want: socket,
			prepare: func() {
				os.Rename(routeFile, routeFile+".real")
				os.Symlink(routeFile+".real", routeFile)
			}, restore: func() { os.Remove(routeFile); os.Rename(routeFile+".real", routeFile) }},
		{name: "the folder's path not plain (a trailing slash)", vars: []string{file, "XDG_RUNTIME_DIR=" + filepath.Dir(r.dir) + "/"}, want: socket},
		{name: "the same again, all well", vars: []string{file}, want: fast},
	}
	for _, tc := range cases {
		if tc.prepare != nil {
			tc.prepare()
		}
		env := without(callEnv(r, tc.vars...), tc.drop...)
		b := counts()
		got := runBash(t, open, env)
		want := runBash(t, lastLine(open), env)
		d := counts().minus(b)
		if tc.full {
			if m := runBash(t, `exec "$@"`, env, binary, "--catalog", cat, "--lock-timeout", "30s", "adapter", "--adapter-timeout", "10m", "--local-fs-dir", storageDir, "open_for_read"); got != m {
				t.Errorf("%s: the config answered\n%s\nmetactl itself\n%s", tc.name, got, m)
			}
		}
		if tc.restore != nil {
			tc.restore()
		}
		if got != want {
			t.Errorf("%s: the config answered\n%s\nmetactl-adapter alone\n%s", tc.name, got, want)
		}
		if !strings.HasPrefix(got, "exit "+strconv.Itoa(tc.code)+"\n") {
			t.Errorf("%s: %s, want exit %d", tc.name, got, tc.code)
		}
		if d != tc.want {
			t.Errorf("%s: counts %+v, want %+v", tc.name, d, tc.want)
		}
	}
	// The program on the stale route's port got the token and nothing
	// else: no command line, no environment.
	f.mu.Lock()
	got := string(f.got)
	f.mu.Unlock()
	if got != adaptersrv.FastMagic+"\x00"+route.Token+"\x00" {
		t.Errorf("the program on a stale route's port got %q, want the opening alone", got)
	}
	// Last: the server killed. Its route file and socket stay; the call
	// answers right (metactl-adapter starts a new server), and the new
	// server answers the next call's fast path.
	if now, err := adaptersrv.QueryStatus(r.dir, key, 10*time.Second); err != nil || now.PID != st.PID {
		t.Fatalf("the server changed: %+v, %v, was %d", now, err, st.PID)
	}
	syscall.Kill(st.PID, syscall.SIGKILL)
	for i := 0; i < 600 && syscall.Kill(st.PID, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	env := callEnv(r, file)
	if got, want := runBash(t, open, env), runBash(t, lastLine(open), env); got != want || !strings.HasPrefix(got, "exit 0\n") {
		t.Errorf("server killed: the config answered\n%s\nmetactl-adapter alone\n%s", got, want)
	}
	// The new server of this key, once it has published its route.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		st2, err := adaptersrv.QueryStatus(r.dir, key, 10*time.Second)
		rt, rerr := adaptersrv.ReadRoute(routeFile)
		if err == nil && st2.PID != st.PID && rerr == nil && rt.Key == key && rt != route {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new server with a route within a minute: %+v %v; %+v %v", st2, err, rt, rerr)
		}
	}
	b := counts()
	if got, want := runBash(t, open, env), runBash(t, lastLine(open), env); got != want {
		t.Errorf("the new server: the config answered\n%s\nmetactl-adapter alone\n%s", got, want)
	}
	if d := counts().minus(b); d != fast {
		t.Errorf("the new server: counts %+v, want %+v", d, fast)
	}
}

// waitRoute waits (a minute at most) for the server of route in dir to
// publish it and answer its status, and returns both.
func waitRoute(t *testing.T, dir, route string, notPID int) (adaptersrv.Route, adaptersrv.Status) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		rt, err := adaptersrv.ReadRoute(adaptersrv.RoutePath(dir, route))
		if err == nil {
			if st, err := adaptersrv.QueryStatus(dir, rt.Key, 10*time.Second); err == nil && st.PID != notPID {
				return rt, st
			}
		}
		if time.Now().After(deadline) {
			left, _ := os.ReadDir(dir)
			var names []string
			for _, e := range left {
				b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
				names = append(names, e.Name()+": "+strings.TrimSpace(string(b)))
			}
			t.Fatalf("no server published %s in %s within a minute; the folder holds %q", route, dir, names)
		}
	}
}

// stopRouteServer stops the server that publishes route in dir.
func stopRouteServer(dir, route string) {
	if rt, err := adaptersrv.ReadRoute(adaptersrv.RoutePath(dir, route)); err == nil {
		if pid := lockPID(adaptersrv.LockPath(dir, rt.Key)); pid > 0 {
			syscall.Kill(pid, syscall.SIGTERM)
			for i := 0; i < 600 && syscall.Kill(pid, 0) == nil; i++ {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

// TestFastPathFolders: bash finds the server's folder as adaptersrv.Dir
// does, under nounset: XDG_RUNTIME_DIR, else TMPDIR, else /tmp, and the
// fast path answers in each (the last one is the user's real
// /tmp/metactl-UID; the test stops the server it starts there).
func TestFastPathFolders(t *testing.T) {
	r := newServerRun(t)
	cat, _, c := etcdBridge(t, r)
	route := adaptersrv.RouteName([]string{"--catalog", cat, "--lock-timeout", "30s"})
	listed := lines(c.mustCall("list_metadata_files", nil, nil))
	tmp, err := os.MkdirTemp("", "mfp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopAdapterServers(filepath.Join(tmp, "metactl-"+strconv.Itoa(os.Getuid())))
		os.RemoveAll(tmp)
	})
	base := without(append(append([]string{}, os.Environ()...), c.env...), "XDG_RUNTIME_DIR", "TMPDIR")
	open := c.ca.Command("open_for_read")
	for _, tc := range []struct {
		name string
		vars []string
		dir  string
	}{
		{"XDG_RUNTIME_DIR", []string{"XDG_RUNTIME_DIR=" + filepath.Dir(r.dir)}, r.dir},
		{"XDG_RUNTIME_DIR relative, TMPDIR", []string{"XDG_RUNTIME_DIR=run", "TMPDIR=" + tmp}, filepath.Join(tmp, "metactl-"+strconv.Itoa(os.Getuid()))},
		{"TMPDIR", []string{"TMPDIR=" + tmp}, filepath.Join(tmp, "metactl-"+strconv.Itoa(os.Getuid()))},
		{"neither", nil, filepath.Join("/tmp", "metactl-"+strconv.Itoa(os.Getuid()))},
	} {
		env := append(append([]string{}, base...), tc.vars...)
		if tc.vars == nil {
			t.Cleanup(func() { stopRouteServer(tc.dir, route) })
		}
		// A first call starts the server in that folder (unless one runs).
		runBash(t, c.ca.Command("list_metadata_files"), env)
		_, st := waitRoute(t, tc.dir, route, 0)
		for _, h := range listed[:3] {
			vars := append(append([]string{}, env...), "FILE_HANDLE="+h)
			b := st
			got := runBash(t, open, vars)
			rt, st2 := waitRoute(t, tc.dir, route, 0)
			if d := st2.Fast - b.Fast; d != 1 || st2.PID != b.PID {
				t.Errorf("%s: %s: %d fast answers (server %d, was %d), want 1", tc.name, h, d, st2.PID, b.PID)
			}
			if want := runBash(t, lastLine(open), vars); got != want || !strings.HasPrefix(got, "exit 0\n") {
				t.Errorf("%s: %s: the config answered\n%s\nmetactl-adapter alone\n%s", tc.name, h, got, want)
			}
			st, _ = adaptersrv.QueryStatus(tc.dir, rt.Key, 10*time.Second)
		}
	}
}

// TestFastPathBinaryChanged: a binary replaced in place (metactl-adapter
// or metactl: another size or time) makes the server's key another: the
// fast path falls back and metactl-adapter's answer is the call's.
func TestFastPathBinaryChanged(t *testing.T) {
	buildLean(t)
	r := newServerRun(t)
	cat, storageDir, _ := etcdBridge(t, r)
	bin, err := os.MkdirTemp("", "mfb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	for _, b := range []string{"metactl", "metactl-adapter"} {
		if out, err := exec.Command("cp", filepath.Join(filepath.Dir(binary), b), filepath.Join(bin, b)).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
	}
	path := filepath.Join(t.TempDir(), "bridge.yaml")
	must(t, cat, nil, "adapter-config", "--local-fs-dir", storageDir, "--metactl", filepath.Join(bin, "metactl"), "-o", path)
	c := loadAptosConfig(t, path)
	c.env = append(c.env, r.env...)
	open := c.ca.Command("open_for_read")
	if !strings.Contains(open, filepath.Join(bin, "metactl-adapter")) {
		t.Fatalf("the config does not run the copy: %s", open)
	}
	route := adaptersrv.RouteName([]string{"--catalog", cat, "--lock-timeout", "30s"})
	h := lines(c.mustCall("list_metadata_files", nil, nil))[0]
	env := callEnv(r, "FILE_HANDLE="+h)
	for i, b := range []string{"", "metactl-adapter", "metactl"} {
		rt, st := waitRoute(t, r.dir, route, 0)
		if b != "" {
			later := time.Now().Add(time.Duration(i) * time.Hour)
			if err := os.Chtimes(filepath.Join(bin, b), later, later); err != nil {
				t.Fatal(err)
			}
		}
		got := runBash(t, open, env)
		now, err := adaptersrv.QueryStatus(r.dir, rt.Key, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		want := fastCounts{fast: 1}
		if b != "" {
			want = fastCounts{fell: 1}
		}
		if d := countsOf(now).minus(countsOf(st)); d != want {
			t.Errorf("%q changed: counts %+v, want %+v", b, d, want)
		}
		if want := runBash(t, lastLine(open), env); got != want || !strings.HasPrefix(got, "exit 0\n") {
			t.Errorf("%q changed: the config answered\n%s\nmetactl-adapter alone\n%s", b, got, want)
		}
		if b != "" {
			// The server of the new key (started by that call) takes
			// the route once the old one is gone.
			stopAdapterServers(r.dir)
			runBash(t, c.ca.Command("list_metadata_files"), callEnv(r))
			if rt2, _ := waitRoute(t, r.dir, route, st.PID); rt2.Key == rt.Key {
				t.Errorf("%q changed: the server's key stayed %s", b, rt.Key)
			}
		}
	}
}

// fastPathFunc1 is the fast path's function as configs written before
// protocol 2 carry it (metactl-fast/1: the answer read with mapfile, the
// proof and line count after it).
const fastPathFunc1 = `metactl_fast() {
  local d f p= t= a= k= s= x= n e=() r=()
  ((BASH_VERSINFO[0] >= 5)) || return 1
  case ${METACTL_ADAPTER_SERVER-} in [Oo][Ff][Ff] | 0 | [Ff][Aa][Ll][Ss][Ee] | [Nn][Oo]) return 1 ;; esac
  d=${TMPDIR:-/tmp}/metactl-$UID
  [[ ${XDG_RUNTIME_DIR-} != /* ]] || d=$XDG_RUNTIME_DIR/metactl
  f=$d/$1.tcp
  [[ $d == /* && $d/ != *//* && $d/ != */./* && $d/ != */../* && -d $d && -O $d && ! -L $d && -f $f && -O $f && ! -L $f ]] || return 1
  { IFS=' ' read -r p t a k <"$f" && mapfile -d '' -t e </proc/self/environ; } 2>/dev/null || return 1
  [[ $p =~ ^[1-9][0-9]{0,4}$ && ${#t} == 32 && ${#a} == 32 ]] || return 1
  trap '' PIPE
  if { exec {s}<>"/dev/tcp/127.0.0.1/$p"; } 2>/dev/null; then
    { printf '%s\0' metactl-fast/1 "$t" >&"$s" && IFS= read -r -t 5 -u "$s" x && [[ $x == "$a" ]] &&
      printf '%s\0' $(($# - 1)) "${@:2}" ${#e[@]} "${e[@]}" >&"$s" && mapfile -t -u "$s" r; } 2>/dev/null
    exec {s}<&-
  fi
  trap - PIPE
  n=${#r[@]}
  ((n > 0)) && [[ ${r[n - 1]} == "$a $((n - 1))" ]] || return 1
  ((n == 1)) || printf '%s\n' "${r[@]:0:n-1}" || :
}`

// withFastFunc returns command with its metactl_fast function replaced
// by fn.
func withFastFunc(t *testing.T, command, fn string) string {
	t.Helper()
	i := strings.Index(command, "metactl_fast() {\n")
	j := strings.Index(command, "\n}\n")
	if i < 0 || j < i {
		t.Fatalf("no metactl_fast function in %s", command)
	}
	return command[:i] + fn + command[j+2:]
}

// scripted is a fast-path server that proves itself with a route's
// proof and answers every request with the bytes it is given, as a
// faulty server (or a program that learnt the tokens) might; with only1
// it is a server of protocol 1 alone, as before protocol 2: any other
// opening gets nothing.
type scripted struct {
	ln    net.Listener
	route adaptersrv.Route
	mu    sync.Mutex
	reply []byte
	only1 bool
	hello []int // the protocol of each opening (0: refused)
	done  chan struct{}
}

func newScripted(t *testing.T, route adaptersrv.Route) *scripted {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{ln: ln, route: route, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-s.done })
	return s
}

func (s *scripted) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	v := adaptersrv.FastHello(r, s.route.Token)
	s.mu.Lock()
	reply, only1 := s.reply, s.only1
	s.hello = append(s.hello, v)
	s.mu.Unlock()
	if v == 0 || (only1 && v != 1) {
		return
	}
	if _, err := io.WriteString(c, s.route.Proof+"\n"); err != nil {
		return
	}
	if _, err := adaptersrv.ReadFastRequest(r); err != nil {
		return
	}
	c.Write(reply)
}

func (s *scripted) set(reply []byte, only1 bool) {
	s.mu.Lock()
	s.reply, s.only1, s.hello = reply, only1, nil
	s.mu.Unlock()
}

// TestFastPathAnswerChecked: bash prints a protocol 2 answer only if its
// header carries the proof and a count within the bound and exactly that
// many bytes came before the end of the connection; anything else is the
// fallback's answer (metactl-adapter's, through the server's socket).
// Row by row against a scripted server on the route's port: which path
// answered and the exact output. Then the pairs of protocols: a config of
// protocol 1 with this server (answered by its fast path), a config of
// protocol 2 with a server of protocol 1 alone (a fallback).
func TestFastPathAnswerChecked(t *testing.T) {
	r := newServerRun(t)
	_, _, c := etcdBridge(t, r)
	listed := lines(c.mustCall("list_metadata_files", nil, nil))
	r.waitUp(0)
	key := r.key()
	counts, routeFile, route := fastServer(t, r, key)
	open := c.ca.Command("open_for_read")
	env := callEnv(r, "FILE_HANDLE="+listed[0])
	// The file's answer, as metactl-adapter gives it.
	want := runBash(t, lastLine(open), env)
	body, err := strconv.Unquote(strings.TrimPrefix(strings.TrimSuffix(want, "\nstderr \"\""), "exit 0\nstdout "))
	if err != nil || body == "" {
		t.Fatalf("metactl-adapter's answer %s: %v", want, err)
	}
	header := func(proof string, n int) string { return fmt.Sprintf("%s %08d\n", proof, n) }
	// A large answer: lines of every printable ASCII character and a
	// backslash, just under the bound.
	var large strings.Builder
	for large.Len() < adaptersrv.FastMaxAnswer-200 {
		large.WriteString(`{"line":"` + strings.Repeat(`a \\ "~`, 10) + "\"}\n")
	}
	s := newScripted(t, route)
	bad := strings.Repeat("0", 32)
	const scriptedAnswer, fallback = "the scripted server", "the fallback"
	cases := []struct {
		name  string
		reply string
		only1 bool
		path  string
		out   string // the answer when the scripted server answered; else metactl-adapter's
	}{
		{"exactly COUNT bytes", header(route.Proof, len(body)) + body, false, scriptedAnswer, want},
		{"an empty answer", header(route.Proof, 0), false, scriptedAnswer, answerOf(nil, nil, 0)},
		{"a large answer", header(route.Proof, large.Len()) + large.String(), false, scriptedAnswer, answerOf([]byte(large.String()), nil, 0)},
		{"short by one", header(route.Proof, len(body)) + body[:len(body)-1], false, fallback, want},
		{"long by one", header(route.Proof, len(body)) + body + "x", false, fallback, want},
		{"a count one less", header(route.Proof, len(body)-1) + body, false, fallback, want},
		{"a count one more", header(route.Proof, len(body)+1) + body, false, fallback, want},
		{"nothing after the header", header(route.Proof, len(body)), false, fallback, want},
		{"the header only in part", header(route.Proof, len(body))[:20], false, fallback, want},
		{"a header with a wrong proof", header(bad, len(body)) + body, false, fallback, want},
		{"a count not of 8 digits", fmt.Sprintf("%s %d\n", route.Proof, len(body)) + body, false, fallback, want},
		{"a count over the bound", header(route.Proof, adaptersrv.FastMaxAnswer+1) + strings.Repeat("x", adaptersrv.FastMaxAnswer+1), false, fallback, want},
		{"protocol 1's answer", body + route.Proof + " 1\n", false, fallback, want},
		{"a server of protocol 1 alone", body + route.Proof + " 1\n", true, fallback, want},
	}
	if err := adaptersrv.WriteRoute(routeFile, adaptersrv.Route{Port: s.ln.Addr().(*net.TCPAddr).Port, Token: route.Token, Proof: route.Proof, Key: route.Key}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		s.set([]byte(tc.reply), tc.only1)
		b := counts()
		got := runBash(t, open, env)
		d := counts().minus(b)
		path := scriptedAnswer
		if d == (fastCounts{socket: 1}) {
			path = fallback
		} else if d != (fastCounts{}) {
			path = fmt.Sprintf("counts %+v", d)
		}
		s.mu.Lock()
		hello := s.hello
		s.mu.Unlock()
		if len(hello) != 1 || hello[0] != 2 {
			t.Errorf("%s: the scripted server got openings %v, want one of protocol 2", tc.name, hello)
		}
		if path != tc.path || got != tc.out {
			t.Errorf("%s: answered by %s:\n%s\nwant %s:\n%s", tc.name, path, got, tc.path, tc.out)
		}
	}
	if err := adaptersrv.WriteRoute(routeFile, route); err != nil {
		t.Fatal(err)
	}
	// A config of protocol 1 and this server: its fast path answers.
	old := withFastFunc(t, open, fastPathFunc1)
	if old == open || !strings.Contains(old, "metactl-fast/1") {
		t.Fatalf("the protocol 1 config:\n%s", old)
	}
	for _, h := range listed {
		env := callEnv(r, "FILE_HANDLE="+h)
		b := counts()
		got := runBash(t, old, env)
		if d := counts().minus(b); d != (fastCounts{fast: 1}) {
			t.Errorf("protocol 1, %s: counts %+v, want its fast path", h, d)
		}
		if want := runBash(t, lastLine(open), env); got != want {
			t.Errorf("protocol 1, %s: the config answered\n%s\nmetactl-adapter alone\n%s", h, got, want)
		}
	}
}
