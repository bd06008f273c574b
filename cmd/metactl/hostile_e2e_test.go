package main

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// adapterStorage copies the first n files of the gzip sample into a new
// bucket folder and returns it with a command-adapter config for it, in
// which edit has changed the commands of export/testdata/local-gzip.yaml.
func adapterStorage(t *testing.T, n int, edit func(cfg string) string) (bucket, cfg string) {
	t.Helper()
	bucket = t.TempDir()
	sample := filepath.Join(repoRoot(t), "testdata", "sample-gzip", "metadata")
	os.MkdirAll(filepath.Join(bucket, "metadata"), 0o755)
	for _, name := range listDir(t, sample)[:n] {
		b, _ := os.ReadFile(filepath.Join(sample, name))
		os.WriteFile(filepath.Join(bucket, "metadata", name), b, 0o644)
	}
	tmpl, err := os.ReadFile(filepath.Join(repoRoot(t), "export", "testdata", "local-gzip.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl = bytes.ReplaceAll(tmpl, []byte("/nonexistent/metactl-test-folder"), []byte(bucket))
	edited := edit(string(tmpl))
	if edited == string(tmpl) {
		t.Fatal("config template changed: the edit did nothing")
	}
	cfg = filepath.Join(t.TempDir(), "adapter.yaml")
	os.WriteFile(cfg, []byte(edited), 0o644)
	return bucket, cfg
}

// hangOn makes the command key sleep (in a pipeline, so only a kill of
// the whole process group ends it) when cond holds, before its usual work.
func hangOn(key, cond string) func(string) string {
	return func(cfg string) string {
		return strings.Replace(cfg, "  "+key+": |\n", "  "+key+": |\n    if "+cond+"; then sleep 600 | cat; fi\n", 1)
	}
}

// TestAdapterTimeout: a hung command-adapter call (list, download, save)
// is killed after --adapter-timeout, named with its call and handle, and
// the import or drop-in fails whole: the catalog and the storage are as
// before.
func TestAdapterTimeout(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash:", err)
	}
	sample := filepath.Join(repoRoot(t), "testdata", "sample-gzip", "metadata")
	victim := listDir(t, sample)[3]
	cases := []struct {
		name, key, cond, want string
		args                  []string
	}{
		{"list", "list_metadata_files", "true", `command adapter list_metadata_files: no answer within 1s, process group killed`, []string{"import"}},
		{"open", "open_for_read", `[ "$FILE_HANDLE" = metadata/` + victim + ` ]`, `command adapter open_for_read "metadata/` + victim + `": no answer within 1s, process group killed`, []string{"import"}},
		{"open-dropin", "open_for_read", `[ "$FILE_HANDLE" = metadata/` + victim + ` ]`, `command adapter open_for_read "metadata/` + victim + `": no answer within 1s, process group killed`, []string{"compact", "--transaction-file-compact-factor", "2"}},
		{"save-dropin", "save_metadata_line", "true", `command adapter save_metadata_line "`, []string{"compact", "--transaction-file-compact-factor", "2"}},
	}
	// The cases side by side: each mostly waits out its 1s timeout. The
	// test as a whole stays serial, so no other test's load can make one
	// of the calls that do answer take longer than the timeout.
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bucket, cfg := adapterStorage(t, 8, hangOn(tc.key, tc.cond))
			cat := filepath.Join(t.TempDir(), "c.db")
			must(t, cat, nil, "import", "--local-fs-dir", emptyStorage(t))
			before := catalogBytes(t, cat)
			storageBefore := listDir(t, filepath.Join(bucket, "metadata"))
			args := append(tc.args, "--command-adapter-config", cfg, "--adapter-timeout", "1s")
			r := metactl(t, cat, []string{"METACTL_NOW=1700000000"}, args...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("want exit 1 naming %q, got %s", tc.want, r)
			}
			if tc.name == "save-dropin" {
				// The catalog is the truth: the drop-in committed its
				// sync and compaction before publishing, and the next
				// run publishes what this one could not.
				return
			}
			if !bytes.Equal(before, catalogBytes(t, cat)) {
				t.Error("the failed command changed the catalog")
			}
			if got := listDir(t, filepath.Join(bucket, "metadata")); strings.Join(got, " ") != strings.Join(storageBefore, " ") {
				t.Errorf("storage changed: %v, was %v", got, storageBefore)
			}
		})
	}
}

