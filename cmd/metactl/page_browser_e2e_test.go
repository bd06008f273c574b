package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/metactl/metactl/internal/catalogtest"
)

// BrowserSkipEnv names the variable that lets TestCoveragePageInBrowser
// skip where Chromium is missing: METACTL_SKIP_BROWSER=1, for a local
// run only. Without it, or with CI=true, a missing Chromium fails the test.
const BrowserSkipEnv = "METACTL_SKIP_BROWSER"

// chromium returns the path of Debian's Chromium (or $METACTL_CHROMIUM),
// or fails the test: it skips only when asked to locally.
func chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("METACTL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it as root)"
	if os.Getenv("CI") != "true" && os.Getenv(BrowserSkipEnv) == "1" {
		t.Skipf("%s; skipped because %s=1", msg, BrowserSkipEnv)
	}
	t.Fatalf("%s; set %s=1 to skip it in a local run (never with CI=true)", msg, BrowserSkipEnv)
	return ""
}

// TestCoveragePageInBrowser loads serve's coverage page in headless
// Chromium (through chromedp) for a catalog with a planted gap of two
// transaction batches, and checks what an operator would see: no console
// error, exception or refused request; the frontier number equal to
// /v1/status's; the gap's exact version range as text; the gap reachable
// with the Tab key; then, after an import in another process fills the
// gap, the new generation and no gap without a reload; and when serve
// goes away, the page says it is stale.
func TestCoveragePageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium: not in -short")
	}
	chrome := chromium(t)
	cat := filepath.Join(t.TempDir(), "c.db")
	dir, missing := gappedSample(t)
	must(t, cat, nil, "import", "--local-fs-dir", dir)
	base, srv, _ := startServe(t, cat)

	bctx := browser(t, chrome)
	var mu sync.Mutex
	var problems []string
	listen := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			problems = append(problems, fmt.Sprintf("exception: %s at %s:%d", msg, d.URL, d.LineNumber))
		case *log.EventEntryAdded:
			// Refused requests, CSP violations and failed loads land here.
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
				problems = append(problems, fmt.Sprintf("log %s: %s %s", ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if listen != nil {
		t.Fatalf("start Chromium (%s): %v", chrome, listen)
	}
	consoleProblems := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), problems...)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(document.querySelector(`+jsString(sel)+`)||{}).textContent||""`))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	waitFor := func(what, expr string) {
		t.Helper()
		_, err := chromedp.Run(bctx, chromedp.Poll[chromedp.Void](expr,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(45*time.Second)))
		if err != nil {
			t.Fatalf("waiting for %s: %v\ngeneration %q, frontier %q, stale %q, holes %q, console: %q", what, err,
				text("#generation"), text("#frontier"), text("#stale"), text("#hole-list"), consoleProblems())
		}
	}

	start := time.Now()
	enable := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, log.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, runtime.Enable, cdp.Empty{})
		return err
	})
	if err := chromedp.Do(bctx, enable, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	waitFor("the first data", `document.getElementById("generation").textContent === "1" && /^verify at/.test(document.getElementById("verify-note").textContent) && document.querySelector("#log tbody tr") !== null`)
	t.Logf("page loaded with its data, verify and journal in %s", time.Since(start).Round(time.Millisecond))

	// The frontier is /v1/status's.
	_, _, body := get(t, base+"/v1/status?coverage=true")
	var status struct {
		Generation uint64 `json:"generation"`
		Coverage   struct {
			FrontierVersion uint64 `json:"frontier_version"`
		} `json:"coverage"`
	}
	if err := json.Unmarshal(body, &status); err != nil {
		t.Fatalf("/v1/status?coverage=true: %v\n%s", err, body)
	}
	if got, want := text("#frontier"), fmt.Sprint(status.Coverage.FrontierVersion); got != want || want != "17000000" {
		t.Errorf("page frontier %q, /v1/status's %q (want 17000000)", got, want)
	}
	// The gap's range as text: in the list, and beside the gap in the drawing.
	const gap = "versions 17000001-19000000"
	if got := text("#hole-list"); !strings.Contains(got, "GAP in transactions: "+gap) {
		t.Errorf("hole list %q lacks the gap %q", got, gap)
	}
	if got := text("#timeline svg g.hole.gap"); !strings.Contains(got, "GAP "+gap) {
		t.Errorf("drawing's gap label %q lacks %q", got, gap)
	}
	if got := text("#problems"); !strings.Contains(got, "txn-gap") {
		t.Errorf("verify problems %q lack txn-gap", got)
	}
	// Keyboard: Tab reaches the gap in the drawing.
	reached := false
	for i := 0; i < 30 && !reached; i++ {
		if err := chromedp.Do(bctx, chromedp.KeyEvent("\t")); err != nil {
			t.Fatal(err)
		}
		label, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.activeElement ? (document.activeElement.getAttribute("aria-label")||"") : ""`))
		if err != nil {
			t.Fatal(err)
		}
		reached = strings.Contains(label, "gap in transactions: "+gap)
	}
	if !reached {
		t.Error("30 presses of Tab never reached the gap in the drawing")
	}
	if p := consoleProblems(); len(p) > 0 {
		t.Errorf("console problems: %q", p)
	}

	// Fill the gap from another process; the page follows without a reload
	// (a reload would lose the marker).
	if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`window.__noReload = 42`)); err != nil {
		t.Fatal(err)
	}
	fillSample(t, dir, missing)
	must(t, cat, nil, "import", "--local-fs-dir", dir)
	waitFor("generation 2 without the gap", `document.getElementById("generation").textContent === "2" && window.__noReload === 42 && !document.querySelector("#timeline svg g.hole") && /No gap/.test(document.getElementById("hole-list").textContent)`)
	// verify runs in the background, once per generation: until it is
	// back, the old problems are marked outdated; then they are gone.
	waitFor("verify of generation 2", `/^verify at generation 2: 0 problems/.test(document.getElementById("verify-note").textContent)`)
	if got := text("#frontier"); got != "58000000" {
		t.Errorf("frontier after the fill: %q, want 58000000", got)
	}
	if got := text("body"); strings.Contains(got, gap) {
		t.Errorf("the page still names the filled gap %q", gap)
	}
	waitFor("the journal's new import", `document.querySelector("#log tbody tr td").textContent === "2"`)
	if p := consoleProblems(); len(p) > 0 {
		t.Errorf("console problems: %q", p)
	}

	// serve goes away: the page keeps the numbers but says they are stale.
	stopServe(t, srv)
	waitFor("the stale banner", `!document.getElementById("stale").hidden && /STALE/.test(document.getElementById("stale").textContent) && document.body.classList.contains("stale")`)
	t.Logf("stale banner: %s", text("#stale"))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// browser starts headless Chromium with the flags this machine needs
