package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// clusterEnv turns on TestEtcdClusterOfDebianEtcd (.ci/run sets it).
const clusterEnv = "METACTL_TEST_ETCD_CLUSTER"

// debianCluster is a 3-member cluster of Debian's etcd-server, each member
// a real `etcd` process, driven by scripts/etcd-cluster.sh.
type debianCluster struct {
	t         *testing.T
	script    string
	dir       string
	clients   []string // member i's client address, "127.0.0.1:PORT"
	endpoints string   // all of them, comma-separated
	version   string   // `etcd --version`'s first line
}

// startDebianCluster installs etcd-server if it is missing (root only)
// and starts 3 members; the test's cleanup stops them.
func startDebianCluster(t *testing.T) *debianCluster {
	t.Helper()
	c := &debianCluster{t: t, script: filepath.Join(repoRoot(t), "scripts", "etcd-cluster.sh"), dir: t.TempDir()}
	c.version = strings.TrimSpace(c.run("install"))
	c.run("start", c.dir, "3")
	t.Cleanup(func() {
		c.run("stop", c.dir)
		if t.Failed() { // the members' own words, before TempDir removes them
			for i := range 3 {
				b, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("m%d.log", i)))
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				t.Logf("m%d.log, last lines:\n%s", i, strings.Join(lines[max(0, len(lines)-15):], "\n"))
			}
		}
	})
	env, err := os.ReadFile(filepath.Join(c.dir, "cluster.env"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(env)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	for i := range 3 {
		c.clients = append(c.clients, "127.0.0.1:"+vars[fmt.Sprintf("CLIENT_%d", i)])
	}
	c.endpoints = vars["ENDPOINTS"]
	if c.endpoints != strings.Join(c.clients, ",") {
		t.Fatalf("cluster.env: ENDPOINTS=%s, members %v", c.endpoints, c.clients)
	}
	return c
}

// run runs the script with args and returns its output; any failure fails
// the test.
func (c *debianCluster) run(args ...string) string {
	c.t.Helper()
	out, err := exec.Command("bash", append([]string{c.script}, args...)...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("bash scripts/etcd-cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// status asks member i alone (etcd's maintenance Status) for its own
// member ID and the leader it knows (0: none).
func (c *debianCluster) status(i int) (id, leader uint64, err error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.clients[i]}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return 0, 0, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := cli.Status(ctx, c.clients[i])
	if err != nil {
		return 0, 0, err
	}
	return st.Header.MemberId, st.Leader, nil
}

// leader waits (a minute at most) until a member other than down reports
// a leader other than notID, and returns that leader's index and ID.
func (c *debianCluster) leader(down int, notID uint64) (int, uint64) {
	c.t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ids := map[uint64]int{}
		var seen uint64
		for i := range c.clients {
			if i == down {
				continue
			}
			id, leader, err := c.status(i)
			if err != nil {
				continue
			}
			ids[id] = i
			if leader != 0 && leader != notID {
				seen = leader
			}
		}
		if i, ok := ids[seen]; ok && seen != 0 {
			return i, seen
		}
	}
	c.t.Fatal("no leader elected within a minute")
	return 0, 0
}

// clusterOp is one metactl run of the test's loops.
type clusterOp struct {
	kind       string // import, compact, status, ls, read, bridge-list
	start, end time.Time
	code       int
	stderr     string
	generation uint64
	digest     string   // status
	files      []string // ls: "handle state"; bridge-list: live handles
}

// TestEtcdClusterOfDebianEtcd runs metactl against 3 real etcd processes
// (Debian's etcd-server, started by scripts/etcd-cluster.sh): a writer
// process loop imports new epochs and compacts, reader processes (status,
// ls, read, the bridge's list_metadata_files) loop beside it; the leader
// is SIGKILLed and restarted from its data folder, then a follower. Every
// read must be one committed generation, whole; the writer resumes after
// the election; no file is lost; every member ends serving the same
// verified catalog. The figures (reads, writes, failures with their texts,
// election and restart times) are logged for the README and the issue.
//
// Opt-in (METACTL_TEST_ETCD_CLUSTER=1, as .ci/run sets it): it needs the
// etcd binary, which the script installs with apt-get when run as root.
func TestEtcdClusterOfDebianEtcd(t *testing.T) {
	if os.Getenv(clusterEnv) != "1" {
		t.Skip(clusterEnv + "=1 runs it (.ci/run does): 3 etcd-server processes, installed with apt-get as root")
	}
	began := time.Now()
	c := startDebianCluster(t)
	t.Logf("%s, 3 members at %s, started in %s", c.version, c.endpoints, time.Since(began).Round(time.Millisecond))
	t.Run("members", func(t *testing.T) { clusterMemberKills(t, c) })
	t.Run("writers", func(t *testing.T) { clusterWriterKills(t, c) })
}

// clusterMemberKills: readers and a writer loop while the leader and then
// a follower are SIGKILLed and restarted.
func clusterMemberKills(t *testing.T, c *debianCluster) {
	began := time.Now()
	// Small transactions, so that compactions are staged and folded: the
	// kill then also lands between a stage and its compare-and-swap.
	url := "etcd://" + c.endpoints + "/debian-cluster?lease-ttl=10s&value-size=4096&txn-ops=16&txn-bytes=16384"
	storage := t.TempDir()
	for e := uint64(0); e < 3; e++ {
		addEpoch(t, storage, e)
	}
	os.MkdirAll(filepath.Join(storage, "metadata_backup"), 0o755)
	must(t, url, nil, "import", "--local-fs-dir", storage)

	var (
		mu       sync.Mutex
		ops      []clusterOp
		stopping atomic.Bool
		writes   atomic.Int64 // successful writes
		// imported: the highest epoch that a successful import had in
		// its storage (every file up to it must be in the catalog).
		imported atomic.Int64
		wg       sync.WaitGroup
	)
	record := func(o clusterOp) {
		mu.Lock()
		ops = append(ops, o)
		mu.Unlock()
	}
	// The compaction in flight, if any: the kills land inside one.
	var compacting atomic.Pointer[time.Time]
	run := func(kind string, env []string, args ...string) (clusterOp, result) {
		o := clusterOp{kind: kind, start: time.Now()}
		if kind == "compact" {
			compacting.Store(&o.start)
			defer compacting.Store(nil)
		}
		r := metactl(t, url, env, append([]string{"--lock-timeout", "30s"}, args...)...)
		o.end, o.code, o.stderr = time.Now(), r.code, strings.TrimSpace(r.stderr)
		return o, r
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for e := int64(3); !stopping.Load(); e++ {
			addEpoch(t, storage, uint64(e))
			o, _ := run("import", nil, "import", "--local-fs-dir", storage)
			record(o)
			if o.code == 0 {
				writes.Add(1)
				imported.Store(e)
			}
			// Slowed between its transactions, so that a kill lands
			// inside its publish.
			o, _ = run("compact", []string{"METACTL_FAILPOINT=etcd.after-chunk=sleep:50ms"}, "compact", "--epoch-ending-file-compact-factor", "3", "--state-snapshot-file-compact-factor", "2",
				"--transaction-file-compact-factor", "4", "--remove-compacted-file-after", "0")
			record(o)
			if o.code == 0 {
				writes.Add(1)
			}
		}
	}()
	// The bridge's open_for_read serves one of the first files, moved
	// by the first compaction: its bytes must be the storage's.
	const opened = "metadata/transaction_0-9.meta"
	openedBytes, err := os.ReadFile(filepath.Join(storage, opened))
	if err != nil {
		t.Fatal(err)
	}
	readers := []struct {
		kind string
		env  []string
		args []string
	}{
		{"status", nil, []string{"status", "--json"}},
		{"ls", nil, []string{"ls", "--json"}},
		{"read", nil, []string{"read", "--json", "metadata/epoch_ending_0-0.meta", "metadata/transaction_0-9.meta"}},
		{"bridge-list", nil, []string{"adapter", "--local-fs-dir", storage, "list_metadata_files"}},
		{"bridge-open", []string{"FILE_HANDLE=" + opened}, []string{"adapter", "--local-fs-dir", storage, "open_for_read"}},
	}
	readKinds := []string{}
	for _, rd := range readers {
		readKinds = append(readKinds, rd.kind)
	}
	for _, rd := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopping.Load() {
				o, r := run(rd.kind, rd.env, rd.args...)
				if r.code == 0 {
					if err := parseRead(&o, r.stdout); err != nil {
						o.code, o.stderr = -1, err.Error()
					}
				}
				record(o)
			}
		}()
	}
	// waitWrites waits until n more writes succeeded than at its call; a
	// writer that never resumes fails the test after a few minutes.
	waitWrites := func(what string, n int64) time.Duration {
		start, from := time.Now(), writes.Load()
		for writes.Load() < from+n {
			if time.Since(start) > 3*time.Minute {
				stopping.Store(true)
				wg.Wait()
				t.Fatalf("%s: the writer did not resume: %d writes in 3 minutes", what, writes.Load()-from)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}
	defer func() { stopping.Store(true); wg.Wait() }()
	// inCompaction waits (a minute at most) until a compaction has run
	// 200 ms, and says how long it has.
	inCompaction := func() string {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if p := compacting.Load(); p != nil && time.Since(*p) > 200*time.Millisecond {
				return fmt.Sprintf("%s into a compaction", time.Since(*p).Round(time.Millisecond))
			}
		}
		return "with no compaction running"
	}
	waitWrites("before the kills", 4)

	rounds := 1
	if v := os.Getenv("METACTL_CLUSTER_ROUNDS"); v != "" {
		fmt.Sscan(v, &rounds)
	}
	var (
		events []event

		elections, firstWrite []time.Duration
	)
	for round := 1; round <= rounds; round++ {
		// The leader: SIGKILL, elect, resume, restart from its data.
		leaderKill := inCompaction()
		leader, leaderID := c.leader(-1, 0)
		killedAt := time.Now()
		c.run("kill", c.dir, fmt.Sprint(leader))
		events = append(events, event{fmt.Sprintf("the leader's kill #%d", round), killedAt})
		next, _ := c.leader(leader, leaderID)
		elections = append(elections, time.Since(killedAt))
		firstWrite = append(firstWrite, time.Since(killedAt)+waitWrites("after the leader's kill", 1))
		waitWrites("after the leader's kill", 3)
		restartAt := time.Now()
		c.run("restart", c.dir, fmt.Sprint(leader))
		leaderRestart := time.Since(restartAt)
		events = append(events, event{fmt.Sprintf("the leader's restart #%d", round), restartAt})
		waitWrites("after the leader's restart", 4)
		t.Logf("#%d: leader m%d SIGKILLed %s: m%d elected after %s; first write completed %s after the kill; m%d restarted (healthy) in %s",
			round, leader, leaderKill, next, elections[round-1].Round(time.Millisecond), firstWrite[round-1].Round(time.Millisecond),
			leader, leaderRestart.Round(time.Millisecond))

		// A follower: SIGKILL, no election expected, restart.
		followerKill := inCompaction()
		cur, curID := c.leader(-1, 0)
		follower := (cur + 1) % 3
		events = append(events, event{fmt.Sprintf("the follower's kill #%d", round), time.Now()})
		c.run("kill", c.dir, fmt.Sprint(follower))
		waitWrites("after a follower's kill", 3)
		after, afterID := c.leader(follower, 0)
		restartAt = time.Now()
		c.run("restart", c.dir, fmt.Sprint(follower))
		followerRestart := time.Since(restartAt)
		events = append(events, event{fmt.Sprintf("the follower's restart #%d", round), restartAt})
		waitWrites("after the follower's restart", 4)
		t.Logf("#%d: follower m%d SIGKILLed %s: leader m%d stayed (%v); m%d restarted (healthy) in %s",
			round, follower, followerKill, after, afterID == curID, follower, followerRestart.Round(time.Millisecond))
	}
	stopping.Store(true)
	wg.Wait()
	ended := time.Now()

	// Every member, alone, serves the final catalog once it caught up.
	final := stateOf(t, url)
	for i, ep := range c.clients {
		only := "etcd://" + ep + "/debian-cluster"
		var got catalogState
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if r := metactl(t, only, nil, "status", "--json"); r.code == 0 {
				json.Unmarshal([]byte(r.stdout), &got)
				if got == final {
					break
				}
			}
		}
		if got != final {
			t.Errorf("member m%d alone serves %+v, the cluster %+v", i, got, final)
		}
	}
	must(t, url, nil, "verify")

	// The committed generations, from the journal: each one's digest, its
	// files and its live files.
	committed := committedGenerations(t, url)
	if got := committed[final.Generation]; got.digest != final.ViewDigest {
		t.Fatalf("the journal's last generation %d has digest %s, status says %s", final.Generation, got.digest, final.ViewDigest)
	}

	// No file lost: the final listing is the journal's, every file of every
	// epoch a successful import saw is in it, and coverage has no gap up
	// to the last of them.
	var ls struct {
		Generation uint64 `json:"generation"`
		Files      []struct{ Handle, State string }
	}
	json.Unmarshal([]byte(must(t, url, nil, "ls", "--json").stdout), &ls)
	have := map[string]bool{}
	var listing []string
	for _, f := range ls.Files {
		have[f.Handle] = true
		listing = append(listing, f.Handle+" "+f.State)
	}
	if strings.Join(listing, "\n") != strings.Join(committed[ls.Generation].files, "\n") {
		t.Errorf("the final listing (generation %d) is not the journal's", ls.Generation)
	}
	last := imported.Load()
	lost := 0
	for e := int64(0); e <= last; e++ {
		for _, h := range []string{fmt.Sprintf("metadata/epoch_ending_%d-%d.meta", e, e), fmt.Sprintf("metadata/transaction_%d-%d.meta", e*10, e*10+9),
			fmt.Sprintf("metadata/state_snapshot_ver_%d.meta", e*10+9)} {
			if !have[h] {
				lost++
				t.Errorf("%s lost (epoch %d was imported)", h, e)
			}
		}
	}
	var cov struct {
		Coverage struct {
			Frontier uint64            `json:"frontier_version"`
			Gaps     []json.RawMessage `json:"gaps"`
		} `json:"coverage"`
	}
	json.Unmarshal([]byte(must(t, url, nil, "status", "--coverage", "--json").stdout), &cov)
	if len(cov.Coverage.Gaps) > 0 || cov.Coverage.Frontier < uint64(last*10+9) {
		t.Errorf("coverage after the kills: gaps %s, restorable up to version %d, want at least %d",
			cov.Coverage.Gaps, cov.Coverage.Frontier, last*10+9)
	}

	// Every read: exactly one committed generation.
	counts := map[string]int{}
	failed := map[string]int{}
	var failures []string
	inconsistent := 0
	gens := map[uint64]bool{}
	for _, o := range ops {
		if o.code != 0 {
			failed[o.kind]++
			failures = append(failures, fmt.Sprintf("%s (from %s to %s): exit %d: %s", o.kind, when(events, o.start), when(events, o.end), o.code, o.stderr))
			if o.code != 1 || !strings.HasPrefix(o.stderr, "metactl: ") || strings.Contains(o.stderr, "goroutine ") {
				t.Errorf("%s failed, not cleanly: exit %d: %s", o.kind, o.code, o.stderr)
			}
			continue
		}
		counts[o.kind]++
		if o.kind == "import" || o.kind == "compact" {
			continue
		}
		if o.kind == "bridge-open" {
			if o.files[0] != string(openedBytes) {
				inconsistent++
				t.Errorf("open_for_read %s answered %q, the storage holds %q", opened, o.files[0], openedBytes)
			}
			continue
		}
		if o.kind == "bridge-list" {
			found := false
			for _, g := range committed {
				found = found || strings.Join(g.live, "\n") == strings.Join(o.files, "\n")
			}
			if !found {
				inconsistent++
				t.Errorf("list_metadata_files listed %d files, the live files of no committed generation", len(o.files))
			}
			continue
		}
		gens[o.generation] = true
		g, ok := committed[o.generation]
		switch {
		case !ok:
			inconsistent++
			t.Errorf("%s saw generation %d, which no writer committed", o.kind, o.generation)
		case o.kind == "status" && o.digest != g.digest:
			inconsistent++
			t.Errorf("status at generation %d saw digest %s, committed %s", o.generation, o.digest, g.digest)
		case o.kind == "ls" && strings.Join(o.files, "\n") != strings.Join(g.files, "\n"):
			inconsistent++
			t.Errorf("ls at generation %d saw a file set that generation never had", o.generation)
		}
	}
	// The writes a kill caught in flight: each completed, or failed
	// cleanly (checked below) and left the catalog as it was.
	for _, e := range events {
		if !strings.Contains(e.name, "kill") {
			continue
		}
		for _, o := range ops {
			if (o.kind == "import" || o.kind == "compact") && o.start.Before(e.at) && o.end.After(e.at) {
				t.Logf("in flight at %s: %s from %s to %s: exit %d", e.name, o.kind, when(events, o.start), when(events, o.end), o.code)
			}
		}
	}
	// Every write that exited 0 is in the journal (beside the seeding
	// import); one that exited 1 may be there too, if etcd applied it and
	// its answer was lost with the leader (exit 1 promises no rollback).
	// Every import here adds files and every compaction a timestamp
	// file, so each one that committed has a journal entry.
	journaled := map[string]int{}
	for _, g := range committed {
		journaled[g.kind]++
	}
	if journaled["import"] < counts["import"]+1 || journaled["compact"] < counts["compact"] {
		t.Errorf("writes lost: the journal holds %d imports and %d compactions; %d and %d exited 0 (and the seeding import)",
			journaled["import"], journaled["compact"], counts["import"], counts["compact"])
	}
	committedAnyway := journaled["import"] - 1 - counts["import"] + journaled["compact"] - counts["compact"]
	reads, readsFailed := 0, 0
	readCounts := map[string]int{}
	for _, k := range readKinds {
		reads += counts[k]
		readsFailed += failed[k]
		readCounts[k] = counts[k]
	}
	t.Logf("%s of loops: %d writes (%d imports, %d compactions; %d failed, %d of them committed all the same), %d reads %v (%d failed), %d generations seen, inconsistent: %d, files lost: %d",
		ended.Sub(began).Round(time.Second), counts["import"]+counts["compact"], counts["import"], counts["compact"], failed["import"]+failed["compact"], committedAnyway,
		reads, readCounts, readsFailed, len(gens), inconsistent, lost)
	for _, f := range summarizeFailures(failures) {
		t.Logf("failed: %s", f)
	}
	fmt.Printf("etcd cluster (%s, 3 processes): %d leader kills, elected after %s, first write %s after the kill; leaders and followers restarted; %d writes, %d reads, %d failed, inconsistent %d, lost %d\n",
		c.version, rounds, roundAll(elections), roundAll(firstWrite), counts["import"]+counts["compact"], reads, len(failures), inconsistent, lost)
}