// hostileNames are file names with bytes that must never reach a terminal
// raw: an escape sequence, a newline, a CR, a NUL-like byte, DEL, invalid
// UTF-8.
var hostileNames = []string{"e\x1b[2J.meta", "n\nl.meta", "c\rr.meta", "s\x01oh.meta", "d\x7f.meta", "bad\xff\xfe.meta"}

// rawControl returns the first raw control byte or invalid UTF-8 in out
// that is not a line break or tab, described, or "".
func rawControl(out string) string {
	if strings.Contains(out, "n\nl") {
		return `a raw newline inside "n\nl.meta"`
	}
	for i := 0; i < len(out); {
		r, size := utf8.DecodeRuneInString(out[i:])
		if r == utf8.RuneError && size <= 1 {
			return fmt.Sprintf("invalid UTF-8 %q at byte %d", out[i], i)
		}
		if r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)) {
			return fmt.Sprintf("control byte %q at byte %d: %q", r, i, out[max(0, i-30):min(len(out), i+30)])
		}
		i += size
	}
	return ""
}

// TestNamesEscaped feeds file names and a manifest with control bytes and
// invalid UTF-8 through import, status, verify, ls, log and serve: no
// output, on stdout or stderr, carries one of those bytes raw.
func TestNamesEscaped(t *testing.T) {
	t.Parallel()
	sample := filepath.Join(repoRoot(t), "testdata", "sample", "metadata")
	line, err := os.ReadFile(filepath.Join(sample, "epoch_ending_0-0.meta"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "metadata"), 0o755)
	os.MkdirAll(filepath.Join(dir, "metadata_backup"), 0o755)
	os.WriteFile(filepath.Join(dir, "metadata", "epoch_ending_0-0.meta"), line, 0o644)
	for _, name := range hostileNames {
		if err := os.WriteFile(filepath.Join(dir, "metadata", name), line, 0o644); err != nil {
			t.Skipf("this filesystem refuses the name %q: %v", name, err)
		}
		os.WriteFile(filepath.Join(dir, "metadata_backup", name), line, 0o644)
	}
	// A manifest with an escape sequence: refused, and named.
	bad := filepath.Join(t.TempDir(), "bad")
	os.MkdirAll(filepath.Join(bad, "metadata"), 0o755)
	os.WriteFile(filepath.Join(bad, "metadata", "epoch_ending_0-0.meta"),
		[]byte(`{"EpochEndingBackup":{"first_epoch":0,"last_epoch":0,"first_version":0,"last_version":0,"manifest":"e\u001b[2J/x\r\u0085.manifest"}}`+"\n"), 0o644)

	cat := filepath.Join(t.TempDir(), "c.db")
	var outs []string
	run := func(wantCode int, args ...string) {
		t.Helper()
		r := metactl(t, cat, nil, args...)
		if r.code != wantCode {
			t.Errorf("%v: want exit %d, got %s", args, wantCode, r)
		}
		outs = append(outs, fmt.Sprintf("%q", args)+"\n"+r.stdout+r.stderr)
	}
	run(0, "import", "--local-fs-dir", dir)
	run(0, "--json", "import", "--local-fs-dir", dir)
	run(3, "import", "--local-fs-dir", bad)
	run(3, "--json", "import", "--local-fs-dir", bad)
	run(0, "status", "--local-fs-dir", dir)
	run(0, "verify", "--local-fs-dir", dir)
	run(0, "ls", "-l")
	run(0, "log", "--files")
	run(6, "read", "metadata/e\x1b[2J.meta")
	run(6, "read", "metadata/bad\xff.meta")
	run(0, "export", "--local-fs-dir", dir)

	base, srv, log := startServe(t, cat)
	for _, q := range []string{"/v1/read?handle=metadata%2Fe%1B%5B2J.meta", "/v1/read?handle=n%0Al%FF", "/v1/ls", "/v1/status", "/v1/verify", "/v1/log?files=true", "/v1/nope%1B%5B2J"} {
		_, _, body := get(t, base+q)
		outs = append(outs, "serve "+q+"\n"+string(body))
	}
	stopServe(t, srv)
	outs = append(outs, "serve's log\n"+log.String())

	for _, out := range outs {
		if what := rawControl(out); what != "" {
			t.Errorf("%s", what+" in the output of "+out)
		}
	}
}

