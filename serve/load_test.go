package serve_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/serve"
)

// Load test sizes: METACTL_LOAD=1 runs issue 20's (100k files, 200
// clients, 20,000 idle connections, 30 stalled archive readers, 30 s);
// without it a quick run of the same shape.
const loadEnv = "METACTL_LOAD"

type loadSize struct {
	files, clients, idle, stalled int
	duration                      time.Duration
}

func loadSizes() loadSize {
	if os.Getenv(loadEnv) == "1" {
		return loadSize{files: 100_000, clients: 200, idle: 20_000, stalled: 30, duration: 30 * time.Second}
	}
	return loadSize{files: 2_000, clients: 20, idle: 300, stalled: 3, duration: 2 * time.Second}
}

// TestMain runs the helper roles of TestLoad when asked to: the server
// (METACTL_LOAD_ROLE=server) and holders of idle connections (idle).
func TestMain(m *testing.M) {
	switch os.Getenv("METACTL_LOAD_ROLE") {
	case "server":
		loadServer()
		return
	case "idle":
		loadIdle()
		return
	}
	os.Exit(m.Run())
}

// loadServer serves METACTL_LOAD_CATALOG on a free port with the defaults,
// prints the address, and runs until stdin closes.
func loadServer() {
	debug.SetMemoryLimit(384 << 20) // metactl serve's --memory-limit default
	s, err := serve.New(serve.Options{Catalog: os.Getenv("METACTL_LOAD_CATALOG"), ScratchDir: os.Getenv("METACTL_LOAD_SCRATCH")})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	raiseFDLimit()
	srv := s.HTTPServer()
	s.Start()
	go srv.Serve(s.Listener(ln))
	fmt.Println(ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
	s.Close()
}

// loadIdle opens METACTL_LOAD_N keep-alive connections to
// METACTL_LOAD_ADDR, each after one request, leaves them idle, and when
// stdin closes prints how many the server still held open.
func loadIdle() {
	raiseFDLimit()
	n, _ := strconv.Atoi(os.Getenv("METACTL_LOAD_N"))
	addr := os.Getenv("METACTL_LOAD_ADDR")
	var conns []net.Conn
	failed := 0
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			failed++
			continue
		}
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: load\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		if resp, err := http.ReadResponse(br, nil); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		conns = append(conns, c)
	}
	fmt.Printf("opened %d failed %d\n", len(conns), failed)
	io.Copy(io.Discard, os.Stdin)
	open := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil && os.IsTimeout(err) {
			open++ // still open: the read only timed out
		}
	}
	fmt.Printf("open %d\n", open)
}

func raiseFDLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

// procStatus reads a field of /proc/PID/status in KiB (VmRSS, VmHWM).
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return -1
}

func openFDs(pid int) int {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(es)
}

