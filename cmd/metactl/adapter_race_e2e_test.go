//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/metactl/metactl/aptos"
)

// syncClient is a bash client doing exactly what Aptos's metadata cache
// sync does (docs/aptos-format.md §5.1) through a command-adapter
// config: list_metadata_files, then open_for_read of every listed file,
// 8 at a time, into a fresh cache folder. It exits non-zero when a call
// fails (xargs: 123).
const syncClient = `#!/bin/bash
cache=$1
mkdir "$cache" || exit 9
bash -c "set -o nounset -o errexit -o pipefail; $LIST_CMD" > "$cache.list" || exit 10
export CACHE="$cache"
xargs -P 8 -n 1 bash -c 'FILE_HANDLE="$0" bash -c "set -o nounset -o errexit -o pipefail; $OPEN_CMD" > "$CACHE/${0//\//_}"' < "$cache.list"
`

// syncer runs the client against one config and judges each sync.
type syncer struct {
	name     string
	cfg      *aptosConfig
	script   string
	want     string // the view every sync must load
	syncs    atomic.Int64
	failed   atomic.Int64
	stale    atomic.Int64
	firstBad atomic.Value
}

// viewKey is the set of backup entries (epoch endings, snapshots,
// transactions) the files in dir hold, deduplicated and sorted, as the
// loading side of Aptos sees them.
func viewKey(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var keys []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", err
		}
		ms, err := aptos.ParseFile(b)
		if err != nil {
			return "", fmt.Errorf("%s: %w", e.Name(), err)
		}
		for i := range ms {
			switch ms[i].Kind {
			case aptos.KindEpochEnding, aptos.KindStateSnapshot, aptos.KindTransaction:
				keys = append(keys, string(aptos.AppendLine(nil, &ms[i])))
			}
		}
	}
	slices.Sort(keys)
	return strings.Join(slices.Compact(keys), "\n"), nil
}

