//go:build unix

package selftest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/internal/samplegen"
)

// Options configures Run.
type Options struct {
	// Dir is where the operator means to keep the catalog; the scratch
	// folder is made inside it.
	Dir string
	// Binary is the metactl executable re-executed for every child.
	Binary string
	// Quick shortens every probe (about 10 s in all).
	Quick bool
	// Progress, if set, is told the name of each property as it starts.
	Progress func(name string)
}

// Property is the outcome of one check.
type Property struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
	Kills  int    `json:"kills,omitempty"`
	Reads  int    `json:"reads,omitempty"`
	Millis int64  `json:"millis"`
}

// Report is what Run found.
type Report struct {
	Dir        string     `json:"dir"`
	Scratch    string     `json:"scratch"`
	Pass       bool       `json:"pass"`
	Properties []Property `json:"properties"`
	Kills      int        `json:"kills"`
	Reads      int        `json:"reads"`
	Millis     int64      `json:"millis"`
	Removed    bool       `json:"removed"` // the scratch folder is gone
}

// Failpoints killed by the crash probes, per operation.
var (
	ImportFailpoints = []string{"import.after-read", "import.after-validate", "import.after-put",
		"import.before-commit", "import.after-commit"}
	CompactFailpoints = []string{"compact.after-plan", "compact.after-write", "compact.after-move",
		"compact.after-timestamps", "compact.before-commit", "compact.after-commit"}
	ExportFailpoints = []string{"export.after-temp-write@2", "export.between-writes-and-moves", "export.after-rename@3"}
)

// run is one probe run: its scratch folder and settings.
type run struct {
	ctx     context.Context
	opts    Options
	scratch string
	storage string // a generated LocalFs storage
	seeds   map[string]string
	rounds  int
	hold    time.Duration // how long a writer holds the lock in the lock probes
	race    time.Duration // how long the rename race runs
}

// Run runs every probe in a scratch folder inside opts.Dir and removes it.
// The error is for what stopped the run (no Dir, cancelled); a property
// that does not hold is a FAIL in the report, not an error.
func Run(ctx context.Context, opts Options) (*Report, error) {
	start := time.Now()
	st, err := os.Stat(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("selftest: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("selftest: %s is not a directory", opts.Dir)
	}
	scratch, err := os.MkdirTemp(opts.Dir, ".metactl-selftest-")
	if err != nil {
		return nil, fmt.Errorf("selftest: make a scratch folder in %s: %w", opts.Dir, err)
	}
	rep := &Report{Dir: opts.Dir, Scratch: scratch}
	defer func() {
		rep.Removed = os.RemoveAll(scratch) == nil
		if _, err := os.Stat(scratch); !errors.Is(err, fs.ErrNotExist) {
			rep.Removed = false
		}
	}()
	r := &run{ctx: ctx, opts: opts, scratch: scratch, seeds: map[string]string{}, rounds: 5, hold: 1500 * time.Millisecond, race: 3 * time.Second}
	if opts.Quick {
		r.rounds, r.hold, r.race = 1, 700*time.Millisecond, 700*time.Millisecond
	}
	interrupted := func(err error) error {
		return fmt.Errorf("selftest: interrupted; the scratch folder %s is removed: %w", scratch, err)
	}
	if err := r.setup(); err != nil {
		if ctx.Err() != nil {
			return nil, interrupted(ctx.Err())
		}
		return nil, fmt.Errorf("selftest: prepare %s: %w", scratch, err)
	}
	probes := []struct {
		name string
		fn   func(*Property)
	}{
		{"fsync", r.fsync},
		{"rename-atomic", r.renameAtomic},
		{"flock", r.flock},
		{"writer-lock", r.writerLock},
		{"reader-beside-writer", r.readerBesideWriter},
		{"crash-import", r.crash("import")},
		{"crash-compact", r.crash("compact")},
		{"crash-export", r.crashExport},
	}
	for _, p := range probes {
		if err := ctx.Err(); err != nil {
			return nil, interrupted(err)
		}
		if opts.Progress != nil {
			opts.Progress(p.name)
		}
		t0 := time.Now()
		prop := Property{Name: p.name, Pass: true}
		p.fn(&prop)
		prop.Millis = time.Since(t0).Milliseconds()
		if err := ctx.Err(); err != nil {
			return nil, interrupted(err)
		}
		rep.Properties = append(rep.Properties, prop)
		rep.Kills += prop.Kills
		rep.Reads += prop.Reads
	}
	rep.Pass = true
	for _, p := range rep.Properties {
		rep.Pass = rep.Pass && p.Pass
	}
	rep.Millis = time.Since(start).Milliseconds()
	return rep, nil
}

func (p *Property) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.Pass {
		p.Detail = msg
	} else if !strings.Contains(p.Detail, msg) {
		p.Detail += "; " + msg
	}
	p.Pass = false
}

func (p *Property) ok(format string, args ...any) {
	if p.Pass {
		p.Detail = fmt.Sprintf(format, args...)
	}
}

