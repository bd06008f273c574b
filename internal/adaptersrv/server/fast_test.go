//go:build unix

package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/internal/adaptersrv"
)

// fastAnswers is the Handle of the fast-path tests: the answer named by
// FILE_HANDLE.
func fastAnswers(_ context.Context, req *adaptersrv.Request) *adaptersrv.Response {
	switch req.Handle {
	case "metadata/two.meta":
		return &adaptersrv.Response{Stdout: []byte("a\n\nb\r\n")}
	case "metadata/empty.meta":
		return &adaptersrv.Response{}
	case "metadata/nul.meta":
		return &adaptersrv.Response{Stdout: []byte("a\x00b\n")}
	case "metadata/unterminated.meta":
		return &adaptersrv.Response{Stdout: []byte("a\nb")}
	case "metadata/big.meta":
		return &adaptersrv.Response{Stdout: []byte(strings.Repeat("x", adaptersrv.FastMaxAnswer) + "\n")}
	case "metadata/unknown.meta":
		return &adaptersrv.Response{Stderr: []byte("not found\n"), Code: 6}
	case "metadata/warns.meta":
		return &adaptersrv.Response{Stdout: []byte("a\n"), Stderr: []byte("warning\n")}
	case "metadata/fallback.meta":
		return &adaptersrv.Response{Fallback: true, Why: "asked to"}
	}
	if req.Call == "list_metadata_files" {
		return &adaptersrv.Response{Stdout: []byte("metadata/one.meta\n")}
	}
	return &adaptersrv.Response{Fallback: true, Why: "unknown"}
}

// fastRequest sends a fast-path request as the generated config's bash
// does: the opening with token, then (if the proof came) words and env.
// It returns the proof line and what followed it.
func fastRequest(port int, token string, words, env []string) (proof string, answer []byte, err error) {
	c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(port), 10*time.Second)
	if err != nil {
		return "", nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(c, adaptersrv.FastMagic+"\x00"+token+"\x00"); err != nil {
		return "", nil, err
	}
	r := bufio.NewReader(c)
	proof, err = r.ReadString('\n')
	if err != nil {
		return proof, nil, nil // nothing (or part of a line) came
	}
	var b strings.Builder
	field := func(s string) { b.WriteString(s); b.WriteByte(0) }
	field(strconv.Itoa(len(words)))
	for _, w := range words {
		field(w)
	}
	field(strconv.Itoa(len(env)))
	for _, e := range env {
		field(e)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return proof, nil, err
	}
	answer, err = io.ReadAll(r)
	return strings.TrimSuffix(proof, "\n"), answer, err
}

// fastServer runs a server with the fast path on, keyed as a client of
// words and env would key it, and returns its route.
func fastServer(t *testing.T, words, env []string) (dir string, route adaptersrv.Route) {
	t.Helper()
	dir = shortDir(t)
	self, err := filepath.EvalSymlinks(words[0])
	if err != nil {
		t.Fatal(err)
	}
	sv, ok := adaptersrv.ParseServed(words[1:])
	if !ok {
		t.Fatalf("ParseServed(%q) refused", words[1:])
	}
	key := adaptersrv.ServedKey(self, &sv, env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Dir: dir, Key: key, Handle: fastAnswers, Route: adaptersrv.RouteName(sv.Global)})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("the server left %v", left)
		}
	})
	path := adaptersrv.RoutePath(dir, adaptersrv.RouteName(sv.Global))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if route, err = adaptersrv.ReadRoute(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no route file within a minute: %v", err)
		}
	}
	st, err := os.Lstat(path)
	if err != nil || st.Mode() != 0o600 {
		t.Fatalf("route file %s: %v, %v; want mode 0600", path, st.Mode(), err)
	}
	if route.Key != key || len(route.Token) != 32 || len(route.Proof) != 32 || route.Token == route.Proof {
		t.Fatalf("route %+v: want key %s and two distinct 128-bit tokens", route, key)
	}
	return dir, route
}

