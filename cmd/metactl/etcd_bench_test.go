package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog/etcdstore"
	"github.com/metactl/metactl/internal/etcdtest"
	"github.com/metactl/metactl/internal/samplegen"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestEtcdFigures measures import, compact and status on a local 3-member
// etcd cluster (fsync on) against the bbolt file, in the same run, for
// storages of the line counts in METACTL_BENCH_ETCD (comma-separated, for
// example "40000,1000000"), and etcd's database size after 10 compactions
// with garbage collection. It prints a table; it asserts only that every
// command succeeds. Skipped unless METACTL_BENCH_ETCD is set.
func TestEtcdFigures(t *testing.T) {
	spec := os.Getenv("METACTL_BENCH_ETCD")
	if spec == "" {
		t.Skip("set METACTL_BENCH_ETCD=40000,1000000 to measure")
	}
	c, err := etcdtest.Start(t.TempDir(), 3, etcdtest.Options{Fsync: true, QuotaBackendBytes: 8 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	for _, s := range strings.Split(spec, ",") {
		lines, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("METACTL_BENCH_ETCD=%q: %v", spec, err)
		}
		figures(t, c, lines)
	}
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

// growth writes into dir the files that k more epochs add to the storage
// of opts (samplegen's storages with more epochs contain those with
// fewer), so an import of dir continues the chain.
func growth(t *testing.T, dir string, opts samplegen.Options, k int) {
	have := map[string]bool{}
	for _, f := range samplegen.Files(opts) {
		have[f.Name] = true
	}
	opts.Epochs += k
	os.MkdirAll(filepath.Join(dir, "metadata"), 0o755)
	for _, f := range samplegen.Files(opts) {
		if !have[f.Name] {
			os.WriteFile(filepath.Join(dir, "metadata", f.Name), f.Content, 0o644)
		}
	}
}

func timed(t *testing.T, cat string, env []string, args ...string) (time.Duration, result) {
	t.Helper()
	start := time.Now()
	r := must(t, cat, env, args...)
	return time.Since(start), r
}

func figures(t *testing.T, c *etcdtest.Cluster, n int) {
	storage, lines, files, opts := storageOf(t, n)
	compact := []string{"compact", "--epoch-ending-file-compact-factor", "10", "--transaction-file-compact-factor", "10",
		"--state-snapshot-file-compact-factor", "10"}
	url := etcdURL(t, c, fmt.Sprint(n), "?grace=0s")
	file := asFile(filepath.Join(t.TempDir(), "c.db"))
	now := []string{"METACTL_NOW=1700000000"}
	type row struct{ imp, cmp, st time.Duration }
	var rows [2]row
	for i, cat := range []string{file, url} {
		rows[i].imp, _ = timed(t, cat, now, "import", "--local-fs-dir", storage)
		rows[i].cmp, _ = timed(t, cat, now, compact...)
		rows[i].st, _ = timed(t, cat, nil, "status")
	}
	if a, b := must(t, file, nil, "status", "--json").stdout, must(t, url, nil, "status", "--json").stdout; a != b {
		t.Errorf("the backends disagree:\n%s\n%s", a, b)
	}
	st, _ := os.Stat(file)
	sn := manifestOf(t, url)
	ratio := func(a, b time.Duration) string { return fmt.Sprintf("%.1fx", a.Seconds()/b.Seconds()) }
	fmt.Printf("etcd figures: %d lines in %d files; bbolt file %d MiB, etcd generation %d MiB in %d chunks\n",
		lines, files, st.Size()>>20, sn.compressed>>20, sn.chunks)
	fmt.Printf("  %-8s %10s %10s %8s\n", "", "bbolt", "etcd x3", "ratio")
	for _, r := range []struct {
		name string
		a, b time.Duration
	}{{"import", rows[0].imp, rows[1].imp}, {"compact", rows[0].cmp, rows[1].cmp}, {"status", rows[0].st, rows[1].st}} {
		fmt.Printf("  %-8s %10s %10s %8s\n", r.name, r.a.Round(time.Millisecond), r.b.Round(time.Millisecond), ratio(r.b, r.a))
	}

	// 10 compactions with garbage collection (grace 0): each after a
	// small import, so each publishes a generation.
	size0, _ := c.DBSize(0)
	extra := t.TempDir()
	var total time.Duration
	for i := range 10 {
		growth(t, extra, opts, 4*(i+1))
		must(t, url, now, "import", "--local-fs-dir", extra)
		d, _ := timed(t, url, []string{fmt.Sprintf("METACTL_NOW=%d", 1700000100+i*100)}, compact...)
		total += d
	}
	size1, _ := c.DBSize(0)
	compacted := compactDefrag(t, c)
	keys, bytes := liveKeys(t, url)
	fmt.Printf("  10 imports+compactions (compaction mean %s): etcd db %d MiB before, %d MiB after; after etcd's own history compaction and defrag %d MiB (the catalog's live keys: %d, %d MiB)\n",
		(total / 10).Round(time.Millisecond), size0>>20, size1>>20, compacted>>20, keys, bytes>>20)
}

type manifestFigures struct {
	chunks     int
	compressed int64
}

func manifestOf(t *testing.T, url string) manifestFigures {
	cfg, _ := etcdstore.ParseURL(url)
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var f manifestFigures
	resp, err := cli.Get(context.Background(), cfg.Prefix+"/gen/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	cur := etcdGet(t, cfg, "/current")
	gen := strings.TrimSuffix(strings.TrimPrefix(string(cur), `{"generation":`), "}")
	gen, _, _ = strings.Cut(gen, ",")
	g, _ := strconv.Atoi(gen)
	want := fmt.Sprintf("/gen/%020d/chunk/", g)
	for _, kv := range resp.Kvs {
		if strings.Contains(string(kv.Key), want) {
			f.chunks++
			f.compressed += int64(len(kv.Value))
		}
	}
	return f
}

// compactDefrag compacts etcd's history to now and defragments every
// member, as an operator's --auto-compaction-retention and a periodic
// defrag would, and returns member 0's database size.
func compactDefrag(t *testing.T, c *etcdtest.Cluster) int64 {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.ClientURL)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	resp, err := cli.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	for _, ep := range eps {
		if _, err := cli.Defragment(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := c.DBSize(0)
	return s
}

// liveKeys counts the keys and value bytes an etcd catalog holds now.
func liveKeys(t *testing.T, url string) (n int, size int64) {
	cfg, _ := etcdstore.ParseURL(url)
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(context.Background(), cfg.Prefix+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		n++
		size += int64(len(kv.Key) + len(kv.Value))
	}
	return n, size
}