// setup generates a small storage and the seed catalogs: "empty" (an
// empty storage imported: generation 0), "imported" and "compacted".
func (r *run) setup() error {
	r.storage = filepath.Join(r.scratch, "storage")
	if _, err := samplegen.Generate(r.storage, samplegen.DefaultOptions(12)); err != nil {
		return err
	}
	empty := filepath.Join(r.scratch, "empty-storage")
	if err := os.MkdirAll(filepath.Join(empty, aptos.MetadataDir), 0o755); err != nil {
		return err
	}
	for _, s := range []struct {
		name string
		args [][]string
	}{
		{"empty", [][]string{{"import", "--local-fs-dir", empty}}},
		{"imported", [][]string{{"import", "--local-fs-dir", r.storage}}},
		// Compacted twice, the second time later: the originals are moved,
		// so an export has moves to make.
		{"compacted", [][]string{{"import", "--local-fs-dir", r.storage}, compactArgs, compactArgs}},
	} {
		cat := filepath.Join(r.scratch, "seed-"+s.name+".db")
		for i, a := range s.args {
			env := []string{fmt.Sprintf("METACTL_NOW=%d", 1700000000+10*i)}
			if res := r.metactl(cat, env, a...); res.code != 0 {
				return fmt.Errorf("seed %s: metactl %s: exit %d: %s", s.name, strings.Join(a, " "), res.code, res.stderr)
			}
		}
		r.seeds[s.name] = cat
	}
	return nil
}

var compactArgs = []string{"compact", "--epoch-ending-file-compact-factor", "2", "--transaction-file-compact-factor", "2",
	"--state-snapshot-file-compact-factor", "2", "--remove-compacted-file-after", "0"}

// now is the fixed clock of every child: compaction is deterministic, so
// an uninterrupted run gives the after-state exactly.
const now = "METACTL_NOW=1700000000"

type result struct {
	stdout, stderr string
	code           int
	killed         bool // by SIGKILL
}