// TestFastPath: every fast-path request gets exactly the answer (with the
// proof and line count after it) or nothing, row by row.
func TestFastPath(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "metactl-adapter")
	if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	words := func(call string) []string {
		return []string{bin, "--catalog", "etcd://127.0.0.1:2379/x", "--lock-timeout", "30s", "adapter",
			"--adapter-timeout", "10m", "--local-fs-dir", "/backup", call}
	}
	open := words("open_for_read")
	env := []string{"PATH=/bin", "METACTL_X=1", "http_proxy=p"}
	dir, route := fastServer(t, open, env)
	with := func(extra ...string) []string { return append(append([]string{}, env...), extra...) }
	const answered, proofOnly, nothing = "answered", "proof, then nothing", "nothing"
	cases := []struct {
		name  string
		token string
		words []string
		env   []string
		want  string // answered: the answer; else proofOnly or nothing
	}{
		{"list", route.Token, words("list_metadata_files"), env, "metadata/one.meta\n"},
		{"a file", route.Token, open, with("FILE_HANDLE=metadata/two.meta"), "a\n\nb\r\n"},
		{"an empty file", route.Token, open, with("FILE_HANDLE=metadata/empty.meta"), ""},
		{"other variables", route.Token, open, with("FILE_HANDLE=metadata/two.meta", "HOME=/x", "METACTL_ADAPTER_CALLER_GOMAXPROCS=4", "GOMAXPROCS=1"), "a\n\nb\r\n"},
		{"wrong token", route.Proof, open, with("FILE_HANDLE=metadata/two.meta"), nothing},
		{"no token", "", open, with("FILE_HANDLE=metadata/two.meta"), nothing},
		{"a NUL", route.Token, open, with("FILE_HANDLE=metadata/nul.meta"), proofOnly},
		{"no final newline", route.Token, open, with("FILE_HANDLE=metadata/unterminated.meta"), proofOnly},
		{"over FastMaxAnswer", route.Token, open, with("FILE_HANDLE=metadata/big.meta"), proofOnly},
		{"exit 6", route.Token, open, with("FILE_HANDLE=metadata/unknown.meta"), proofOnly},
		{"stderr", route.Token, open, with("FILE_HANDLE=metadata/warns.meta"), proofOnly},
		{"the handler's fallback", route.Token, open, with("FILE_HANDLE=metadata/fallback.meta"), proofOnly},
		{"FILE_HANDLE unset", route.Token, open, env, proofOnly},
		{"FILE_HANDLE twice", route.Token, open, with("FILE_HANDLE=metadata/two.meta", "FILE_HANDLE=metadata/empty.meta"), proofOnly},
		{"a key variable more", route.Token, open, with("FILE_HANDLE=metadata/two.meta", "ETCDCTL_USER=u"), proofOnly},
		{"a key variable less", route.Token, open, []string{"PATH=/bin", "http_proxy=p", "FILE_HANDLE=metadata/two.meta"}, proofOnly},
		{"a key variable changed", route.Token, open, []string{"PATH=/bin", "METACTL_X=2", "http_proxy=p", "FILE_HANDLE=metadata/two.meta"}, proofOnly},
		{"a proxy changed", route.Token, open, []string{"PATH=/bin", "METACTL_X=1", "HTTP_PROXY=p", "FILE_HANDLE=metadata/two.meta"}, proofOnly},
		{"server off", route.Token, open, with("FILE_HANDLE=metadata/two.meta", "METACTL_ADAPTER_SERVER=OFF"), proofOnly},
		{"another catalog", route.Token, append(append([]string{}, open[:2]...), append([]string{"etcd://127.0.0.1:2379/y"}, open[3:]...)...), with("FILE_HANDLE=metadata/two.meta"), proofOnly},
		{"another binary", route.Token, append([]string{filepath.Join(filepath.Dir(bin), "nope")}, open[1:]...), with("FILE_HANDLE=metadata/two.meta"), proofOnly},
		{"a relative binary", route.Token, append([]string{"metactl-adapter"}, open[1:]...), with("FILE_HANDLE=metadata/two.meta"), proofOnly},
		{"a write call", route.Token, words("save_metadata_line"), env, proofOnly},
		{"no words", route.Token, nil, env, proofOnly},
	}
	var fast, fall uint64
	for _, tc := range cases {
		proof, answer, err := fastRequest(route.Port, tc.token, tc.words, tc.env)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var got string
		switch {
		case proof == "":
			got = nothing
		case proof != route.Proof:
			t.Errorf("%s: the server proved itself with %q, want %q", tc.name, proof, route.Proof)
			continue
		case len(answer) == 0:
			got = proofOnly
			fall++
		default:
			fast++
			trailer := fmt.Sprintf("%s %d\n", route.Proof, strings.Count(tc.want, "\n"))
			body, ok := strings.CutSuffix(string(answer), trailer)
			if !ok {
				t.Errorf("%s: answer %q lacks the trailer %q", tc.name, answer, trailer)
				continue
			}
			got = body
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	st, err := adaptersrv.QueryStatus(dir, route.Key, 10*time.Second)
	if err != nil || st.Fast != fast || st.FastFallbacks != fall || st.Requests != 0 {
		t.Errorf("status %+v, %v: want %d fast answers, %d fast fallbacks, no socket calls", st, err, fast, fall)
	}
	// The binary replaced in place (same path, other size and time):
	// what was answered is a fallback now.
	if err := os.WriteFile(bin, []byte("another binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if proof, answer, err := fastRequest(route.Port, route.Token, open, with("FILE_HANDLE=metadata/two.meta")); err != nil || proof != route.Proof || len(answer) != 0 {
		t.Errorf("after the binary changed: proof %q, answer %q, %v; want the proof and nothing", proof, answer, err)
	}
}

// TestFastPathBounds: a request over FastMaxRequest gets nothing more
// than the proof, and the server still answers the next.
func TestFastPathBounds(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "metactl-adapter")
	os.WriteFile(bin, []byte("binary"), 0o755)
	words := []string{bin, "--catalog", "etcd://h/x", "adapter", "--local-fs-dir", "/b", "list_metadata_files"}
	_, route := fastServer(t, words, nil)
	big := []string{"X=" + strings.Repeat("y", adaptersrv.FastMaxRequest)}
	if proof, answer, err := fastRequest(route.Port, route.Token, words, big); proof != route.Proof || len(answer) != 0 {
		t.Errorf("a request over the bound: proof %q, answer %q, %v", proof, answer, err)
	}
	if _, answer, err := fastRequest(route.Port, route.Token, words, nil); err != nil || string(answer) != "metadata/one.meta\n"+route.Proof+" 1\n" {
		t.Errorf("the next request: %q, %v", answer, err)
	}
}

// TestSweepRoutes: a route file of a dead server is removed by the next
// server that starts; one of a live server stays, even when the new
// server (another key) has the same route.
func TestSweepRoutes(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "metactl-adapter")
	os.WriteFile(bin, []byte("binary"), 0o755)
	words := []string{bin, "--catalog", "etcd://h/x", "adapter", "--local-fs-dir", "/b", "list_metadata_files"}
	dir, live := fastServer(t, words, nil)
	dead := adaptersrv.Route{Port: 1, Token: "t", Proof: "p", Key: "0123456789abcdef"}
	if err := adaptersrv.WriteRoute(adaptersrv.RoutePath(dir, "rdead"), dead); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Dir: dir, Key: adaptersrv.Key("other"), Handle: fastAnswers, Route: adaptersrv.RouteName(words[1:3])})
	}()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := adaptersrv.QueryStatus(dir, adaptersrv.Key("other"), time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second server did not start")
		}
	}
	cancel()
	<-done
	if _, err := os.Stat(adaptersrv.RoutePath(dir, "rdead")); !os.IsNotExist(err) {
		t.Errorf("the dead server's route file: %v, want it removed", err)
	}
	if _, err := os.Stat(adaptersrv.LockPath(dir, dead.Key)); !os.IsNotExist(err) {
		t.Errorf("the sweep left a lock file: %v", err)
	}
	if r, err := adaptersrv.ReadRoute(adaptersrv.RoutePath(dir, adaptersrv.RouteName(words[1:3]))); err != nil || r != live {
		t.Errorf("the live server's route: %+v, %v, want %+v", r, err, live)
	}
}

