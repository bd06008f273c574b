package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog/etcdstore"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/etcdtest"
	"github.com/metactl/metactl/internal/samplegen"
)

// TestEtcdCosts measures what the etcd backend costs etcd, from etcd's own
// metrics (bytes received from and sent to clients, database size), on one
// in-process member, for the figures of issue 22 (fsync off: these are
// bytes, and setting up a catalog of a million lines is thousands of
// transactions on a shared machine; the times of status and read are
// reads):
//
//   - a one-file import into a catalog of F one-line files: bytes sent to
//     etcd, database growth, with the local copy the previous writer left
//     in the cache folder and without (cache=off);
//   - status and read of one file in a fresh process: wall time and bytes
//     etcd sent;
//   - 1,000 small writes: the database size before and after (metactl
//     compacts etcd's history after the grace period, here 0);
//   - a full compaction of a catalog of L lines: bytes sent to etcd
//     against the bytes of the files it changed.
//
// METACTL_BENCH_ETCD_COSTS is "F,L" (for example "100000,1000000"; L 0
// skips the compaction, F 0 all but the compaction). The compaction's
// puts are summed by kind of key (compact-put-*). It prints lines "etcd-cost KEY VALUE" that
// scripts/bench.sh turns into table rows, and asserts only that every
// command succeeds.
func TestEtcdCosts(t *testing.T) {
	spec := os.Getenv("METACTL_BENCH_ETCD_COSTS")
	if spec == "" {
		t.Skip("set METACTL_BENCH_ETCD_COSTS=100000,1000000 to measure")
	}
	var files, lines int
	if _, err := fmt.Sscanf(spec, "%d,%d", &files, &lines); err != nil {
		t.Fatalf("METACTL_BENCH_ETCD_COSTS=%q: want F,L: %v", spec, err)
	}
	c, err := etcdtest.Start(t.TempDir(), 1, etcdtest.Options{QuotaBackendBytes: 8 << 30, MaxTxnOps: 4096, MaxRequestBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	m := c.Members[0].ClientURL
	report := func(key string, v any) { fmt.Printf("etcd-cost %s %v\n", key, v) }
	now := []string{"METACTL_NOW=1700000000"}
	if files == 0 {
		// "0,L": the compaction alone.
		compactionCost(t, c, m, lines, report)
		return
	}

	// A catalog of F one-line files, copied in from a file catalog.
	storage := t.TempDir()
	opts := samplegen.DefaultOptions((files + 3) / 4)
	os.MkdirAll(filepath.Join(storage, "metadata"), 0o755)
	all := samplegen.Files(opts)
	for _, f := range all {
		os.WriteFile(filepath.Join(storage, "metadata", f.Name), f.Content, 0o644)
	}
	file := asFile(filepath.Join(t.TempDir(), "c.db"))
	must(t, file, now, "import", "--local-fs-dir", storage)
	url := etcdURL(t, c, "files", "")
	start := time.Now()
	// The setup in large transactions (the member allows them); every
	// measured command uses the defaults.
	must(t, "", nil, "copy", "--from", file, "--to", url+setupTxn)
	report("files", len(all))
	report("copy-in-seconds", fmt.Sprintf("%.1f", time.Since(start).Seconds()))

	// One more file, twice: by a writer that finds the local copy the
	// previous one (the copy) left in its cache folder, and by one
	// without the cache (cache=off), which loads the catalog from etcd.
	last := opts
	last.Epochs++
	have := map[string]bool{}
	for _, f := range all {
		have[f.Name] = true
	}
	var ones []string
	for _, f := range samplegen.Files(last) {
		if !have[f.Name] && len(ones) < 2 {
			one := t.TempDir()
			os.MkdirAll(filepath.Join(one, "metadata"), 0o755)
			os.WriteFile(filepath.Join(one, "metadata", f.Name), f.Content, 0o644)
			ones = append(ones, one)
		}
	}
	var before, after etcdFigures
	var took time.Duration
	for i, q := range []string{"", "?cache=off"} {
		before = etcdMetrics(t, m)
		took = must(t, url+q, now, "import", "--local-fs-dir", ones[i]).took
		after = etcdMetrics(t, m)
		key := "import-one"
		if q != "" {
			key = "import-one-no-cache"
		}
		report(key+"-sent-to-etcd-bytes", after.received-before.received)
		report(key+"-db-growth-bytes", after.dbSize-before.dbSize)
		report(key+"-seconds", fmt.Sprintf("%.2f", took.Seconds()))
		report(key+"-received-from-etcd-bytes", after.sent-before.sent)
	}

	var handle string
	for _, l := range strings.Split(must(t, url, nil, "ls").stdout, "\n") {
		for _, f := range strings.Fields(l) {
			if strings.HasPrefix(f, "metadata/") && handle == "" {
				handle = f
			}
		}
	}
	for _, cmd := range [][]string{{"status"}, {"read", handle}} {
		before = etcdMetrics(t, m)
		took = must(t, url, nil, cmd...).took
		after = etcdMetrics(t, m)
		report(cmd[0]+"-seconds", fmt.Sprintf("%.3f", took.Seconds()))
		report(cmd[0]+"-received-from-etcd-bytes", after.sent-before.sent)
	}
	if ok := bridgeCosts(t, url, m, storage, handle, report); !ok {
		report("bridge", "not-built")
	}

	// 1,000 small writes to a small catalog, history compacted after the
	// grace period (0, and at least a minute: the clock advances 10 s per
	// write), in one process (each write opens, locks, writes, closes).
	small := etcdURL(t, c, "small", "?grace=0s")
	must(t, small, now, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	before = etcdMetrics(t, m)
	ctx := context.Background()
	clock := time.Now()
	for i := range 1000 {
		at := clock.Add(time.Duration(i) * 10 * time.Second)
		db, err := catalog.Open(ctx, small, &catalog.Options{Command: "bench", Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		note := fmt.Sprint("write ", i)
		if _, err := db.Update(ctx, "import", func(tx catalog.WriteTx) error {
			h := fmt.Sprintf("metadata/transaction_%d-%d.meta", 900000000+i*10, 900000000+i*10+9)
			_, err := tx.PutFile(catalog.NewFile{Handle: h, State: catalog.Live, Source: note,
				Content: []byte(fmt.Sprintf(`{"TransactionBackup":{"first_version":%d,"last_version":%d,"manifest":"t/%d"}}`+"\n", 900000000+i*10, 900000000+i*10+9, i))})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	after = etcdMetrics(t, m)
	report("writes-1000-db-before-bytes", before.dbSize)
	report("writes-1000-db-after-bytes", after.dbSize)
	report("writes-1000-db-in-use-after-bytes", after.dbInUse)

	if lines > 0 {
		compactionCost(t, c, m, lines, report)
	}
}

// compactionCost imports L lines in files of 100 into a file catalog,
// copies it to etcd, and compacts it there.
func compactionCost(t *testing.T, c *etcdtest.Cluster, m string, n int, report func(string, any)) {
	storage, lines, files, _ := storageOf(t, n)
	now := []string{"METACTL_NOW=1700000000"}
	file := asFile(filepath.Join(t.TempDir(), "big.db"))
	must(t, file, now, "import", "--local-fs-dir", storage)
	url := etcdURL(t, c, "big", "")
	must(t, "", nil, "copy", "--from", file, "--to", url+setupTxn)
	compact := []string{"compact", "--epoch-ending-file-compact-factor", "10", "--transaction-file-compact-factor", "10",
		"--state-snapshot-file-compact-factor", "10", "--json"}
	w := watchPuts(t, url)
	before := etcdMetrics(t, m)
	took := must(t, url, now, compact...).took
	after := etcdMetrics(t, m)
	for _, l := range w.breakdown(t) {
		report("compact-put-"+l.what, fmt.Sprintf("%d keys %d bytes", l.keys, l.bytes))
	}
	// The changed files: those the compaction added (their bytes) and
	// those it moved (state only).
	var added int64
	for _, l := range strings.Split(must(t, url, nil, "ls", "-l").stdout, "\n") {
		// STATE LINES SIZE SHA256 IMPORTED SOURCE PATH
		f := strings.Fields(l)
		if len(f) == 7 && f[5] == "compaction" {
			if n, err := strconv.ParseInt(f[2], 10, 64); err == nil {
				added += n
			}
		}
	}
	report("compact-lines", lines)
	report("compact-files", files)
	report("compact-seconds", fmt.Sprintf("%.1f", took.Seconds()))
	report("compact-sent-to-etcd-bytes", after.received-before.received)
	report("compact-added-files-bytes", added)
}

// bridgeCosts times the bridge's list and open on etcd in fresh
// processes, if this metactl has the adapter command.
func bridgeCosts(t *testing.T, url, m, storage, handle string, report func(string, any)) bool {
	if r := metactl(t, "", nil, "adapter", "--help"); r.code != 0 {
		return false
	}
	for _, call := range []string{"list_metadata_files", "open_for_read"} {
		before := etcdMetrics(t, m)
		// The process's run alone: the test's scan of its output (4.6 MB
		// for a listing of 112k files) took 0.3 s and was counted before.
		took := must(t, url, []string{"FILE_HANDLE=" + handle}, "adapter", "--local-fs-dir", storage, call).took
		after := etcdMetrics(t, m)
		report("bridge-"+call+"-seconds", fmt.Sprintf("%.3f", took.Seconds()))
		report("bridge-"+call+"-received-from-etcd-bytes", after.sent-before.sent)
	}
	return true
}

// setupTxn are the URL options of a benchmark's setup copies.
const setupTxn = "?txn-ops=1000&txn-bytes=2097152"

type etcdFigures struct{ received, sent, dbSize, dbInUse int64 }

// etcdMetrics reads a member's /metrics.
func etcdMetrics(t *testing.T, clientURL string) etcdFigures {
	t.Helper()
	resp, err := http.Get(clientURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var f etcdFigures
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		switch name {
		case "etcd_network_client_grpc_received_bytes_total":
			f.received = int64(x)
		case "etcd_network_client_grpc_sent_bytes_total":
			f.sent = int64(x)
		case "etcd_mvcc_db_total_size_in_bytes":
			f.dbSize = int64(x)
		case "etcd_mvcc_db_total_size_in_use_in_bytes":
			f.dbInUse = int64(x)
		}
	}
	return f
}

// storageOf writes a LocalFs storage of about n lines: samplegen's
// one-line files up to 50k lines, beyond that the same lines in files of
// 100 (as scripts/bench.sh does), so a million lines are 10k files.
func storageOf(t *testing.T, n int) (dir string, lines, files int, opts samplegen.Options) {
	dir = t.TempDir()
	meta := filepath.Join(dir, "metadata")
	os.MkdirAll(meta, 0o755)
	opts = samplegen.DefaultOptions((n + 3) / 4)
	opts.SnapshotIntervalEpochs = 2
	all := samplegen.Files(opts)
	if n <= 50000 {
		for _, f := range all {
			os.WriteFile(filepath.Join(meta, f.Name), f.Content, 0o644)
		}
		return dir, len(all), len(all), opts
	}
	var batch []byte
	flush := func() {
		if len(batch) > 0 {
			files++
			os.WriteFile(filepath.Join(meta, fmt.Sprintf("batch_%06d.meta", files)), batch, 0o644)
			batch = nil
		}
	}
	for i, f := range all {
		batch = append(batch, f.Content...)
		if (i+1)%100 == 0 {
			flush()
		}
	}
	flush()
	return dir, len(all), files, opts
}

// putWatch records every key put under an etcd catalog's prefix from its
// start on, to say what a command's bytes sent to etcd consist of.
type putWatch struct {
	cli    *clientv3.Client
	prefix string
	ch     clientv3.WatchChan
	cancel context.CancelFunc
}

func watchPuts(t *testing.T, loc string) *putWatch {
	cfg, err := etcdstore.ParseURL(loc)
	if err != nil {
		t.Fatal(err)
	}
	cli := etcdClient(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	w := &putWatch{cli: cli, prefix: cfg.Prefix + "/", cancel: cancel}
	resp, err := cli.Get(ctx, w.prefix+"current")
	if err != nil {
		t.Fatal(err)
	}
	w.ch = cli.Watch(ctx, w.prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	return w
}

type putLine struct {
	what        string
	keys, bytes int64
}

// breakdown ends the watch (with a sentinel key) and sums the keys and
// bytes (key + value) put, by kind: "stage <bucket>" (a staged write's
// keys), "fold <bucket>" (the same keys copied into place), "put
// <bucket>" (put in place at once), list and ix shards, and the small
// keys.
func (w *putWatch) breakdown(t *testing.T) []putLine {
	defer w.cli.Close()
	defer w.cancel()
	end := w.prefix + "zz-bench-end"
	if _, err := w.cli.Put(context.Background(), end, ""); err != nil {
		t.Fatal(err)
	}
	sums := map[string]*putLine{}
	staged := map[string]bool{}
	add := func(what string, n int) {
		l := sums[what]
		if l == nil {
			l = &putLine{what: what}
			sums[what] = l
		}
		l.keys++
		l.bytes += int64(n)
	}
	// kind names a key by its folder and bucket: "kv-files", "kc-content", "list".
	kind := func(rel string) string {
		top, rest, _ := strings.Cut(rel, "/")
		if top == "list" || top == "ix" {
			return top
		}
		if i := strings.IndexAny(rest, "/\x00"); i >= 0 {
			rest = rest[:i]
		}
		return top + "-" + rest
	}
	timeout := time.After(10 * time.Minute)
	for {
		var resp clientv3.WatchResponse
		select {
		case resp = <-w.ch:
		case <-timeout:
			t.Fatal("the watch of the compaction's keys did not reach its end")
		}
		if err := resp.Err(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.Events {
			k := string(ev.Kv.Key)
			if k == end {
				var out []putLine
				for _, l := range sums {
					out = append(out, *l)
				}
				slices.SortFunc(out, func(a, b putLine) int { return int(b.bytes - a.bytes) })
				return out
			}
			if ev.Type != clientv3.EventTypePut {
				continue
			}
			rel := strings.TrimPrefix(k, w.prefix)
			n := len(ev.Kv.Key) + len(ev.Kv.Value)
			switch {
			case strings.HasPrefix(rel, "stage/"):
				inner := rel[len("stage/00000000000000000000/"):]
				staged[inner] = true
				add("stage-"+kind(inner), n)
			case strings.HasPrefix(rel, "kv/") || strings.HasPrefix(rel, "kc/") || strings.HasPrefix(rel, "list/") || strings.HasPrefix(rel, "ix/"):
				how := "put"
				if staged[rel] {
					how = "fold"
				}
				add(how+"-"+kind(rel), n)
			default:
				top, _, _ := strings.Cut(rel, "/")
				add(top, n)
			}
		}
	}
}