// command prepares a metactl child with a clean environment: no inherited
// METACTL_* variable, the fixed clock, the given catalog and extra env.
func (r *run) command(cat string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(r.ctx, r.opts.Binary, args...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "METACTL_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, now, "METACTL_CATALOG="+cat)
	cmd.Env = append(cmd.Env, env...)
	cmd.WaitDelay = time.Second
	return cmd
}

func (r *run) metactl(cat string, env []string, args ...string) result {
	cmd := r.command(cat, env, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return finished(cmd, err, out.String(), errb.String())
}

func finished(cmd *exec.Cmd, err error, stdout, stderr string) result {
	res := result{stdout: stdout, stderr: strings.TrimSpace(stderr)}
	if cmd.ProcessState != nil {
		res.code = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			res.killed = true
		}
	} else if err != nil {
		res.code = -1
		res.stderr = err.Error()
	}
	return res
}

// state is a catalog's generation and view digest.
type state struct {
	Generation uint64 `json:"generation"`
	ViewDigest string `json:"view_digest"`
}

func (s state) String() string {
	d := s.ViewDigest
	if len(d) > 12 {
		d = d[:12]
	}
	return fmt.Sprintf("generation %d digest %s", s.Generation, d)
}

func (r *run) stateOf(cat string) (state, error) {
	res := r.metactl(cat, nil, "status", "--json")
	if res.code != 0 {
		return state{}, fmt.Errorf("status: exit %d: %s", res.code, res.stderr)
	}
	var s state
	if err := json.Unmarshal([]byte(res.stdout), &s); err != nil {
		return state{}, fmt.Errorf("status --json: %w", err)
	}
	return s, nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	_ = os.Remove(to + ".lock")
	return os.WriteFile(to, b, 0o600)
}

// crash returns the probe that kills import or compaction at each of its
// failpoints, r.rounds times each, and checks every outcome.
func (r *run) crash(op string) func(*Property) {
	return func(p *Property) {
		seed, args, points := r.seeds["empty"], []string{"import", "--local-fs-dir", r.storage}, ImportFailpoints
		if op == "compact" {
			seed, args, points = r.seeds["imported"], compactArgs, CompactFailpoints
		}
		before, err := r.stateOf(seed)
		if err != nil {
			p.fail("read the before-state: %v", err)
			return
		}
		ref := filepath.Join(r.scratch, op+"-after.db")
		if err := copyFile(seed, ref); err != nil {
			p.fail("%v", err)
			return
		}
		if res := r.metactl(ref, nil, args...); res.code != 0 {
			p.fail("uninterrupted %s: exit %d: %s", op, res.code, res.stderr)
			return
		}
		after, err := r.stateOf(ref)
		if err != nil {
			p.fail("read the after-state: %v", err)
			return
		}
		seen := map[string]int{}
		for _, point := range points {
			for i := 0; i < r.rounds; i++ {
				if r.ctx.Err() != nil {
					return
				}
				victim := filepath.Join(r.scratch, "victim.db")
				if err := copyFile(seed, victim); err != nil {
					p.fail("%v", err)
					return
				}
				res := r.metactl(victim, []string{"METACTL_FAILPOINT=" + point}, args...)
				if !res.killed {
					p.fail("%s at %s: the child was not killed (exit %d; a build without failpoints?): %s", op, point, res.code, res.stderr)
					continue
				}
				p.Kills++
				side, err := r.checkCatalog(victim, before, after)
				if err != nil {
					p.fail("%s killed at %s: %v", op, point, err)
					continue
				}
				seen[side]++
			}
		}
		p.ok("%d kills at %d failpoints: %d before-state, %d after-state; every catalog verified", p.Kills, len(points), seen["before"], seen["after"])
	}
}

// checkCatalog verifies a catalog after a kill and says which state it
// is in.
func (r *run) checkCatalog(cat string, before, after state) (string, error) {
	if res := r.metactl(cat, nil, "verify"); res.code != 0 {
		return "", fmt.Errorf("verify: exit %d: %s", res.code, res.stderr)
	}
	s, err := r.stateOf(cat)
	if err != nil {
		return "", err
	}
	switch s {
	case before:
		return "before", nil
	case after:
		return "after", nil
	}
	return "", fmt.Errorf("catalog at %s: neither the before-state (%s) nor the after-state (%s)", s, before, after)
}

// crashExport kills 'export --local-fs-dir' at each export failpoint and
// checks the folder holds no partial file: every file there is the one an
// uninterrupted export writes, byte for byte, and re-running the export
// completes it.
func (r *run) crashExport(p *Property) {
	cat := r.seeds["compacted"]
	ref := filepath.Join(r.scratch, "export-ref")
	if res := r.metactl(cat, nil, "export", "--local-fs-dir", ref); res.code != 0 {
		p.fail("uninterrupted export: exit %d: %s", res.code, res.stderr)
		return
	}
	want, err := tree(ref)
	if err != nil {
		p.fail("%v", err)
		return
	}
	catState, err := r.stateOf(cat)
	if err != nil {
		p.fail("%v", err)
		return
	}
	for _, point := range ExportFailpoints {
		for i := 0; i < r.rounds; i++ {
			if r.ctx.Err() != nil {
				return
			}
			out := filepath.Join(r.scratch, "export-victim")
			_ = os.RemoveAll(out)
			// The folder starts as the storage the catalog came from, as a
			// drop-in export finds it.
			if err := os.CopyFS(out, os.DirFS(r.storage)); err != nil {
				p.fail("%v", err)
				return
			}
			res := r.metactl(cat, []string{"METACTL_FAILPOINT=" + point}, "export", "--local-fs-dir", out)
			if !res.killed {
				p.fail("export at %s: the child was not killed (exit %d; a build without failpoints?): %s", point, res.code, res.stderr)
				continue
			}
			p.Kills++
			got, err := tree(out)
			if err != nil {
				p.fail("%v", err)
				continue
			}
			if msg := partial(got, want); msg != "" {
				p.fail("export killed at %s: %s", point, msg)
				continue
			}
			if _, err := r.checkCatalog(cat, catState, catState); err != nil {
				p.fail("export killed at %s: the catalog: %v", point, err)
				continue
			}
			if res := r.metactl(cat, nil, "export", "--local-fs-dir", out); res.code != 0 {
				p.fail("export after the kill at %s: exit %d: %s", point, res.code, res.stderr)
				continue
			}
			got, err = tree(out)
			if err == nil && !equalTrees(got, want) {
				err = errors.New("the re-run export does not match an uninterrupted one")
			}
			if err != nil {
				p.fail("export after the kill at %s: %v", point, err)
			}
		}
	}
	p.ok("%d kills at %d failpoints: no partial file, every re-run export complete", p.Kills, len(ExportFailpoints))
}

// tree reads the metadata/ and metadata_backup/ folders under dir: path
// relative to dir -> content.
func tree(dir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, sub := range []string{aptos.MetadataDir, aptos.MetadataBackupDir} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				return nil, err
			}
			out[sub+"/"+e.Name()] = b
		}
	}
	return out, nil
}

// partial returns what is wrong with a folder an export was killed in:
// a file there that the complete export does not have with that content,
// unless the storage had it before (the export had not moved it yet).
func partial(got, want map[string][]byte) string {
	names := make([]string, 0, len(got))
	for n := range got {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		w, ok := want[n]
		if !ok {
			// A file the export moves away from metadata/ is still there
			// before its move: it must then be in metadata_backup/ of the
			// complete export, with this content.
			base := strings.TrimPrefix(n, "metadata/")
			if w2, ok2 := want["metadata_backup/"+base]; ok2 && bytes.Equal(w2, got[n]) {
				continue
			}
			return fmt.Sprintf("%s is not in a complete export", n)
		}
		if !bytes.Equal(w, got[n]) {
			return fmt.Sprintf("%s is partial or differs (%d bytes, a complete export writes %d)", n, len(got[n]), len(w))
		}
	}
	return ""
}

func equalTrees(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for n, v := range a {
		if w, ok := b[n]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}
