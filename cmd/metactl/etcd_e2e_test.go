package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog/etcdstore"
	"github.com/metactl/metactl/internal/etcdtest"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Tests of what only the etcd backend has (copy between backends, crashes
// between its keys and its compare-and-swap, members going down). They run
// in every `go test`, against the etcd member of METACTL_TEST_BACKEND=etcd
// or one of their own.

var (
	ownEtcdOnce sync.Once
	ownEtcd     *etcdtest.Cluster
	ownEtcdErr  error
	ownEtcdDir  string
)

// testEtcd returns a running single-member etcd for etcd-only tests.
func testEtcd(t testing.TB) *etcdtest.Cluster {
	t.Helper()
	if etcdBackend != nil {
		return etcdBackend
	}
	ownEtcdOnce.Do(func() {
		if ownEtcdDir, ownEtcdErr = os.MkdirTemp("", "metactl-e2e-etcd-"); ownEtcdErr == nil {
			ownEtcd, ownEtcdErr = etcdtest.Start(ownEtcdDir, 1, etcdtest.Options{})
		}
	})
	if ownEtcdErr != nil {
		t.Fatal(ownEtcdErr)
	}
	return ownEtcd
}

func stopOwnEtcd() {
	if ownEtcd != nil {
		ownEtcd.Stop()
	}
	if ownEtcdDir != "" {
		os.RemoveAll(ownEtcdDir)
	}
}

// etcdURL is a catalog URL under a prefix of the test's own.
func etcdURL(t testing.TB, c *etcdtest.Cluster, name, query string) string {
	return "etcd://" + c.Endpoints() + "/e2e-etcd/" + strings.ReplaceAll(t.Name(), "/", "_") + "/" + name + query
}

// etcdKeys lists the keys of an etcd catalog, without its prefix.
func etcdKeys(t testing.TB, loc string) []string {
	t.Helper()
	cfg, err := etcdstore.ParseURL(loc)
	if err != nil {
		t.Fatal(err)
	}
	cli := etcdClient(t, cfg)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, cfg.Prefix+"/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, strings.TrimPrefix(string(kv.Key), cfg.Prefix))
	}
	return out
}

// beyondCurrent lists the staged keys and the lists of keys put in place
// by a staged write: what a writer that died left (unpublished, or
// published and not yet folded in).
func beyondCurrent(t testing.TB, url string) []string {
	t.Helper()
	var out []string
	for _, k := range etcdKeys(t, url) {
		if strings.HasPrefix(k, "/stage/") || strings.HasPrefix(k, "/direct/") {
			out = append(out, k)
		}
	}
	return out
}