// (docs: no sandbox as root, no GPU, no QUIC, no background connections to
// Google's hosts, a fresh profile) and returns its chromedp context; the
// browser stops when the test ends, or after 10 minutes.
func browser(t testing.TB, chrome string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 1400),
	)
	opts = append(opts, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc(); cancel() })
	return bctx
}

// serveOn starts 'metactl serve' on the catalog file path (whatever the
// test backend) and returns its base URL; it is killed when the test ends.
func serveOn(t testing.TB, path string) string {
	t.Helper()
	cmd := exec.Command(binary, "--catalog", path, "serve", "--listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 4096)
	n, _ := stderr.Read(buf)
	_, rest, ok := strings.Cut(string(buf[:n]), "listening on ")
	addr, _, _ := strings.Cut(rest, ",")
	if !ok {
		t.Fatalf("serve: %q", buf[:n])
	}
	go io.Copy(io.Discard, stderr)
	return "http://" + addr
}

// BenchmarkCoveragePageInBrowser is the coverage page as an operator loads
// it: headless Chromium navigates to serve's page and the time runs until
// the frontier and the timeline of the catalog's generation are on screen
// (verify goes on in the background and is not waited for). The catalog
// holds 100,000 lines in files of 100 lines; 1,000,000 with
// METACTL_BENCH_LARGE=1 (issue 23: under 2 s at 1M entries).
//
//   - first: a serve process that has not computed the generation yet
//     (started before the timer), the worst case of a first look;
//   - kept: the same serve again (another page, or a reload).

func BenchmarkCoveragePageInBrowser(b *testing.B) {
	chrome := chromium(b)
	path := filepath.Join(b.TempDir(), "c.db")
	catalogtest.BenchCatalogAt(b, path, catalogtest.BenchSize(100_000, 1_000_000), 100)
	bctx := browser(b, chrome)
	loaded := chromedp.Poll[chromedp.Void](`document.getElementById("generation").textContent === "1" && /^[0-9]+$/.test(document.getElementById("frontier").textContent) && document.querySelector("#timeline svg") !== null`,
		chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(5*time.Minute))
	// load navigates and waits for the data; it returns the browser's own
	// reading of the load: from the start of the navigation to the moment
	// the page drew the coverage (the mark page.js sets), without the
	// DevTools round trips of the harness.
	load := func(b *testing.B, base string) float64 {
		if err := chromedp.Do(bctx, chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/")); err != nil {
			b.Fatal(err)
		}
		// The poll may start in the document being replaced; then it
		// runs again in the new one.
		for try := 0; ; try++ {
			_, err := chromedp.Run(bctx, loaded)
			if err == nil {
				break
			}
			if try == 5 || !strings.Contains(err.Error(), "Cannot find context") {
				b.Fatal(err)
			}
		}
		ms, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`performance.getEntriesByName("metactl-coverage-shown")[0].startTime`))
		if err != nil {
			b.Fatal(err)
		}
		return ms
	}
	b.Run("first", func(b *testing.B) {
		var ms float64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			base := serveOn(b, path)
			b.StartTimer()
			ms += load(b, base)
		}
		b.ReportMetric(ms/float64(b.N), "browser-ms/op")
	})
	kept := serveOn(b, path)
	b.Run("kept", func(b *testing.B) {
		load(b, kept) // computes the generation's document once
		b.ResetTimer()
		var ms float64
		for i := 0; i < b.N; i++ {
			ms += load(b, kept)
		}
		b.ReportMetric(ms/float64(b.N), "browser-ms/op")
	})
	timing, err := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify(performance.getEntries().filter(e => e.duration > 0).map(e => [e.entryType, e.name.replace(location.origin, ""), Math.round(e.startTime), Math.round(e.duration)]))`))
	if err == nil {
		b.Logf("last load, [type, name, start ms, duration ms]: %s", timing)
	}
}

// TestCoveragePageBehindAuthAndTLS: behind serve's --web-config-file (TLS
// and basic auth, exporter-toolkit), the page loads and polls: its
// relative, same-origin fetches carry the credentials the browser was
// given once at the challenge, as a user gives them at the prompt.
func TestCoveragePageBehindAuthAndTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium: not in -short")
	}
	chrome := chromium(t)
	dir := t.TempDir()
	writeCert(t, dir, "serve", true, nil, nil)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	cfg := "tls_server_config:\n  cert_file: " + filepath.Join(dir, "serve.pem") + "\n  key_file: " + filepath.Join(dir, "serve-key.pem") +
		"\nbasic_auth_users:\n  operator: " + string(hash) + "\n"
	if err := os.WriteFile(webConfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cat := filepath.Join(t.TempDir(), "c.db")
	storage, _ := gappedSample(t)
	must(t, cat, nil, "import", "--local-fs-dir", storage)
	base, _, _ := startServe(t, cat, "--web-config-file", webConfig)
	base = "https://" + strings.TrimPrefix(base, "http://")

	// The certificate is the test's own: Chromium is told to accept it
	// rather than given a CA store.
	bctx := browser(t, chrome, chromedp.Flag("ignore-certificate-errors", true))
	var mu sync.Mutex
	var problems []string
	var challenges int
	answer := func(a chromedp.Action[chromedp.Void]) {
		go func() { // never from inside the listener (chromedp.Listen)
			if err := chromedp.Do(bctx, a); err != nil && bctx.Err() == nil {
				mu.Lock()
				problems = append(problems, "fetch domain: "+err.Error())
				mu.Unlock()
			}
		}()
	}
	err = chromedp.Listen(bctx, func(ev any) {
		switch ev := ev.(type) {
		case *fetch.EventRequestPaused:
			id := ev.RequestID
			answer(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
				return err
			}))
		case *fetch.EventAuthRequired:
			mu.Lock()
			challenges++
			mu.Unlock()
			id := ev.RequestID
			answer(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: id,
					AuthChallengeResponse: &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials,
						Username: "operator", Password: "s3cret"}})
				return err
			}))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				mu.Lock()
				problems = append(problems, "console.error")
				mu.Unlock()
			}
		case *runtime.EventExceptionThrown:
			mu.Lock()
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	enable := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, runtime.Enable, cdp.Empty{}); err != nil {
			return err
		}
		handle := true
		_, err := cdp.Call(ctx, tg, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &handle})
		return err
	})
	if err := chromedp.Do(bctx, enable, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	_, err = chromedp.Run(bctx, chromedp.Poll[chromedp.Void](`document.getElementById("generation").textContent === "1" && document.getElementById("frontier").textContent === "17000000" && /versions 17000001-19000000/.test(document.getElementById("hole-list").textContent) && document.querySelector("#log tbody tr") !== null && document.getElementById("stale").hidden`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(45*time.Second)))
	if err != nil {
		stale, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById("stale").textContent`))
		t.Fatalf("the page behind auth and TLS: %v (banner %q)", err, stale)
	}
	mu.Lock()
	defer mu.Unlock()
	if challenges == 0 {
		t.Error("the browser was never asked for credentials: is basic auth on?")
	}
	if len(problems) > 0 {
		t.Errorf("problems: %q", problems)
	}
	t.Logf("page over HTTPS with basic auth: %d challenges answered", challenges)
}