// TestOneExitCodePerMistake runs one case of each kind of mistake through
// the binary: each kind has one exit code, as the README's table says.
func TestOneExitCodePerMistake(t *testing.T) {
	t.Parallel()
	fileBackendOnly(t, "holds a folder lock and copies catalog files")
	sample := filepath.Join(repoRoot(t), "testdata", "sample")
	dir := t.TempDir()
	cat := filepath.Join(dir, "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", sample)
	other := filepath.Join(dir, "other.db")
	must(t, other, nil, "import", "--local-fs-dir", emptyStorage(t))

	gap := filepath.Join(t.TempDir(), "gap")
	os.CopyFS(gap, os.DirFS(sample))
	os.Remove(filepath.Join(gap, "metadata", "transaction_1-1000000.meta"))
	gapCat := filepath.Join(dir, "gap.db")
	must(t, gapCat, nil, "import", "--local-fs-dir", gap)

	badLine := writeStorage(t, map[string]string{"metadata/epoch_ending_0-0.meta": "{\"EpochEndingBackup\":{\n"})
	badYAML := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badYAML, []byte("env_vars: []\ncommands: [1, 2]\n"), 0o644)

	// Another export writing to a folder: it holds the folder's lock.
	busyDir := filepath.Join(dir, "busy")
	os.MkdirAll(filepath.Join(busyDir, "metadata"), 0o755)
	f, err := os.Open(busyDir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		kind string
		cat  string
		args []string
		code int
		text string
	}{
		{"usage: unknown flag", cat, []string{"status", "--bogus"}, 2, "unknown flag --bogus"},
		{"usage: malformed etcd URL", "", []string{"--catalog", "etcd://:/", "status"}, 2, `etcd catalog URL "etcd://:/"`},
		{"usage: a folder as catalog", dir, []string{"status"}, 2, "is a directory, not a catalog file"},
		{"invalid: a bad line", cat, []string{"import", "--local-fs-dir", badLine}, 3, "metadata/epoch_ending_0-0.meta:1"},
		{"invalid: a bad adapter config", cat, []string{"import", "--command-adapter-config", badYAML}, 3, `command adapter config "` + badYAML + `"`},
		{"refusal: copy onto a catalog", cat, []string{"copy", "--from", cat, "--to", other}, 3, "copy to " + other + ": catalog already exists"},
		{"verify problems", gapCat, []string{"verify"}, 4, "verify found problems"},
		{"busy: another export", cat, []string{"export", "--local-fs-dir", busyDir}, 5, "another export is writing"},
		{"not found: a handle", cat, []string{"read", "metadata/nope.meta"}, 6, `file "metadata/nope.meta" is not in the catalog`},
		{"not found: a generation", cat, []string{"undo", "99"}, 6, "undo generation 99: not in the journal"},
		{"not found: the catalog", filepath.Join(dir, "none.db"), []string{"status"}, 6, "catalog does not exist"},
		{"metrics textfile is a warning", cat, []string{"--metrics-textfile", filepath.Join(dir, "missing", "m.prom"), "status"}, 0, "warning: metrics: write"},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			r := metactl(t, tc.cat, nil, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.text) {
				t.Fatalf("want exit %d with %q, got %s", tc.code, tc.text, r)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("crash output: %s", r)
			}
		})
	}
}

// singularPlural matches a count of one with a plural noun ("1 files").
var singularPlural = regexp.MustCompile(`(?:^|[^0-9.,])1 (?:files|lines|entries|handles|requests|problems|warnings|errors|generations|operations|bytes|compacted files|duplicate lines|epochs|versions|kills|reads|listings)\b`)