// TestCopyBetweenBackends: a catalog copied file -> etcd -> file is the
// same catalog: status, journal and verify agree; the destination must be
// new.
func TestCopyBetweenBackends(t *testing.T) {
	t.Parallel()
	c := testEtcd(t)
	dir := t.TempDir()
	file := asFile(filepath.Join(dir, "a.db"))
	now := []string{"METACTL_NOW=1700000000"}
	must(t, file, now, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	must(t, file, now, "compact", "--epoch-ending-file-compact-factor", "10")
	url := etcdURL(t, c, "copy", "")
	back := asFile(filepath.Join(dir, "b.db"))
	must(t, "", nil, "copy", "--from", file, "--to", url)
	must(t, "", nil, "copy", "--from", url, "--to", back)
	want := must(t, file, nil, "status", "--json").stdout
	wantLog := must(t, file, nil, "log", "--json", "--files").stdout
	for _, cat := range []string{url, back} {
		if got := must(t, cat, nil, "status", "--json").stdout; got != want {
			t.Errorf("status of %s:\n%s\nwant\n%s", cat, got, want)
		}
		if got := must(t, cat, nil, "log", "--json", "--files").stdout; got != wantLog {
			t.Errorf("journal of %s differs from the original's", cat)
		}
		must(t, cat, nil, "verify")
	}
	// An archive carries the journal too.
	arch := filepath.Join(dir, "a.mcar")
	must(t, file, nil, "export", "--archive", arch)
	url2 := etcdURL(t, c, "from-archive", "")
	must(t, "", nil, "copy", "--from", arch, "--to", url2)
	if got := must(t, url2, nil, "status", "--json").stdout; got != want {
		t.Errorf("copy of the archive:\n%s\nwant\n%s", got, want)
	}
	if got := must(t, url2, nil, "log", "--json", "--files").stdout; got != wantLog {
		t.Errorf("journal of the archive's copy differs from the original's:\n%s\nwant\n%s", got, wantLog)
	}
	// Destinations must be new.
	for _, to := range []string{url, back} {
		r := metactl(t, "", nil, "copy", "--from", file, "--to", to)
		if r.code != 3 || !strings.Contains(r.stderr, "already exists") {
			t.Errorf("copy onto %s: %s", to, r)
		}
	}
	fmt.Printf("copy: file -> etcd -> file and archive -> etcd, status and journal equal\n")
}

// TestEtcdCrashAtEveryFailpoint SIGKILLs import and compaction on etcd at
// every step of a publish: in the scratch transaction, before any key is
// written, after some chunks, just before and just after the
// compare-and-swap. Each time the catalog is exactly the before- or the
// after-state, verify passes, the journal agrees, and the next writer
// collects what the dead one left.
func TestEtcdCrashAtEveryFailpoint(t *testing.T) {
	// With -short the test revokes each killed writer's lease instead of
	// waiting for it to lapse, so its writers can have 3s leases that no
	// other test's load makes lapse, and it runs beside the other tests.
	// In full it waits out real 1s leases, alone.
	ttl := "1s"
	if testing.Short() {
		ttl = "3s"
		t.Parallel()
	}
	c := testEtcd(t)
	rounds := 1
	if s := os.Getenv("METACTL_CRASH_ROUNDS"); s != "" {
		fmt.Sscan(s, &rounds)
	}
	storage, seed, now := writerKillSeed(t)
	points := []string{"etcd.before-keys", "etcd.after-chunk@3", "etcd.before-cas", "etcd.after-cas", "etcd.after-fold@2"}
	ops := []struct {
		name string
		args []string
	}{
		{"import", []string{"import", "--local-fs-dir", storage}},
		{"compact", []string{"compact", "--epoch-ending-file-compact-factor", "3", "--transaction-file-compact-factor", "2",
			"--state-snapshot-file-compact-factor", "2", "--remove-compacted-file-after", "60"}},
		// A first import: a bulk write (etcdstore's UpdateBulk), its
		// changes staged as they are made. Its before-state is the empty
		// generation 0 that the new catalog's writable open publishes.
		{"first-import", []string{"import", "--local-fs-dir", storage}},
	}
	emptyStorage := filepath.Join(t.TempDir(), "empty")
	if err := os.MkdirAll(filepath.Join(emptyStorage, "metadata"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Small transactions, so that every write is staged.
	q := "?lease-ttl=" + ttl + "&value-size=4096&txn-ops=16&txn-bytes=16384&grace=0s"
	var mu sync.Mutex
	kills, collected, n := 0, 0, 0
	fresh := func(op string) string {
		mu.Lock()
		n++
		url := etcdURL(t, c, fmt.Sprint(n), q)
		mu.Unlock()
		if op == "first-import" {
			return url
		}
		must(t, "", nil, "copy", "--from", seed, "--to", url)
		if op == "compact" {
			must(t, url, now, "import", "--local-fs-dir", storage)
		}
		return url
	}
	// Each kill leaves the lock to lapse (1s): run the failpoints side by
	// side.
	t.Run("points", func(t *testing.T) {
		// Two side by side at most, as under -parallel's default on this
		// 2-core machine (TestMain raises it for the other tests): more
		// writers at once let their 1s leases lapse on a loaded machine.
		sem := make(chan struct{}, 2)
		for _, op := range ops {
			ref := fresh(op.name)
			var before catalogState
			if op.name == "first-import" {
				empty := fresh(op.name)
				must(t, empty, now, "import", "--local-fs-dir", emptyStorage)
				before = stateOf(t, empty)
			} else {
				before = stateOf(t, ref)
			}
			must(t, ref, now, op.args...)
			after := stateOf(t, ref)
			if before == after {
				t.Fatalf("%s changes nothing: the test tests nothing", op.name)
			}
			kind := strings.TrimPrefix(op.name, "first-")
			for _, point := range append([]string{kind + ".before-commit"}, points...) {
				if op.name == "first-import" && (point == "etcd.before-cas" || point == "etcd.after-cas") {
					// The first compare-and-swap publishes the new
					// catalog's empty generation 0; the second, the
					// import.
					point += "@2"
				}
				t.Run(op.name+"@"+point, func(t *testing.T) {
					t.Parallel()
					sem <- struct{}{}
					defer func() { <-sem }()
					seen := map[string]int{}
					for range rounds {
						url := fresh(op.name)
						cmd := exec.Command(binary, op.args...)
						cmd.Env = append(os.Environ(), "METACTL_CATALOG="+url, "METACTL_FAILPOINT="+point, now[0])
						out, err := cmd.CombinedOutput()
						ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
						if err == nil || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
							t.Fatalf("not killed (err %v): %s", err, out)
						}
						must(t, url, nil, "verify")
						s := stateOf(t, url)
						switch s {
						case before:
							seen["before"]++
						case after:
							seen["after"]++
						default:
							t.Fatalf("state %+v is neither %+v nor %+v", s, before, after)
						}
						var journal []struct {
							Generation  uint64 `json:"generation"`
							DigestAfter string `json:"digest_after"`
						}
						unmarshalLog(must(t, url, nil, "log", "-n", "1", "--json").stdout, &journal)
						if s.Generation == 0 && len(journal) == 0 {
							// The empty generation 0 of a new catalog.
						} else if len(journal) != 1 || journal[0].Generation != s.Generation || journal[0].DigestAfter != s.ViewDigest {
							t.Fatalf("journal %+v disagrees with state %+v", journal, s)
						}
						// The next writer (once the dead one's lease
						// lapsed) collects its leftovers and completes
						// the operation. With -short the test ends the
						// dead writer's lease itself, as its lapse
						// would, instead of waiting up to its TTL.
						leftovers := len(beyondCurrent(t, url))
						if testing.Short() {
							revokeHolders(t, url)
						}
						must(t, url, now, append([]string{"--lock-timeout", "10s"}, op.args...)...)
						got := stateOf(t, url)
						if got.ViewDigest != after.ViewDigest || got.Generation < after.Generation {
							t.Fatalf("retry ends at %+v, want %+v", got, after)
						}
						if ks := beyondCurrent(t, url); len(ks) > 0 {
							t.Errorf("keys of an unpublished generation survived: %v", ks)
						}
						mu.Lock()
						kills++
						if leftovers > 0 {
							collected++
						}
						mu.Unlock()
					}
					wantSide := "before"
					if strings.HasPrefix(point, "etcd.after-cas") || strings.HasPrefix(point, "etcd.after-fold") {
						wantSide = "after"
					}
					if seen[wantSide] != rounds {
						t.Errorf("states seen %v, want all %s", seen, wantSide)
					}
					t.Logf("%d kills, states %v", rounds, seen)
				})
			}
		}
	})
	fmt.Printf("etcd crash: %d kills at %d failpoints, every catalog verified, %d left keys that the next writer collected\n",
		kills, len(ops)*(len(points)+1), collected)
}

// revokeHolders ends the leases of the writers that hold or wait for the
// lock of the etcd catalog at url (etcd then deletes their lock and
// holder keys, as when a lease lapses): a killed writer's lock goes at
// once instead of after its lease TTL.
func revokeHolders(t testing.TB, url string) {
	t.Helper()
	cfg, err := etcdstore.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	cli := etcdClient(t, cfg)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, p := range []string{"/lock/", "/holder/"} {
		resp, err := cli.Get(ctx, cfg.Prefix+p, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range resp.Kvs {
			if _, err := cli.Revoke(ctx, clientv3.LeaseID(kv.Lease)); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
				t.Fatalf("revoke the lease of %s: %v", kv.Key, err)
			}
		}
	}
}

// TestEtcdWritersAcrossProcesses: a second writer process waits for the
// first, or exits 5 naming it; readers never wait.
func TestEtcdWritersAcrossProcesses(t *testing.T) {
	c := testEtcd(t)
	url := etcdURL(t, c, "w", "?lease-ttl=2s")
	must(t, url, nil, "import", "--local-fs-dir", emptyStorage(t))
	writer := exec.Command(binary, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	writer.Env = append(os.Environ(), "METACTL_CATALOG="+url, "METACTL_FAILPOINT=import.before-commit=sleep:2s")
	var wout strings.Builder
	writer.Stdout, writer.Stderr = &wout, &wout
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	defer writer.Process.Kill()
	cfg, _ := etcdstore.ParseURL(url)
	for deadline := time.Now().Add(10 * time.Second); etcdGetPrefix(t, cfg, "/holder/") == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the writer never took the lock")
		}
	}
	start := time.Now()
	r := must(t, url, nil, "--lock-timeout", "100ms", "status")
	t.Logf("a reader during the write answered in %s", time.Since(start).Round(time.Millisecond))
	r = metactl(t, url, nil, "--lock-timeout", "300ms", "cleanup", "--older-than", "1h")
	want := fmt.Sprintf("held by pid %d, \"metactl import\"", writer.Process.Pid)
	if r.code != 5 || !strings.Contains(r.stderr, want) {
		t.Fatalf("second writer: want exit 5 naming %q, got %s", want, r)
	}
	must(t, url, nil, "--lock-timeout", "20s", "cleanup", "--older-than", "1h")
	if err := writer.Wait(); err != nil {
		t.Fatalf("first writer: %v: %s", err, wout.String())
	}
	if !strings.Contains(must(t, url, nil, "status").stdout, "latest_transaction_version: 58000000") {
		t.Error("the first writer's import is not visible")
	}
	fmt.Println("etcd writers: the second exits 5 naming the first, or waits; readers never wait")
}

// etcdLeader returns the index of the cluster's leader.
func etcdLeader(t *testing.T, c *etcdtest.ProcessCluster) int {
	t.Helper()
	for i, m := range c.Members {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{m.ClientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := cli.Status(ctx, m.ClientURL)
		cancel()
		cli.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.Header.MemberId == st.Leader {
			return i
		}
	}
	t.Fatal("no member is the leader")
	return 0
}

// TestEtcdMemberLoss runs on a 3-member cluster whose members are
// processes of their own: the leader is SIGKILLed in the middle of a
// compaction's publish (the operation completes, or fails cleanly and a
// retry succeeds); then every member is killed, and commands exit 1 naming
// the endpoints within --lock-timeout instead of hanging.
func TestEtcdMemberLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a 3-member cluster of processes (.ci/run runs it)")
	}
	c, err := etcdtest.StartProcesses(t.TempDir(), 3, etcdtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	url := "etcd://" + c.Endpoints() + "/e2e-etcd/member-loss?lease-ttl=2s&value-size=4096&txn-ops=16&txn-bytes=16384"
	storage := t.TempDir()
	for e := uint64(0); e < 12; e++ {
		addEpoch(t, storage, e)
	}
	now := []string{"METACTL_NOW=1700000000"}
	must(t, url, now, "import", "--local-fs-dir", storage)
	before := stateOf(t, url)
	compact := []string{"compact", "--epoch-ending-file-compact-factor", "3", "--transaction-file-compact-factor", "2",
		"--state-snapshot-file-compact-factor", "2", "--remove-compacted-file-after", "60"}
	cmd := exec.Command(binary, compact...)
	cmd.Env = append(os.Environ(), "METACTL_CATALOG="+url, "METACTL_FAILPOINT=etcd.after-chunk=sleep:100ms", now[0])
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // inside the upload
	leader := etcdLeader(t, c)
	c.KillMember(leader)
	err = cmd.Wait()
	outcome := "completed"
	if err != nil {
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() || cmd.ProcessState.ExitCode() != 1 || strings.Contains(out.String(), "goroutine ") {
			t.Fatalf("compaction with a member lost: %v: %s", err, out.String())
		}
		outcome = "failed cleanly: " + strings.TrimSpace(out.String())
		must(t, url, now, append([]string{"--lock-timeout", "10s"}, compact...)...)
	}
	must(t, url, nil, "verify")
	after := stateOf(t, url)
	if after.ViewDigest != before.ViewDigest || after.Generation != before.Generation+1 {
		t.Fatalf("after the compaction: %+v, before %+v", after, before)
	}
	t.Logf("compaction with the leader (member %d) killed mid-upload: %s", leader, outcome)

	// The killed member restarts from its data, catches up, and serves the
	// same catalog on its own endpoint.
	start := time.Now()
	if err := c.RestartMember(leader); err != nil {
		t.Fatal(err)
	}
	only := "etcd://" + strings.TrimPrefix(c.Members[leader].ClientURL, "http://") + "/e2e-etcd/member-loss"
	var got catalogState
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if r := metactl(t, only, nil, "status", "--json"); r.code == 0 {
			got = stateOf(t, only)
			if got == after || time.Now().After(deadline) {
				break
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("the restarted member does not serve: %s", r)
		}
	}
	if got != after {
		t.Fatalf("the restarted member serves %+v, want %+v", got, after)
	}
	must(t, only, nil, "verify")
	must(t, url, now, "import", "--local-fs-dir", storage)
	t.Logf("member %d restarted and served generation %d after %s", leader, got.Generation, time.Since(start).Round(time.Millisecond))

	c.Kill()
	for _, args := range [][]string{{"status"}, {"compact", "--epoch-ending-file-compact-factor", "2"}} {
		start := time.Now()
		r := metactl(t, url, nil, append([]string{"--lock-timeout", "2s"}, args...)...)
		took := time.Since(start)
		if r.code != 1 || !strings.Contains(r.stderr, c.Endpoints()) || took > 6*time.Second {
			t.Errorf("%v with every member down: after %s: %s", args, took, r)
		}
		t.Logf("%v with every member down: exit %d after %s: %s", args, r.code, took.Round(100*time.Millisecond), strings.TrimSpace(r.stderr))
	}
	fmt.Printf("etcd member loss: compaction with the leader of 3 members killed (SIGKILL) %s; the killed member restarted and served the same generation; all killed: exit 1 naming the endpoints\n", strings.SplitN(outcome, ":", 2)[0])
}

// writerKillSeed makes the starting point of the writer-kill tests: a
// file catalog of 6 epochs, compacted (seed), and a storage that has 3
// epochs more, for the killed import to add; now is the clock of the
// writes that follow.
func writerKillSeed(t *testing.T) (storage, seed string, now []string) {
	base := t.TempDir()
	storage = filepath.Join(base, "storage")
	for e := uint64(0); e < 6; e++ {
		addEpoch(t, storage, e)
	}
	first := []string{"METACTL_NOW=1700000000"}
	seed = asFile(filepath.Join(base, "seed.db"))
	must(t, seed, first, "import", "--local-fs-dir", storage)
	must(t, seed, first, "compact", "--epoch-ending-file-compact-factor", "2")
	for e := uint64(6); e < 9; e++ {
		addEpoch(t, storage, e)
	}
	return storage, seed, []string{"METACTL_NOW=1700100000"}
}