// clusterWriterKills SIGKILLs import and compaction processes at every
// step of an etcd publish (before any key, after some chunks, before and
// after the compare-and-swap, while folding a staged write in) against
// the real cluster: each time the catalog is the before- or the
// after-state and verifies, and the next writer collects what the dead one
// left and completes the operation.
func clusterWriterKills(t *testing.T, c *debianCluster) {
	storage, seed, now := writerKillSeed(t)
	// Small transactions, so that every write is staged; a dead writer's
	// lease lapses after 1s.
	const q = "?lease-ttl=1s&value-size=4096&txn-ops=16&txn-bytes=16384&grace=0s"
	n := 0
	fresh := func(op string) string {
		n++
		url := "etcd://" + c.endpoints + fmt.Sprintf("/debian-cluster-writers/%d", n) + q
		must(t, "", nil, "copy", "--from", seed, "--to", url)
		if op == "compact" {
			must(t, url, now, "import", "--local-fs-dir", storage)
		}
		return url
	}
	ops := []struct {
		name string
		args []string
	}{
		{"import", []string{"import", "--local-fs-dir", storage}},
		{"compact", []string{"compact", "--epoch-ending-file-compact-factor", "3", "--transaction-file-compact-factor", "2",
			"--state-snapshot-file-compact-factor", "2", "--remove-compacted-file-after", "60"}},
	}
	kills, collected := 0, 0
	var sides []string
	for _, op := range ops {
		ref := fresh(op.name)
		before := stateOf(t, ref)
		must(t, ref, now, op.args...)
		after := stateOf(t, ref)
		if before == after {
			t.Fatalf("%s changes nothing: the test tests nothing", op.name)
		}
		for _, point := range []string{op.name + ".before-commit", "etcd.before-keys", "etcd.after-chunk@3", "etcd.before-cas", "etcd.after-cas", "etcd.after-fold@2"} {
			url := fresh(op.name)
			cmd := exec.Command(binary, op.args...)
			cmd.Env = append(os.Environ(), "METACTL_CATALOG="+url, "METACTL_FAILPOINT="+point, now[0])
			out, err := cmd.CombinedOutput()
			ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if err == nil || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("%s@%s: not killed (err %v): %s", op.name, point, err, out)
			}
			must(t, url, nil, "verify")
			side := "neither"
			switch stateOf(t, url) {
			case before:
				side = "before"
			case after:
				side = "after"
			}
			want := "before"
			if point == "etcd.after-cas" || strings.HasPrefix(point, "etcd.after-fold") {
				want = "after"
			}
			if side != want {
				t.Errorf("%s killed at %s: the catalog is %s the operation, want %s", op.name, point, side, want)
			}
			leftovers := len(beyondCurrent(t, url))
			must(t, url, now, append([]string{"--lock-timeout", "10s"}, op.args...)...)
			if got := stateOf(t, url); got.ViewDigest != after.ViewDigest || got.Generation < after.Generation {
				t.Errorf("%s killed at %s: the retry ends at %+v, want %+v", op.name, point, got, after)
			}
			if ks := beyondCurrent(t, url); len(ks) > 0 {
				t.Errorf("%s killed at %s: keys of an unpublished generation survived the retry: %v", op.name, point, ks)
			}
			kills++
			if leftovers > 0 {
				collected++
			}
			sides = append(sides, fmt.Sprintf("%s@%s: %s (%d keys left)", op.name, point, side, leftovers))
		}
	}
	t.Logf("%d writers SIGKILLed, each catalog verified and the before- or the after-state; %d left keys that the next writer collected: %s",
		kills, collected, strings.Join(sides, "; "))
}