// TestLoad runs the server as a child process on a generated catalog and
// loads it from this one: clients cycling through every endpoint, idle
// keep-alive connections (held by helper processes, whose descriptors do
// not count against this one's limit), and archive readers that never
// read. It reports requests served, errors, the server's peak and
// after-load RSS, its open descriptors, and the slowest /v1/status. It
// fails only on what must never happen: a transport error or a 5xx other
// than 503 from a capped request, or a server that died; the figures are
// for the README (issue 20's goals: peak RSS <= 512 MiB, back within 2x
// idle, status under 1 s).
func TestLoad(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc for the server's RSS and descriptors")
	}
	size := loadSizes()
	dir := t.TempDir()
	cat := filepath.Join(dir, "c.db")
	start := time.Now()
	catalogtest.BenchCatalogAt(t, cat, size.files, 1)
	t.Logf("catalog of %d files built in %s", size.files, time.Since(start).Round(time.Millisecond))
	debug.FreeOSMemory()
	raiseFDLimit()

	server := exec.Command(os.Args[0], "-test.run=^$")
	server.Env = append(os.Environ(), "METACTL_LOAD_ROLE=server", "METACTL_LOAD_CATALOG="+cat, "METACTL_LOAD_SCRATCH="+dir)
	stdin, _ := server.StdinPipe()
	stdout, _ := server.StdoutPipe()
	server.Stderr = os.Stderr
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); server.Wait() }()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || strings.HasPrefix(sc.Text(), "error") {
		t.Fatalf("server: %q", sc.Text())
	}
	addr := sc.Text()
	base := "http://" + addr
	pid := server.Process.Pid

	// Ready, and the first verify done: the idle size.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: size.clients, DisableCompression: true}, Timeout: 5 * time.Minute}
	for {
		resp, err := client.Get(base + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), "metactl_verify_problems ") {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	idleRSS := procStatus(pid, "VmRSS")
	t.Logf("server idle: RSS %.1f MiB, %d fds", float64(idleRSS)/1024, openFDs(pid))

	var peakRSS, peakFDs atomic.Int64
	sampleDone := make(chan struct{})
	stopSample := make(chan struct{})
	go func() {
		defer close(sampleDone)
		for {
			peakRSS.Store(max(peakRSS.Load(), procStatus(pid, "VmRSS")))
			peakFDs.Store(max(peakFDs.Load(), int64(openFDs(pid))))
			select {
			case <-stopSample:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	// /v1/status on a fresh connection every 200 ms, throughout.
	var statusMax atomic.Int64
	var statusN, statusSlow, statusFail atomic.Int64
	stopStatus := make(chan struct{})
	statusDone := make(chan struct{})
	go func() {
		defer close(statusDone)
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
		for {
			select {
			case <-stopStatus:
				return
			case <-time.After(200 * time.Millisecond):
			}
			t0 := time.Now()
			resp, err := c.Get(base + "/v1/status")
			d := time.Since(t0)
			statusN.Add(1)
			if err != nil || resp.StatusCode != 200 {
				statusFail.Add(1)
			}
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if d > time.Second {
				statusSlow.Add(1)
			}
			statusMax.Store(max(statusMax.Load(), int64(d)))
		}
	}()

	// Idle connections, in helper processes of at most 10,000 each.
	var idlers []*exec.Cmd
	var idleOut []*bufio.Scanner
	var idleIn []io.WriteCloser
	for left := size.idle; left > 0; left -= 10_000 {
		n := min(left, 10_000)
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), "METACTL_LOAD_ROLE=idle", "METACTL_LOAD_ADDR="+addr, "METACTL_LOAD_N="+strconv.Itoa(n))
		in, _ := c.StdinPipe()
		out, _ := c.StdoutPipe()
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		idlers, idleIn, idleOut = append(idlers, c), append(idleIn, in), append(idleOut, bufio.NewScanner(out))
	}

	// Stalled archive readers: a request, then nothing read.
	var stalled []net.Conn
	for range size.stalled {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		fmt.Fprintf(c, "GET /v1/archive HTTP/1.1\r\nHost: load\r\n\r\n")
		stalled = append(stalled, c)
	}

	// The clients, cycling through every endpoint.
	paths := []string{"/v1/status", "/v1/ls?limit=500", "/v1/read?handle=" + firstHandle(t, base), "/v1/plan",
		"/v1/verify", "/v1/log?n=20", "/v1/ls", "/v1/archive", "/metrics", "/readyz", "/v1/ls?state=live&limit=1000",
		"/v1/status?coverage=true", "/healthz"}
	codes := map[int]int64{}
	var codesMu sync.Mutex
	var served, errs atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(context.Background(), size.duration)
	defer cancel()
	var wg sync.WaitGroup
	for c := range size.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; ctx.Err() == nil; i++ {
				p := paths[i%len(paths)]
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+p, nil)
				if i%3 == 0 {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, p+": "+err.Error())
					}
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil && ctx.Err() != nil {
					continue
				}
				codesMu.Lock()
				codes[resp.StatusCode]++
				codesMu.Unlock()
				served.Add(1)
				if err != nil || (resp.StatusCode >= 500 && resp.StatusCode != 503) {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %d %v", p, resp.StatusCode, err))
				}
			}
		}()
	}
	wg.Wait()
	loadEnd := time.Now()

	for i, in := range idleIn {
		in.Close()
		var lines []string
		for idleOut[i].Scan() {
			lines = append(lines, idleOut[i].Text())
		}
		idlers[i].Wait()
		t.Logf("idle helper %d: %s", i, strings.Join(lines, "; "))
	}
	for _, c := range stalled {
		c.Close()
	}
	close(stopStatus)
	<-statusDone
	close(stopSample)
	<-sampleDone
	openAtPeak := peakFDs.Load()
	client.CloseIdleConnections()

	// After the load: the server's RSS once its collector and scavenger
	// have had a few seconds.
	var afterRSS int64
	for range 20 {
		time.Sleep(time.Second)
		afterRSS = procStatus(pid, "VmRSS")
		if afterRSS <= 2*idleRSS {
			break
		}
	}
	hwm := procStatus(pid, "VmHWM")
	resp, err := http.Get(base + "/metrics")
	var evicted string
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "metactl_serve_connections_closed_total ") {
				evicted = strings.TrimPrefix(line, "metactl_serve_connections_closed_total ")
			}
		}
	}
	var cs []string
	codesMu.Lock()
	keys := make([]int, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		cs = append(cs, fmt.Sprintf("%d: %d", k, codes[k]))
	}
	codesMu.Unlock()
	report := fmt.Sprintf("load: %d files, %d clients for %s, %d idle connections, %d stalled archive readers: "+
		"%d requests served (%s), %d errors; server RSS idle %.1f MiB, peak %.1f MiB (VmHWM %.1f MiB), after %.1f MiB (%.2fx idle); "+
		"open fds peak %d, connections closed by the cap %s; /v1/status %d polls, slowest %s, %d over 1 s, %d not 200",
		size.files, size.clients, size.duration, size.idle, size.stalled, served.Load(), strings.Join(cs, ", "), errs.Load(),
		float64(idleRSS)/1024, float64(peakRSS.Load())/1024, float64(hwm)/1024, float64(afterRSS)/1024, float64(afterRSS)/float64(idleRSS),
		openAtPeak, evicted, statusN.Load(), time.Duration(statusMax.Load()).Round(time.Millisecond), statusSlow.Load(), statusFail.Load())
	t.Log(report)
	fmt.Println(report)
	_ = loadEnd
	if errs.Load() > 0 {
		t.Errorf("%d errors; first: %v", errs.Load(), firstErr.Load())
	}
	if server.ProcessState != nil {
		t.Errorf("the server exited: %v", server.ProcessState)
	}
}