// TestRouteTakeover: a server whose route a live server of another key
// has does not take it; once that server is gone, the next call through
// its socket makes it publish the route.
func TestRouteTakeover(t *testing.T) {
	dir, route := shortDir(t), "rtest"
	run := func(key string) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, Options{Dir: dir, Key: key, Handle: fastAnswers, Route: route}) }()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			if _, err := adaptersrv.QueryStatus(dir, key, time.Second); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("server %s did not start", key)
			}
		}
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	a, b := adaptersrv.Key("a"), adaptersrv.Key("b")
	stopA := run(a)
	stopB := run(b)
	defer stopB()
	if r, err := adaptersrv.ReadRoute(adaptersrv.RoutePath(dir, route)); err != nil || r.Key != a {
		t.Fatalf("route %+v, %v: want server a's", r, err)
	}
	stopA()
	if _, err := os.Stat(adaptersrv.RoutePath(dir, route)); !os.IsNotExist(err) {
		t.Fatalf("server a's route after it exited: %v", err)
	}
	// Calls through b's socket until one finds the route free (b tries
	// at most once a second).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if _, err := adaptersrv.QueryStatus(dir, b, time.Second); err != nil {
			t.Fatal(err)
		}
		r, err := adaptersrv.ReadRoute(adaptersrv.RoutePath(dir, route))
		if err == nil && r.Key == b {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("route %+v, %v: want server b's after calls through its socket", r, err)
		}
	}
}