// roundAll prints durations to the millisecond: "1.2s, 1.5s".
func roundAll(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Round(time.Millisecond).String())
	}
	return strings.Join(out, ", ")
}

// event is a kill or a restart, for telling when a failure happened.
type event struct {
	name string
	at   time.Time
}

// when says when t was: after which event, and how long after.
func when(events []event, t time.Time) string {
	last := -1
	for i, e := range events {
		if !t.Before(e.at) {
			last = i
		}
	}
	if last < 0 {
		return fmt.Sprintf("%s before %s", events[0].at.Sub(t).Round(10*time.Millisecond), events[0].name)
	}
	return fmt.Sprintf("%s after %s", t.Sub(events[last].at).Round(10*time.Millisecond), events[last].name)
}

// parseRead fills o from a reader's output.
func parseRead(o *clusterOp, stdout string) error {
	switch o.kind {
	case "status":
		var s catalogState
		if err := json.Unmarshal([]byte(stdout), &s); err != nil {
			return fmt.Errorf("status: unparsable output: %q", stdout)
		}
		o.generation, o.digest = s.Generation, s.ViewDigest
	case "ls":
		var l struct {
			Generation uint64 `json:"generation"`
			Files      []struct{ Handle, State string }
		}
		if err := json.Unmarshal([]byte(stdout), &l); err != nil {
			return fmt.Errorf("ls: unparsable output: %q", stdout)
		}
		o.generation = l.Generation
		for _, f := range l.Files {
			o.files = append(o.files, f.Handle+" "+f.State)
		}
	case "read":
		var rj struct {
			Generation uint64 `json:"generation"`
			Files      []struct {
				Entries []json.RawMessage `json:"entries"`
			} `json:"files"`
		}
		if err := json.Unmarshal([]byte(stdout), &rj); err != nil || len(rj.Files) != 2 || len(rj.Files[0].Entries) != 1 || len(rj.Files[1].Entries) != 1 {
			return fmt.Errorf("read: partial or unparsable output: %q", stdout)
		}
		o.generation = rj.Generation
	case "bridge-list":
		o.files = strings.Fields(stdout)
		sort.Strings(o.files)
	case "bridge-open":
		o.files = []string{stdout}
	}
	return nil
}

