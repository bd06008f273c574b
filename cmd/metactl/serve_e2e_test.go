package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// startServe starts 'metactl serve' on a free port and returns its base
// URL and process; the caller stops it with SIGTERM (stopServe).
func startServe(t *testing.T, cat string, extra ...string) (string, *exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--listen", "127.0.0.1:0"}, extra...)...)
	cmd.Env = append(os.Environ(), "METACTL_CATALOG="+catalogLocation(cat))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	if !sc.Scan() {
		t.Fatalf("serve printed nothing: %v", sc.Err())
	}
	line := sc.Text()
	_, rest, ok := strings.Cut(line, "listening on ")
	addr, _, _ := strings.Cut(rest, ",")
	if !ok {
		t.Fatalf("serve: %q", line)
	}
	var log bytes.Buffer
	var mu sync.Mutex
	go func() {
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	return "http://" + addr, cmd, &log
}

// stopServe sends SIGTERM and wants a clean exit 0 within 10 s.
func stopServe(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("serve did not stop within 10s of SIGTERM")
	}
}

func get(t testing.TB, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestServeDocumentsEqualCLI: every /v1 endpoint answers with the byte-exact
// document of the CLI's --json, with the generation header; bad parameters
// are the error document with 400; the archive imports to the same view.
func TestServeDocumentsEqualCLI(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	must(t, cat, []string{"METACTL_NOW=1700000000"}, "compact", "--transaction-file-compact-factor", "30")
	base, cmd, _ := startServe(t, cat)
	for _, c := range []struct {
		path string
		args []string
	}{
		{"/v1/status", []string{"status"}},
		{"/v1/ls?state=live", []string{"ls", "--state", "live"}},
		{"/v1/read?handle=metadata/identity.meta&handle=metadata/transaction_0-0.meta", []string{"read", "metadata/identity.meta", "metadata/transaction_0-0.meta"}},
		{"/v1/plan?target_version=5000000", []string{"plan", "--target-version", "5000000"}},
		{"/v1/verify", []string{"verify"}},
		{"/v1/log?n=1&files=true", []string{"log", "-n", "1", "--files"}},
	} {
		code, h, body := get(t, base+c.path)
		want := must(t, cat, nil, append([]string{"--json"}, c.args...)...).stdout
		if code != 200 || string(body) != want {
			t.Errorf("GET %s: %d\n%s\nwant the CLI's:\n%s", c.path, code, body, want)
		}
		if g := h.Get("X-Metactl-Generation"); g != "2" {
			t.Errorf("GET %s: X-Metactl-Generation %q, want 2", c.path, g)
		}
	}
	code, _, body := get(t, base+"/v1/plan?target_version=5000000&local_fs_dir=/etc")
	if code != 400 || !strings.Contains(string(body), `"code": "usage"`) || !strings.Contains(string(body), `unknown query parameter \"local_fs_dir\"`) {
		t.Errorf("unknown parameter: %d %s", code, body)
	}
	code, h, body := get(t, base+"/v1/archive")
	if code != 200 || h.Get("X-Metactl-Generation") != "2" {
		t.Fatalf("archive: %d %v", code, h)
	}
	arc := filepath.Join(t.TempDir(), "a.mcar")
	os.WriteFile(arc, body, 0o644)
	if a, b := must(t, arc, nil, "status").stdout, must(t, cat, nil, "status").stdout; a != b {
		t.Errorf("archive from serve: status %q, want %q", a, b)
	}
	if code, _, body := get(t, base+"/healthz"); code != 200 || string(body) != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	code, _, body = get(t, base+"/metrics")
	for _, want := range []string{"metactl_catalog_generation 2\n", `metactl_files{state="live"} 135` + "\n",
		"metactl_restorable_frontier_version 5.8e+07\n", "metactl_verify_problems 0\n",
		`metactl_serve_requests_total{path="/v1/status",status="200"} 1` + "\n", "go_goroutines "} {
		if code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q: %d\n%s", want, code, body)
		}
	}
	stopServe(t, cmd)
}