// once runs one sync into a fresh cache under root.
func (s *syncer) once(t testing.TB, root string) {
	n := s.syncs.Add(1)
	cache := filepath.Join(root, fmt.Sprintf("%s-%d", s.name, n))
	cmd := exec.Command("bash", s.script, cache)
	cmd.Env = append(append(os.Environ(), s.cfg.env...), "LIST_CMD="+s.cfg.ca.Command("list_metadata_files"), "OPEN_CMD="+s.cfg.ca.Command("open_for_read"))
	out, err := cmd.CombinedOutput()
	bad := func(what string) {
		s.firstBad.CompareAndSwap(nil, what)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		s.failed.Add(1)
		bad(fmt.Sprintf("sync %d failed: %v: %s", n, err, firstLine(string(out))))
	case err != nil:
		t.Errorf("run the client: %v", err)
	default:
		got, err := viewKey(cache)
		if err != nil {
			s.failed.Add(1)
			bad(fmt.Sprintf("sync %d loaded a bad file: %v", n, err))
		} else if got != s.want {
			s.stale.Add(1)
			bad(fmt.Sprintf("sync %d loaded another view (%d entries, want %d)", n, strings.Count(got, "\n")+1, strings.Count(s.want, "\n")+1))
		}
	}
	os.RemoveAll(cache)
	os.Remove(cache + ".list")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func (s *syncer) report() string {
	msg := fmt.Sprintf("%s: %d syncs, %d failed, %d stale", s.name, s.syncs.Load(), s.failed.Load(), s.stale.Load())
	if b := s.firstBad.Load(); b != nil {
		msg += " (first: " + b.(string) + ")"
	}
	return msg
}

// TestAdapterBridgeClosesTheRace is issue 17's proof: an Aptos-style
// cache sync beside a loop of compact, undo and export on the same
// catalog and storage. Through the bridge config: zero failed and zero
// stale syncs. Straight on the storage's own config: its failures are
// reported (the race the bridge closes). METACTL_BRIDGE_SYNCS sets the
// number of syncs through the bridge (default 30).
func TestAdapterBridgeClosesTheRace(t *testing.T) {
	if testing.Short() {
		t.Skip("the race proof runs a minute of syncs beside writers; it runs without -short")
	}
	t.Parallel()
	syncs := 30
	if s := os.Getenv("METACTL_BRIDGE_SYNCS"); s != "" {
		fmt.Sscan(s, &syncs)
	}
	cat := filepath.Join(t.TempDir(), "c.db")
	dir := smallStorage(t)
	must(t, cat, nil, "import", "--local-fs-dir", dir)
	want, err := viewKey(filepath.Join(dir, "metadata"))
	if err != nil {
		t.Fatal(err)
	}
	bucketPath := plainFolderConfig(t, dir, false)
	script := filepath.Join(t.TempDir(), "sync.sh")
	writeTextFile(t, script, syncClient)
	bridge := &syncer{name: "bridge", cfg: bridgeConfig(t, cat, "--command-adapter-config", bucketPath), script: script, want: want}
	plain := &syncer{name: "plain", cfg: loadAptosConfig(t, bucketPath), script: script, want: want}

	const minWrites = 24
	stop := make(chan struct{})
	var writes atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the writer loop: compact, compact (moves), export, undo, undo, export
		defer wg.Done()
		compact := []string{"compact", "--transaction-file-compact-factor", "3", "--epoch-ending-file-compact-factor", "2",
			"--state-snapshot-file-compact-factor", "2", "--remove-compacted-file-after", "10"}
		for i := 0; ; i++ {
			t0 := uint64(1700000000 + 1000*i)
			must(t, cat, []string{"METACTL_NOW=" + itoa(t0)}, compact...)
			gen1 := stateOf(t, cat).Generation
			must(t, cat, []string{"METACTL_NOW=" + itoa(t0+100)}, compact...)
			gen2 := stateOf(t, cat).Generation
			must(t, cat, nil, "export", "--local-fs-dir", dir)
			must(t, cat, nil, "undo", itoa(gen2))
			must(t, cat, nil, "undo", itoa(gen1))
			must(t, cat, nil, "export", "--local-fs-dir", dir)
			writes.Add(4)
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	root := t.TempDir()
	var readers sync.WaitGroup
	readers.Add(2)
	var bridgeDone atomic.Bool
	go func() { // at least syncs syncs, and until dozens of writes happened beside them
		defer readers.Done()
		defer bridgeDone.Store(true)
		for i := 0; i < syncs || (writes.Load() < minWrites && i < 20*syncs); i++ {
			bridge.once(t, root)
		}
	}()
	go func() {
		defer readers.Done()
		for i := 0; i < syncs || !bridgeDone.Load(); i++ {
			plain.once(t, root)
		}
	}()
	readers.Wait()
	close(stop)
	wg.Wait()
	t.Logf("bridge race: %d catalog writes (compact, undo) and exports beside the syncs; %s; %s", writes.Load(), bridge.report(), plain.report())
	if bridge.failed.Load() != 0 || bridge.stale.Load() != 0 {
		t.Errorf("through the bridge: %s", bridge.report())
	}
	if writes.Load() < minWrites {
		t.Errorf("too little happened beside the syncs: %d writes", writes.Load())
	}
}

// TestAdapterBridgeCompactorBesideReaders replays, through the bridge
// config and exactly as Aptos invokes the calls, the saves and moves
// Aptos's compactor makes (two runs: compacted files and a timestamps
// file; then the next timestamps file and the moves of what expired),
// while Aptos-style syncs run beside it: none fails or loads another
// view, and the catalog ends holding what the compactor meant.
func TestAdapterBridgeCompactorBesideReaders(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	dir := smallStorage(t)
	must(t, cat, nil, "import", "--local-fs-dir", dir)
	want, err := viewKey(filepath.Join(dir, "metadata"))
	if err != nil {
		t.Fatal(err)
	}
	// What the compactor writes: two runs of the same algorithm on a
	// scratch catalog, exported to a scratch folder.
	scratch := asFile(filepath.Join(t.TempDir(), "scratch.db"))
	must(t, scratch, nil, "import", "--local-fs-dir", dir)
	compact := []string{"compact", "--transaction-file-compact-factor", "3", "--epoch-ending-file-compact-factor", "2",
		"--state-snapshot-file-compact-factor", "2", "--remove-compacted-file-after", "10"}
	must(t, scratch, []string{"METACTL_NOW=1700000000"}, compact...)
	must(t, scratch, []string{"METACTL_NOW=1700000100"}, compact...)
	out := filepath.Join(t.TempDir(), "compacted")
	must(t, scratch, nil, "export", "--local-fs-dir", out)
	names := func(d string) []string {
		ents, _ := os.ReadDir(d)
		var ns []string
		for _, e := range ents {
			ns = append(ns, e.Name())
		}
		return ns
	}
	orig := names(filepath.Join(dir, "metadata"))
	var saves []string
	for _, sub := range []string{"metadata", "metadata_backup"} {
		for _, n := range names(filepath.Join(out, sub)) {
			if !slices.Contains(orig, n) {
				saves = append(saves, filepath.Join(out, sub, n))
			}
		}
	}
	// Compacted files first, then the timestamps files, oldest first.
	slices.SortStableFunc(saves, func(a, b string) int {
		return strings.Compare(filepath.Base(a), filepath.Base(b))
	})
	slices.SortStableFunc(saves, func(a, b string) int {
		ta, tb := strings.HasPrefix(filepath.Base(a), "compaction_timestamps_"), strings.HasPrefix(filepath.Base(b), "compaction_timestamps_")
		switch {
		case ta == tb:
			return 0
		case tb:
			return -1
		}
		return 1
	})
	moves := names(filepath.Join(out, "metadata_backup"))
	if len(saves) < 5 || len(moves) < 10 {
		t.Fatalf("the compactor would save %d and move %d files; want more", len(saves), len(moves))
	}

	c := bridgeConfig(t, cat, "--local-fs-dir", dir)
	script := filepath.Join(t.TempDir(), "sync.sh")
	writeTextFile(t, script, syncClient)
	reader := &syncer{name: "bridge", cfg: c, script: script, want: want}
	done := make(chan struct{})
	var readers sync.WaitGroup
	root := t.TempDir()
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					if i >= 3 {
						return
					}
				default:
				}
				reader.once(t, root)
			}
		}()
	}
	for _, p := range saves {
		if out := c.mustCall("save_metadata_line", []string{"FILE_NAME=" + filepath.Base(p)}, []byte(readFile(t, p))); string(out) != "metadata/"+filepath.Base(p)+"\n" {
			t.Errorf("save %s: %q", p, out)
		}
	}
	for _, n := range moves {
		c.mustCall("backup_metadata_file", []string{"FILE_NAME=" + n}, nil)
	}
	close(done)
	readers.Wait()
	t.Logf("compactor through the bridge: %d saves and %d moves; %s", len(saves), len(moves), reader.report())
	if reader.failed.Load() != 0 || reader.stale.Load() != 0 {
		t.Errorf("readers beside the compactor: %s", reader.report())
	}
	if got, wantLive := lines(c.mustCall("list_metadata_files", nil, nil)), names(filepath.Join(out, "metadata")); len(got) != len(wantLive) {
		t.Errorf("%d files live after the compactor, want %d", len(got), len(wantLive))
	}
	if a, b := stateOf(t, cat), stateOf(t, scratch); a.ViewDigest != b.ViewDigest {
		t.Errorf("view digest %s, the compactor's %s", a.ViewDigest, b.ViewDigest)
	}
	must(t, cat, nil, "verify")
}
