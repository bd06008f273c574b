package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// cluster is one real etcd member shared by the tests of this package;
// each test uses its own key prefix.
var cluster *etcdtest.Cluster

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "etcdstore-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cluster, err = etcdtest.Start(dir, 1, etcdtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	cluster.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// open opens a store under a prefix named after the test.
func open(t *testing.T, c *etcdtest.Cluster, query string, o Options) *Store {
	t.Helper()
	cfg, err := ParseURL("etcd://" + c.Endpoints() + "/test/" + strings.ReplaceAll(t.Name(), "/", "_") + query)
	if err != nil {
		t.Fatal(err)
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	o.TempDir = t.TempDir()
	s, err := Open(cfg, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// txnFile is transaction backup i as a one-line metadata file.
func txnFile(i uint64) catalogtest.File {
	m := catalogtest.Transaction(i*100, i*100+99, fmt.Sprintf("transaction_%d-.aa/transaction.manifest", i*100))
	return catalogtest.File{Name: m.Name(), State: catalog.Live, Lines: []aptos.Metadata{m}}
}

// putFiles adds transaction files from..to-1 in one write.
func putFiles(t *testing.T, s *Store, from, to uint64) *catalog.Operation {
	t.Helper()
	op, err := s.Update(context.Background(), "import", func(tx *catalog.Tx) error {
		for i := from; i < to; i++ {
			if _, err := tx.PutFile(txnFile(i).NewFile("test")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// readAll downloads the current generation and checks it whole: the file
// catalog's own generation, digest and counts equal the manifest's, and
// its index agrees with its files.
func readAll(t testing.TB, s *Store) (gen uint64, files int) {
	t.Helper()
	ctx := context.Background()
	r, err := s.OpenReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	db, err := r.DB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum := r.Summary()
	err = db.View(func(tx *catalog.Tx) error {
		live, moved, err := tx.CountFiles()
		if err != nil {
			return err
		}
		if tx.Generation() != r.Snap.Generation() || tx.ViewDigest() != sum.ViewDigest || live != sum.LiveFiles ||
			moved != sum.MovedFiles || tx.EntryCount() != sum.Entries {
			return fmt.Errorf("generation %d: file says gen %d digest %s %d live %d moved %d entries; manifest says digest %s %d/%d/%d",
				r.Snap.Generation(), tx.Generation(), tx.ViewDigest().Short(), live, moved, tx.EntryCount(),
				sum.ViewDigest.Short(), sum.LiveFiles, sum.MovedFiles, sum.Entries)
		}
		files = live + moved
		return tx.StoredEntriesMatch()
	})
	if err != nil {
		t.Fatal(err)
	}
	return r.Snap.Generation(), files
}

func keys(t testing.TB, s *Store, prefix string) []string {
	t.Helper()
	resp, err := s.cli.Get(context.Background(), s.cfg.Prefix+prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, strings.TrimPrefix(string(kv.Key), s.cfg.Prefix))
	}
	return out
}

func TestCreateWriteRead(t *testing.T) {
	s := open(t, cluster, "?chunk-size=4096", Options{})
	ctx := context.Background()
	if _, err := s.OpenReader(ctx); !errors.Is(err, catalog.ErrNoCatalog) {
		t.Fatalf("reading a missing catalog: %v, want ErrNoCatalog", err)
	}
	// A write that changes nothing still creates the catalog, as opening
	// a bbolt file for writing does.
	op, err := s.Update(ctx, "import", func(*catalog.Tx) error { return nil })
	if err != nil || op.Changed() {
		t.Fatalf("empty update: %v %+v", err, op)
	}
	if g, n := readAll(t, s); g != 0 || n != 0 {
		t.Fatalf("new catalog: generation %d, %d files", g, n)
	}
	op = putFiles(t, s, 0, 200)
	if op.Generation != 1 || op.Added.Count != 200 {
		t.Fatalf("first write: %+v", op)
	}
	op = putFiles(t, s, 150, 300)
	if op.Generation != 2 || op.Added.Count != 100 {
		t.Fatalf("second write: %+v", op)
	}
	// Unchanged writes publish nothing.
	if op = putFiles(t, s, 0, 10); op.Changed() || op.Generation != 2 {
		t.Fatalf("no-op write: %+v", op)
	}
	g, n := readAll(t, s)
	r, _ := s.OpenReader(ctx)
	defer r.Close()
	var journal []uint64
	if err := r.Journal(ctx, func(op *catalog.Operation) bool { journal = append(journal, op.Generation); return true }); err != nil {
		t.Fatal(err)
	}
	t.Logf("generation %d: %d files in %d chunks of %d bytes (%d bytes), journal %v", g, n, r.Snap.Manifest.Chunks,
		r.Snap.Manifest.ChunkSize, r.Snap.Manifest.Size, journal)
	if g != 2 || n != 300 || fmt.Sprint(journal) != "[2 1]" || r.Snap.Manifest.Chunks < 2 {
		t.Fatalf("after two writes: generation %d, %d files, journal %v, %d chunks", g, n, journal, r.Snap.Manifest.Chunks)
	}
}

// TestPublishIsCompareAndSwap: a publish built on a generation that is no
// longer current, or by a writer whose lock lapsed, changes nothing.
func TestPublishIsCompareAndSwap(t *testing.T) {
	s := open(t, cluster, "?chunk-size=4096", Options{})
	ctx := context.Background()
	putFiles(t, s, 0, 50)

	stale := func(l *Lock, base *Snapshot) error {
		path, done, _ := s.scratch()
		defer done()
		if err := s.Download(ctx, base, path); err != nil {
			t.Fatal(err)
		}
		db, err := catalog.Open(ctx, path, s.scratchOptions(false))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Update(ctx, "import", func(tx *catalog.Tx) error {
			_, err := tx.PutFile(txnFile(1000).NewFile("stale"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return s.publishFile(ctx, l, base, db, path)
	}

	// 1. The current pointer moved between read and publish.
	l, err := s.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := s.Current(ctx)
	if _, err := s.cli.Put(ctx, s.keyCurrent(), `{"generation":1}`); err != nil { // same content, new mod revision
		t.Fatal(err)
	}
	if err := stale(l, base); !errors.Is(err, ErrLostRace) {
		t.Fatalf("publish on a moved pointer: %v, want ErrLostRace", err)
	}
	l.Unlock()

	// 2. The writer's lock lapsed (lease revoked) before its publish.
	l, err = s.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base, _ = s.Current(ctx)
	if _, err := s.cli.Revoke(ctx, l.lease); err != nil {
		t.Fatal(err)
	}
	if err := stale(l, base); !errors.Is(err, ErrLostRace) {
		t.Fatalf("publish without the lock: %v, want ErrLostRace", err)
	}
	l.Unlock()
	if g, n := readAll(t, s); g != 1 || n != 50 {
		t.Fatalf("after refused publishes: generation %d, %d files; want 1, 50", g, n)
	}
	// The next writer collects the refused generations' chunks.
	putFiles(t, s, 50, 51)
	for _, k := range keys(t, s, "/gen/") {
		if !strings.Contains(k, fmt.Sprintf("%020d", 2)) && !strings.Contains(k, fmt.Sprintf("%020d", 1)) {
			t.Errorf("leftover key %s", k)
		}
	}
}

// TestReaderAtOneRevision: a reader holds the revision at which it read
// the current pointer; generations published and collected after it do
// not change what it downloads.
func TestReaderAtOneRevision(t *testing.T) {
	s := open(t, cluster, "?chunk-size=4096&grace=0s", Options{})
	ctx := context.Background()
	putFiles(t, s, 0, 100)
	r, err := s.OpenReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	putFiles(t, s, 100, 200)
	putFiles(t, s, 200, 300) // collects generation 1 (grace 0)
	if ks := keys(t, s, fmt.Sprintf("/gen/%020d/", 1)); len(ks) != 0 {
		t.Fatalf("generation 1 not collected: %v", ks)
	}
	db, err := r.DB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var live int
	db.View(func(tx *catalog.Tx) error { live, _, err = tx.CountFiles(); return err })
	if r.Snap.Generation() != 1 || live != 100 {
		t.Fatalf("old reader sees generation %d with %d files, want 1 with 100", r.Snap.Generation(), live)
	}

	// Readers during a stream of publishes always see one whole
	// generation: its file agrees with its manifest and its index.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads, gens sync.Map
	var nreads atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				g, n := readAll(t, s)
				reads.Store(g, n)
				nreads.Add(1)
			}
		}()
	}
	writes := 10
	for i := range writes {
		op := putFiles(t, s, uint64(300+i*30), uint64(330+i*30))
		gens.Store(op.Generation, 330+i*30)
	}
	stop.Store(true)
	wg.Wait()
	distinct := 0
	reads.Range(func(k, v any) bool {
		distinct++
		if want, ok := gens.Load(k); ok && want != v {
			t.Errorf("generation %v read with %v files, want %v", k, v, want)
		}
		return true
	})
	t.Logf("%d writes, %d whole reads of %d distinct generations", writes, nreads.Load(), distinct)
}

// TestLockExcludesAndNamesHolder: a second writer waits, then gives up
// with a BusyError naming the first; a writer that dies without unlocking
// blocks others only until its lease expires.
func TestLockExcludesAndNamesHolder(t *testing.T) {
	ctx := context.Background()
	a := open(t, cluster, "?lease-ttl=1s", Options{Command: "metactl compact"})
	b := open(t, cluster, "?lease-ttl=1s", Options{Command: "metactl import", Timeout: 300 * time.Millisecond})
	la, err := a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = b.Lock(ctx)
	var busy *catalog.BusyError
	if !errors.As(err, &busy) || busy.Holder == nil || busy.Holder.Command != "metactl compact" || busy.Holder.PID != os.Getpid() {
		t.Fatalf("second writer: %v, want BusyError naming metactl compact", err)
	}
	t.Logf("busy after %s: %v", time.Since(start).Round(time.Millisecond), err)
	if !strings.Contains(err.Error(), a.URL()) {
		t.Errorf("busy error does not name the catalog: %v", err)
	}
	la.Unlock()
	lb, err := b.Lock(ctx)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	// A writer that dies: its keepalive stops, nobody revokes its lease.
	lb.cancel()
	b2 := open(t, cluster, "?lease-ttl=1s", Options{Timeout: 10 * time.Second})
	start = time.Now()
	l, err := b2.Lock(ctx)
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	l.Unlock()
	t.Logf("a dead holder's lock expired after %s", time.Since(start).Round(100*time.Millisecond))
}

// TestCollectAfterGrace: superseded generations stay for the grace period
// and go after it; unpublished ones (a dead writer's) go at the next
// write.
func TestCollectAfterGrace(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := open(t, cluster, "?chunk-size=4096&grace=1h", Options{Now: clock})
	ctx := context.Background()
	gens := func() map[string]bool {
		m := map[string]bool{}
		for _, k := range keys(t, s, "/gen/") {
			m[strings.TrimLeft(strings.Split(k, "/")[2], "0")] = true
		}
		return m
	}
	for i := range 3 {
		putFiles(t, s, uint64(i*10), uint64(i*10+10))
		advance(time.Minute)
	}
	if g := gens(); len(g) != 3 {
		t.Fatalf("within the grace period: generations %v, want 1-3", g)
	}
	// A dead writer's chunks for generation 4 and its journal record.
	s.cli.Put(ctx, s.keyChunk(4, 0), "garbage")
	s.cli.Put(ctx, s.keyJournal(4), "{}")
	advance(2 * time.Hour)
	putFiles(t, s, 100, 101) // generation 4, for real
	g := gens()
	if len(g) != 2 || !g["3"] || !g["4"] {
		t.Fatalf("after the grace period: generations %v, want 3 (superseded just now) and 4", g)
	}
	if _, n := readAll(t, s); n != 31 {
		t.Fatalf("%d files, want 31", n)
	}
	r, _ := s.OpenReader(ctx)
	defer r.Close()
	var last *catalog.Operation
	r.Journal(ctx, func(op *catalog.Operation) bool { last = op; return false })
	if last == nil || last.Generation != 4 || last.Added.Count != 1 {
		t.Fatalf("journal record of generation 4: %+v", last)
	}
}

// TestThreeMembers: a write and read through a 3-member cluster, then a
// member stops mid-stream: writes go on through the others; with every
// member stopped, a request fails within its timeout naming the
// endpoints.
func TestThreeMembers(t *testing.T) {
	c, err := etcdtest.Start(t.TempDir(), 3, etcdtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	s := open(t, c, "?chunk-size=4096", Options{Timeout: 2 * time.Second})
	putFiles(t, s, 0, 100)
	c.StopMember(0)
	putFiles(t, s, 100, 200)
	if g, n := readAll(t, s); g != 2 || n != 200 {
		t.Fatalf("with one member down: generation %d, %d files", g, n)
	}
	c.Stop()
	start := time.Now()
	_, err = s.OpenReader(context.Background())
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), c.Endpoints()) || took > 5*time.Second {
		t.Fatalf("all members down: %v after %s", err, took)
	}
	t.Logf("all members down: error after %s: %v", took.Round(100*time.Millisecond), err)
}