// TestServeNeverBlocksWriter: writer processes (import and compact, the
// real binary) loop while clients hammer every endpoint of serve. Writers
// run with --lock-timeout 2s, so one blocked longer by serve exits 5 and
// fails the test; every request must succeed. Prints the counts and the
// longest writer run against the uncontended median.
func TestServeNeverBlocksWriter(t *testing.T) {
	// Not parallel: it counts what a soak of a few seconds did.
	dur := soakDuration(t, 5*time.Second, 2*time.Second)
	storage := t.TempDir()
	cat := filepath.Join(t.TempDir(), "c.db")
	epoch := uint64(0)
	addEpoch(t, storage, epoch)
	must(t, cat, nil, "import", "--local-fs-dir", storage)
	writer := func() (time.Duration, result) {
		epoch++
		addEpoch(t, storage, epoch)
		start := time.Now()
		r := metactl(t, cat, nil, "--lock-timeout", "2s", "import", "--local-fs-dir", storage)
		if r.code == 0 {
			r = metactl(t, cat, nil, "--lock-timeout", "2s", "compact", "--epoch-ending-file-compact-factor", "3",
				"--remove-compacted-file-after", "0")
		}
		return time.Since(start), r
	}
	var baseline []time.Duration
	for range 5 {
		d, r := writer()
		if r.code != 0 {
			t.Fatalf("uncontended writer: %s", r)
		}
		baseline = append(baseline, d)
	}
	slices.Sort(baseline)

	base, cmd, _ := startServe(t, cat, "--max-expensive", "8", "--busy-timeout", "20s")
	paths := []string{"/v1/status", "/v1/ls", "/v1/read?handle=metadata/epoch_ending_0-0.meta", "/v1/plan", "/v1/verify",
		"/v1/log?n=5", "/metrics", "/v1/archive"}
	var requests, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failMu sync.Mutex
	var firstFailures []string
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := paths[i%len(paths)]
				resp, err := http.Get(base + p)
				requests.Add(1)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				ok := err == nil && resp.StatusCode == 200 &&
					(p == "/metrics" || resp.Header.Get("X-Metactl-Generation") != "")
				if !ok {
					failures.Add(1)
					failMu.Lock()
					if len(firstFailures) < 5 {
						firstFailures = append(firstFailures, fmt.Sprintf("%s: %v %v %.200s", p, err, resp, body))
					}
					failMu.Unlock()
				}
			}
		}()
	}
	var runs []time.Duration
	deadline := time.Now().Add(dur)
	for time.Now().Before(deadline) {
		d, r := writer()
		if r.code != 0 {
			t.Errorf("writer under serve load: %s", r)
			break
		}
		runs = append(runs, d)
	}
	close(stop)
	wg.Wait()
	stopServe(t, cmd)
	slices.Sort(runs)
	median := baseline[len(baseline)/2]
	longest := runs[len(runs)-1]
	fmt.Printf("serve-writer: %d requests by 4 clients, %d failed; %d writer rounds (import+compact, --lock-timeout 2s), none timed out; "+
		"writer round: uncontended median %s, under load median %s, longest %s (longest extra wait %s)\n",
		requests.Load(), failures.Load(), len(runs), median.Round(time.Millisecond), runs[len(runs)/2].Round(time.Millisecond),
		longest.Round(time.Millisecond), max(0, longest-median).Round(time.Millisecond))
	if failures.Load() != 0 {
		t.Errorf("%d requests failed; first: %s", failures.Load(), strings.Join(firstFailures, "\n"))
	}
	if requests.Load() < 20 || len(runs) < 3 {
		t.Errorf("too little happened: %d requests, %d writer rounds", requests.Load(), len(runs))
	}
}

// TestMetricsTextfile: any command given --metrics-textfile writes the
// catalog's metrics and its own run to a node-exporter textfile; a failed
// run records its exit code.
func TestMetricsTextfile(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	prom := filepath.Join(t.TempDir(), "metactl.prom")
	must(t, cat, nil, "--metrics-textfile", prom, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	must(t, cat, []string{"METACTL_NOW=1700000000"}, "--metrics-textfile", prom, "compact", "--transaction-file-compact-factor", "30")
	b, _ := os.ReadFile(prom)
	for _, want := range []string{"metactl_catalog_generation 2\n", `metactl_run_exit_code{command="compact"} 0` + "\n",
		`metactl_last_operation_timestamp_seconds{kind="compact"} 1.7e+09` + "\n", "metactl_view_entries 95\n", "metactl_restorable 1\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("textfile lacks %q:\n%s", want, b)
		}
	}
	r := metactl(t, filepath.Join(t.TempDir(), "missing.db"), nil, "--metrics-textfile", prom, "status")
	b, _ = os.ReadFile(prom)
	if r.code != 6 || !strings.Contains(string(b), `metactl_run_exit_code{command="status"} 6`) || strings.Contains(string(b), "metactl_catalog_generation") {
		t.Errorf("failed run: exit %d, textfile:\n%s", r.code, b)
	}
}

// TestServeArchive: serve given an archive as --catalog unpacks it once
// and answers as the CLI does on that archive.
func TestServeArchive(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	arc := filepath.Join(t.TempDir(), "c.mcar")
	must(t, cat, nil, "export", "--archive", arc)
	base, cmd, _ := startServe(t, arc)
	for path, args := range map[string][]string{"/v1/status": {"status"}, "/v1/log": {"log"}} {
		code, h, body := get(t, base+path)
		want := must(t, arc, nil, append([]string{"--json"}, args...)...).stdout
		if code != 200 || string(body) != want || h.Get("X-Metactl-Generation") != "1" {
			t.Errorf("GET %s on an archive: %d %v\n%s\nwant:\n%s", path, code, h, body, want)
		}
	}
	stopServe(t, cmd)
}
