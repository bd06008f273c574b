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

// controls is an answer of every ASCII control but NUL, backslashes and
// spaces where bash's read would drop or join them without -r and IFS=.
const controls = " a\x01b\x02\x03\x04\x05\x06\x07\x08\t\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f\\\n\\n \n"

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
	case "metadata/controls.meta":
		return &adaptersrv.Response{Stdout: []byte(controls)}
	case "metadata/utf8.meta":
		return &adaptersrv.Response{Stdout: []byte("caf\u00e9\n")}
	case "metadata/max.meta":
		return &adaptersrv.Response{Stdout: []byte(strings.Repeat("x", adaptersrv.FastMaxAnswer-1) + "\n")}
	case "metadata/over.meta":
		return &adaptersrv.Response{Stdout: []byte(strings.Repeat("x", adaptersrv.FastMaxAnswer) + "\n")}
	case "metadata/max1.meta":
		return &adaptersrv.Response{Stdout: []byte(strings.Repeat("x", adaptersrv.FastMaxAnswer1-1) + "\n")}
	case "metadata/over1.meta":
		return &adaptersrv.Response{Stdout: []byte(strings.Repeat("x", adaptersrv.FastMaxAnswer1) + "\n")}
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

// fastRequest sends a fast-path request of the protocol magic opens as
// the generated config's bash does: the opening with token, then (if the
// proof came) words and env. It returns the proof line and what followed
// it.
func fastRequest(port int, magic, token string, words, env []string) (proof string, answer []byte, err error) {
	c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(port), 10*time.Second)
	if err != nil {
		return "", nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(c, magic+"\x00"+token+"\x00"); err != nil {
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

// TestFastPath: every fast-path request gets exactly the answer (after
// the header of protocol 2: the proof and the byte count; before the
// trailer of protocol 1: the proof and the line count) or nothing, row by
// row, in both protocols.
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
	const proofOnly, nothing, same = "proof, then nothing", "nothing", "the same"
	cases := []struct {
		name  string
		token string
		words []string
		env   []string
		want  string // protocol 2: the answer, or proofOnly or nothing
		want1 string // protocol 1: the same, or same as want
	}{
		{"list", route.Token, words("list_metadata_files"), env, "metadata/one.meta\n", same},
		{"a file", route.Token, open, with("FILE_HANDLE=metadata/two.meta"), "a\n\nb\r\n", same},
		{"an empty file", route.Token, open, with("FILE_HANDLE=metadata/empty.meta"), "", same},
		{"every control character", route.Token, open, with("FILE_HANDLE=metadata/controls.meta"), controls, same},
		{"other variables", route.Token, open, with("FILE_HANDLE=metadata/two.meta", "HOME=/x", "METACTL_ADAPTER_CALLER_GOMAXPROCS=4", "GOMAXPROCS=1"), "a\n\nb\r\n", same},
		{"wrong token", route.Proof, open, with("FILE_HANDLE=metadata/two.meta"), nothing, same},
		{"no token", "", open, with("FILE_HANDLE=metadata/two.meta"), nothing, same},
		{"a NUL", route.Token, open, with("FILE_HANDLE=metadata/nul.meta"), proofOnly, same},
		{"no final newline", route.Token, open, with("FILE_HANDLE=metadata/unterminated.meta"), "a\nb", proofOnly},
		{"not ASCII", route.Token, open, with("FILE_HANDLE=metadata/utf8.meta"), proofOnly, "caf\u00e9\n"},
		{"FastMaxAnswer1", route.Token, open, with("FILE_HANDLE=metadata/max1.meta"), strings.Repeat("x", adaptersrv.FastMaxAnswer1-1) + "\n", same},
		{"over FastMaxAnswer1", route.Token, open, with("FILE_HANDLE=metadata/over1.meta"), strings.Repeat("x", adaptersrv.FastMaxAnswer1) + "\n", proofOnly},
		{"FastMaxAnswer", route.Token, open, with("FILE_HANDLE=metadata/max.meta"), strings.Repeat("x", adaptersrv.FastMaxAnswer-1) + "\n", proofOnly},
		{"over FastMaxAnswer", route.Token, open, with("FILE_HANDLE=metadata/over.meta"), proofOnly, same},
		{"exit 6", route.Token, open, with("FILE_HANDLE=metadata/unknown.meta"), proofOnly, same},
		{"stderr", route.Token, open, with("FILE_HANDLE=metadata/warns.meta"), proofOnly, same},
		{"the handler's fallback", route.Token, open, with("FILE_HANDLE=metadata/fallback.meta"), proofOnly, same},
		{"FILE_HANDLE unset", route.Token, open, env, proofOnly, same},
		{"FILE_HANDLE twice", route.Token, open, with("FILE_HANDLE=metadata/two.meta", "FILE_HANDLE=metadata/empty.meta"), proofOnly, same},
		{"a key variable more", route.Token, open, with("FILE_HANDLE=metadata/two.meta", "ETCDCTL_USER=u"), proofOnly, same},
		{"a key variable less", route.Token, open, []string{"PATH=/bin", "http_proxy=p", "FILE_HANDLE=metadata/two.meta"}, proofOnly, same},
		{"a key variable changed", route.Token, open, []string{"PATH=/bin", "METACTL_X=2", "http_proxy=p", "FILE_HANDLE=metadata/two.meta"}, proofOnly, same},
		{"a proxy changed", route.Token, open, []string{"PATH=/bin", "METACTL_X=1", "HTTP_PROXY=p", "FILE_HANDLE=metadata/two.meta"}, proofOnly, same},
		{"server off", route.Token, open, with("FILE_HANDLE=metadata/two.meta", "METACTL_ADAPTER_SERVER=OFF"), proofOnly, same},
		{"another catalog", route.Token, append(append([]string{}, open[:2]...), append([]string{"etcd://127.0.0.1:2379/y"}, open[3:]...)...), with("FILE_HANDLE=metadata/two.meta"), proofOnly, same},
		{"another binary", route.Token, append([]string{filepath.Join(filepath.Dir(bin), "nope")}, open[1:]...), with("FILE_HANDLE=metadata/two.meta"), proofOnly, same},
		{"a relative binary", route.Token, append([]string{"metactl-adapter"}, open[1:]...), with("FILE_HANDLE=metadata/two.meta"), proofOnly, same},
		{"a write call", route.Token, words("save_metadata_line"), env, proofOnly, same},
		{"no words", route.Token, nil, env, proofOnly, same},
	}
	var fast, fall uint64
	for _, magic := range []string{adaptersrv.FastMagic, adaptersrv.FastMagic1} {
		for _, tc := range cases {
			want := tc.want
			if magic == adaptersrv.FastMagic1 && tc.want1 != same {
				want = tc.want1
			}
			proof, answer, err := fastRequest(route.Port, magic, tc.token, tc.words, tc.env)
			if err != nil {
				t.Errorf("%s: %s: %v", magic, tc.name, err)
				continue
			}
			var got string
			switch {
			case proof == "":
				got = nothing
			case proof != route.Proof:
				t.Errorf("%s: %s: the server proved itself with %q, want %q", magic, tc.name, proof, route.Proof)
				continue
			case len(answer) == 0:
				got = proofOnly
				fall++
			default:
				fast++
				header := fmt.Sprintf("%s %08d\n", route.Proof, len(want))
				body, ok := strings.CutPrefix(string(answer), header)
				if magic == adaptersrv.FastMagic1 {
					header = fmt.Sprintf("%s %d\n", route.Proof, strings.Count(want, "\n"))
					body, ok = strings.CutSuffix(string(answer), header)
				}
				if !ok {
					t.Errorf("%s: %s: answer %q lacks the header or trailer %q", magic, tc.name, answer, header)
					continue
				}
				got = body
			}
			if got != want {
				t.Errorf("%s: %s: got %q, want %q", magic, tc.name, got, want)
			}
		}
	}
	// An unknown protocol (a later one) gets nothing, as a wrong token.
	if proof, answer, err := fastRequest(route.Port, "metactl-fast/3", route.Token, open, with("FILE_HANDLE=metadata/two.meta")); err != nil || proof != "" || len(answer) != 0 {
		t.Errorf("metactl-fast/3: proof %q, answer %q, %v; want nothing", proof, answer, err)
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
	if proof, answer, err := fastRequest(route.Port, adaptersrv.FastMagic, route.Token, open, with("FILE_HANDLE=metadata/two.meta")); err != nil || proof != route.Proof || len(answer) != 0 {
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
	if proof, answer, err := fastRequest(route.Port, adaptersrv.FastMagic, route.Token, words, big); proof != route.Proof || len(answer) != 0 {
		t.Errorf("a request over the bound: proof %q, answer %q, %v", proof, answer, err)
	}
	if _, answer, err := fastRequest(route.Port, adaptersrv.FastMagic, route.Token, words, nil); err != nil || string(answer) != route.Proof+" 00000018\nmetadata/one.meta\n" {
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