// textFaults returns what is wrong with the text a metactl process printed:
// an operation named twice in one message ("X: X:") on a stderr line, or a
// count of one with a plural noun anywhere. Every process the end-to-end
// tests run is checked (metactlIn), and every golden file.
func textFaults(stdout, stderr string) []string {
	var faults []string
	for _, line := range strings.Split(stderr, "\n") {
		if msg, ok := strings.CutPrefix(line, "metactl: "); ok {
			if w := stutter(msg); w != "" {
				faults = append(faults, fmt.Sprintf("%q names %q twice", line, w))
			}
		}
	}
	for _, line := range strings.Split(stdout+"\n"+stderr, "\n") {
		if m := singularPlural.FindString(line); m != "" {
			faults = append(faults, fmt.Sprintf("%q: %q", line, strings.TrimSpace(m)))
		}
	}
	return faults
}

// TestGoldenTexts scans every golden file for the faults of textFaults.
func TestGoldenTexts(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "golden", "*"))
	if len(paths) == 0 {
		t.Fatal("no golden files")
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range textFaults(string(b), "") {
			t.Errorf("%s: %s", p, f)
		}
	}
	if f := textFaults("wrote 1 files", "metactl: copy to x: copy to x: exists"); len(f) != 2 {
		t.Errorf("textFaults misses a fault: %q", f)
	}
}

// TestInPlaceWriterBesideDropIn runs an Aptos-style writer (create a
// metadata file, then write it in pieces, no rename) beside the drop-in
// loop: no run fails on the half-written newest file (it is skipped with a
// warning and read by the next run), and nothing is lost.
// METACTL_SOAK_INPLACE sets how many files the writer writes (default 40).
func TestInPlaceWriterBesideDropIn(t *testing.T) {
	files := 40
	if s := os.Getenv("METACTL_SOAK_INPLACE"); s != "" {
		fmt.Sscan(s, &files)
	}
	dir := filepath.Join(t.TempDir(), "storage")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(repoRoot(t), "testdata", "sample"))); err != nil {
		t.Fatal(err)
	}
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", dir)

	var written []string
	done := make(chan struct{})
	t.Cleanup(func() { <-done }) // the writer ends before its folder is removed
	go func() {
		defer close(done)
		for i := range files {
			first := uint64(58000001 + i*1000)
			name := fmt.Sprintf("transaction_%d-%d.meta", first, first+999)
			line := fmt.Sprintf(`{"TransactionBackup":{"first_version":%d,"last_version":%d,"manifest":"transaction_%d-.%04x/transaction.manifest"}}`+"\n", first, first+999, first, i)
			f, err := os.Create(filepath.Join(dir, "metadata", name))
			if err != nil {
				t.Error(err)
				return
			}
			time.Sleep(5 * time.Millisecond) // created, still empty
			for _, piece := range []string{line[:20], line[20:70], line[70:]} {
				f.WriteString(piece)
				time.Sleep(5 * time.Millisecond) // cut mid-line
			}
			f.Close()
			written = append(written, name)
		}
	}()
	runs, skipped := 0, 0
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true // one more run after the writer is done
		default:
		}
		r := metactl(t, cat, nil, "compact", "--local-fs-dir", dir)
		runs++
		if r.code != 0 {
			t.Fatalf("drop-in run %d failed beside the writer: %s", runs, r)
		}
		skipped += strings.Count(r.stderr, "still being written")
	}
	// Nothing lost: every file the writer wrote is in the catalog, whole.
	ls := must(t, cat, nil, "--json", "ls").stdout
	for _, name := range written {
		if !strings.Contains(ls, `"metadata/`+name+`"`) {
			t.Errorf("%s is not in the catalog after the writer finished", name)
		}
	}
	t.Logf("in-place writer: %d files written, %d drop-in runs beside it, 0 failed, %d half-written files skipped and read later", len(written), runs, skipped)
}