// generation is what the journal says one committed generation holds.
type generation struct {
	kind   string // the journal's: import, compact...
	digest string
	files  []string // "handle state", sorted (ls --json's order)
	live   []string // live handles, sorted
}

// committedGenerations replays the journal of the catalog at url.
func committedGenerations(t *testing.T, url string) map[uint64]generation {
	t.Helper()
	var ops []journalOp
	if err := unmarshalLog(must(t, url, nil, "log", "-n", "0", "--json").stdout, &ops); err != nil {
		t.Fatal(err)
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Generation < ops[j].Generation })
	out := map[uint64]generation{}
	state := map[string]string{}
	for _, op := range ops {
		if op.Added.Truncated {
			t.Fatal("journal truncated; the test storage is too big")
		}
		for _, hs := range [][]string{op.Added.Handles, op.Replaced.Handles, op.Revived.Handles} {
			for _, h := range hs {
				state[h] = "live"
			}
		}
		for _, h := range op.Moved.Handles {
			state[h] = "moved"
		}
		for _, h := range op.Deleted.Handles {
			delete(state, h)
		}
		g := generation{kind: op.Kind, digest: op.DigestAfter}
		for h, s := range state {
			g.files = append(g.files, h+" "+s)
			if s == "live" {
				g.live = append(g.live, h)
			}
		}
		sort.Strings(g.files)
		sort.Strings(g.live)
		out[op.Generation] = g
	}
	return out
}

var pidsAndTimes = regexp.MustCompile(`\b(pid \d+|\d{4}-\d\d-\d\dT[0-9:.]+Z?|[0-9a-f]{16})\b`)

// summarizeFailures counts failures by their text, pids, times and
// member IDs left out, each with when it first happened.
func summarizeFailures(failures []string) []string {
	count := map[string]int{}
	first := map[string]string{}
	var order []string
	for _, f := range failures {
		kind, rest, _ := strings.Cut(f, " (")
		when, text, _ := strings.Cut(rest, "): ")
		key := kind + ": " + pidsAndTimes.ReplaceAllString(text, "…")
		if count[key] == 0 {
			order = append(order, key)
			first[key] = when
		}
		count[key]++
	}
	var out []string
	for _, k := range order {
		out = append(out, fmt.Sprintf("%d× %s (first: %s)", count[k], k, first[k]))
	}
	return out
}