// TestDamagedCatalogAtRandomOffsets overwrites 8 bytes of a small catalog
// at random offsets (seeded, so a failure can be replayed) and runs every
// read command and verify on each copy: no crash and no goroutine dump,
// ever; exit 1 naming the damage, or an answer equal to the undamaged
// catalog's, or (verify) exit 4. When any command answers differently
// from the undamaged catalog, verify must not pass. 200 offsets (24 with
// -short); METACTL_DAMAGE_OFFSETS sets another number.
func TestDamagedCatalogAtRandomOffsets(t *testing.T) {
	t.Parallel()
	fileBackendOnly(t, "damages the catalog file's bytes")
	offsets := 200
	if testing.Short() {
		offsets = 24
	}
	if s := os.Getenv("METACTL_DAMAGE_OFFSETS"); s != "" {
		fmt.Sscan(s, &offsets)
	}
	seed := int64(21)
	if s := os.Getenv("METACTL_DAMAGE_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (METACTL_DAMAGE_SEED), %d offsets", seed, offsets)
	rng := rand.New(rand.NewSource(seed))

	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	must(t, good, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	must(t, good, []string{"METACTL_NOW=1700000000"}, "compact", "--transaction-file-compact-factor", "10")
	content, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	commands := [][]string{
		{"status"}, {"ls"}, {"ls", "-l"}, {"read", "metadata/epoch_ending_0-0.meta", "metadata/transaction_0-0.meta"},
		{"log", "--files"}, {"plan"}, {"verify"},
	}
	want := make([]string, len(commands))
	for i, args := range commands {
		want[i] = must(t, good, nil, args...).stdout
	}
	var damagedExits, sameAnswers, otherAnswers int
	for i := range offsets {
		off := rng.Intn(len(content) - 8)
		data := bytes.Clone(content)
		rng.Read(data[off : off+8])
		p := filepath.Join(dir, fmt.Sprintf("damaged-%d.db", i))
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var differs []string
		verifyCode := -1
		for j, args := range commands {
			r := metactl(t, p, nil, args...)
			for _, crash := range []string{"goroutine ", "fatal error", "panic:", "SIGBUS", "SIGSEGV"} {
				if strings.Contains(r.stderr, crash) {
					t.Fatalf("offset %d (copy %d): %v crashed: %s", off, i, args, r)
				}
			}
			switch {
			case r.code == 1:
				damagedExits++
				if !strings.Contains(r.stderr, "damaged") {
					t.Errorf("offset %d: %v exit 1 without naming the damage: %s", off, args, r)
				}
			case r.code == 0 && r.stdout == want[j]:
				sameAnswers++
			case r.code == 0 || (r.code == 4 && args[0] == "verify") || (r.code == 3 && args[0] == "plan") || (r.code == 6 && args[0] == "read"):
				otherAnswers++
				// verify covers handles, content, index, digest and the
				// journal's handles; not the provenance label and import
				// time that only ls -l shows (README, Exit codes).
				if args[0] != "verify" && !slices.Contains(args, "-l") {
					differs = append(differs, fmt.Sprintf("%v: exit %d\n%s", args, r.code, diffLines(want[j], r.stdout)))
				}
			default:
				t.Errorf("offset %d: %v: exit %d: %s", off, args, r.code, r)
			}
			if args[0] == "verify" {
				verifyCode = r.code
			}
		}
		if len(differs) > 0 && verifyCode == 0 {
			t.Errorf("offset %d: verify passed, but commands answered differently from the undamaged catalog:\n%s", off, strings.Join(differs, "\n"))
		}
		os.Remove(p)
	}
	t.Logf("damaged catalog: %d offsets x %d commands: %d exit 1 (damaged), %d answers as undamaged, %d other answers (verify exit 4, or a read of bytes no check covers)",
		offsets, len(commands), damagedExits, sameAnswers, otherAnswers)
}

// diffLines returns the lines of got that are not in want, and of want
// that are not in got, marked + and -.
func diffLines(want, got string) string {
	norm := func(l string) string { return strings.Join(strings.Fields(l), " ") } // tabwriter columns
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[norm(l)] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if !g[norm(l)] {
			b.WriteString("- " + norm(l) + "\n")
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[norm(l)] {
			b.WriteString("+ " + norm(l) + "\n")
		}
	}
	return b.String()
}

// bigStorage writes a storage of one transaction file of n lines: large
// enough that writing its archive or its folder takes a while.
func bigStorage(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "big")
	os.MkdirAll(filepath.Join(dir, "metadata"), 0o755)
	var b strings.Builder
	for i := range n {
		a := i * 10
		fmt.Fprintf(&b, `{"TransactionBackup":{"first_version":%d,"last_version":%d,"manifest":"transaction_%d-.%04x/transaction.manifest"}}`+"\n", a, a+9, a, i%65536)
	}
	name := fmt.Sprintf("transaction_0-%d.meta", n*10-1)
	if err := os.WriteFile(filepath.Join(dir, "metadata", name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// killWhen starts metactl with args and SIGKILLs it as soon as appeared
// reports true (polled), or fails the test if it exits first.
func killWhen(t *testing.T, cat string, env []string, appeared func() bool, args ...string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append(os.Environ(), "METACTL_CATALOG="+catalogLocation(cat)), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		select {
		case err := <-exited:
			t.Fatalf("metactl %v exited (%v) before it could be killed mid-write", args, err)
		default:
		}
		if appeared() {
			cmd.Process.Kill()
			<-exited
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// globbed returns the entries of dir matching pattern.
func globbed(dir, pattern string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	return m
}

// TestNothingLeftBehind: a writer killed mid-write, or failed on a full
// disk, leaves temporary files; the next run of a writer removes them.
func TestNothingLeftBehind(t *testing.T) {
	t.Parallel()
	fileBackendOnly(t, "kills writers of local files")
	// Big enough that a writer is still writing when the test sees its
	// temporary file: 200k lines, 100k with -short.
	lines := 200000
	if testing.Short() {
		lines = 100000
	}
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", bigStorage(t, lines))

	t.Run("killed export --archive", func(t *testing.T) {
		dir := t.TempDir()
		arc := filepath.Join(dir, "x.mcar")
		killWhen(t, cat, nil, func() bool { return len(globbed(dir, ".x.mcar.tmp-*")) > 0 }, "export", "--archive", arc)
		if len(globbed(dir, ".x.mcar.tmp-*")) == 0 {
			t.Fatal("the killed export left no temporary file: nothing to test")
		}
		must(t, cat, nil, "export", "--archive", arc)
		if left := globbed(dir, ".x.mcar.tmp-*"); len(left) != 0 {
			t.Errorf("left after the next export: %v", left)
		}
	})

	t.Run("killed read of an archive", func(t *testing.T) {
		arc := filepath.Join(t.TempDir(), "x.mcar")
		must(t, cat, nil, "export", "--archive", arc)
		tmp := t.TempDir()
		env := []string{"TMPDIR=" + tmp}
		killWhen(t, arc, env, func() bool { return len(globbed(tmp, "metactl-archive-*")) > 0 }, "ls")
		if len(globbed(tmp, "metactl-archive-*")) == 0 {
			t.Fatal("the killed read left no unpacked archive: nothing to test")
		}
		must(t, arc, env, "log")
		if left := globbed(tmp, "metactl-*"); len(left) != 0 {
			t.Errorf("left after the next read: %v", left)
		}
	})

	t.Run("export on a full disk", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("mounting a small tmpfs needs root")
		}
		mnt := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", mnt).Run() })
		for run := 1; run <= 2; run++ {
			r := metactl(t, cat, nil, "export", "--local-fs-dir", filepath.Join(mnt, "storage"))
			if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") {
				t.Fatalf("run %d: want exit 1 naming ENOSPC, got %s", run, r)
			}
			if left := globbed(filepath.Join(mnt, "storage"), ".metactl-*"); len(left) != 0 {
				t.Errorf("run %d left %v on the full disk", run, left)
			}
		}
		// The archive compresses well: leave it less room than it needs.
		if err := os.WriteFile(filepath.Join(mnt, "filler"), make([]byte, 1900<<10), 0o600); err != nil {
			t.Fatal(err)
		}
		arc := filepath.Join(mnt, "x.mcar")
		r := metactl(t, cat, nil, "export", "--archive", arc)
		if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") {
			t.Fatalf("archive on a full disk: %s", r)
		}
		if left := globbed(mnt, ".x.mcar.tmp-*"); len(left) != 0 {
			t.Errorf("archive on a full disk left %v", left)
		}
	})
}
