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

// location returns an etcd catalog URL on cluster c under a prefix named
// after the test.
func location(t *testing.T, c *etcdtest.Cluster, query string) string {
	return "etcd://" + c.Endpoints() + "/test/" + strings.ReplaceAll(t.Name(), "/", "_") + query
}

// open opens the catalog at loc through catalog.Open, as the CLI does.
func open(t testing.TB, loc string, o catalog.Options) *DB {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	db, err := catalog.Open(context.Background(), loc, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.(*DB)
}

// txnFile is transaction backup i as a one-line metadata file.
func txnFile(i uint64) catalogtest.File {
	m := catalogtest.Transaction(i*100, i*100+99, fmt.Sprintf("transaction_%d-.aa/transaction.manifest", i*100))
	return catalogtest.File{Name: m.Name(), State: catalog.Live, Lines: []aptos.Metadata{m}}
}

// putFiles adds transaction files from..to-1 in one write (one writable
// open, as one CLI command).
func putFiles(t testing.TB, loc string, o catalog.Options, from, to uint64) *catalog.Operation {
	t.Helper()
	db := open(t, loc, o)
	defer db.Close()
	op, err := db.Update(context.Background(), "import", func(tx catalog.WriteTx) error {
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

// readAll reads the current generation whole and checks it: the small
// answers from its manifest equal the downloaded file's own, and the
// file's index agrees with its files.
func readAll(t testing.TB, loc string) (gen uint64, files int) {
	t.Helper()
	ctx := context.Background()
	db := open(t, loc, catalog.Options{ReadOnly: true})
	defer db.Close()
	err := db.View(ctx, func(tx catalog.Tx) error {
		gen = tx.Generation()
		live, moved, _ := tx.CountFiles()
		files = live + moved
		small := fmt.Sprint(tx.Generation(), tx.ViewDigest(), live, moved, tx.EntryCount())
		full, err := tx.(*lazyTx).full()
		if err != nil {
			return err
		}
		return full.View(ctx, func(ft catalog.Tx) error {
			live, moved, _ := ft.CountFiles()
			if got := fmt.Sprint(ft.Generation(), ft.ViewDigest(), live, moved, ft.EntryCount()); got != small {
				return fmt.Errorf("manifest says %s, its file %s", small, got)
			}
			return ft.StoredEntriesMatch()
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return gen, files
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

// journal returns the generations in the journal, newest first, read
// without downloading the generation.
func journal(t testing.TB, loc string) []uint64 {
	t.Helper()
	db := open(t, loc, catalog.Options{ReadOnly: true})
	defer db.Close()
	var gens []uint64
	err := db.View(context.Background(), func(tx catalog.Tx) error {
		err := tx.Operations(func(op *catalog.Operation) bool { gens = append(gens, op.Generation); return true })
		if tx.(*lazyTx).copy != nil {
			t.Error("reading the journal downloaded the generation")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return gens
}

func TestCreateWriteRead(t *testing.T) {
	loc := location(t, cluster, "?chunk-size=4096")
	ctx := context.Background()
	if _, err := catalog.Open(ctx, loc, &catalog.Options{ReadOnly: true}); !errors.Is(err, catalog.ErrNoCatalog) {
		t.Fatalf("reading a missing catalog: %v, want ErrNoCatalog", err)
	}
	// A write that changes nothing still creates the catalog, as opening
	// a bbolt file for writing does.
	if op := putFiles(t, loc, catalog.Options{}, 0, 0); op.Changed() {
		t.Fatalf("empty update: %+v", op)
	}
	if g, n := readAll(t, loc); g != 0 || n != 0 {
		t.Fatalf("new catalog: generation %d, %d files", g, n)
	}
	op := putFiles(t, loc, catalog.Options{}, 0, 200)
	if op.Generation != 1 || op.Added.Count != 200 {
		t.Fatalf("first write: %+v", op)
	}
	op = putFiles(t, loc, catalog.Options{}, 150, 300)
	if op.Generation != 2 || op.Added.Count != 100 {
		t.Fatalf("second write: %+v", op)
	}
	// Unchanged writes publish nothing.
	if op = putFiles(t, loc, catalog.Options{}, 0, 10); op.Changed() || op.Generation != 2 {
		t.Fatalf("no-op write: %+v", op)
	}
	// Two writes in one open reuse the scratch copy.
	db := open(t, loc, catalog.Options{})
	for i := uint64(300); i < 302; i++ {
		if _, err := db.Update(ctx, "import", func(tx catalog.WriteTx) error {
			_, err := tx.PutFile(txnFile(i).NewFile("test"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	g, n := readAll(t, loc)
	sn, _ := open(t, loc, catalog.Options{ReadOnly: true}).s.Current(ctx)
	j := journal(t, loc)
	t.Logf("generation %d: %d files in %d chunks of %d bytes (%d bytes), journal %v", g, n, sn.Manifest.Chunks,
		sn.Manifest.ChunkSize, sn.Manifest.Size, j)
	if g != 4 || n != 302 || fmt.Sprint(j) != "[4 3 2 1]" || sn.Manifest.Chunks < 2 {
		t.Fatalf("after four writes: generation %d, %d files, journal %v, %d chunks", g, n, j, sn.Manifest.Chunks)
	}
	if err := open(t, loc, catalog.Options{ReadOnly: true}).Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestPublishIsCompareAndSwap: a publish built on a generation that is no
// longer current, or by a writer whose lock lapsed, changes nothing.
func TestPublishIsCompareAndSwap(t *testing.T) {
	loc := location(t, cluster, "?chunk-size=4096")
	ctx := context.Background()
	putFiles(t, loc, catalog.Options{}, 0, 50)

	stale := func(db *DB, base *Snapshot) error {
		c, err := db.s.materialize(ctx, base, false)
		if err != nil {
			t.Fatal(err)
		}
		defer c.close()
		if _, err := c.db.Update(ctx, "import", func(tx catalog.WriteTx) error {
			_, err := tx.PutFile(txnFile(1000).NewFile("stale"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		_, err = db.s.publishFile(ctx, db.lock, base, c.db, c.path, nil, false)
		return err
	}

	// 1. The current pointer moved between read and publish.
	db := open(t, loc, catalog.Options{})
	base, _ := db.s.Current(ctx)
	cur, err := db.s.cli.Get(ctx, db.s.keyCurrent())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.s.cli.Put(ctx, db.s.keyCurrent(), string(cur.Kvs[0].Value)); err != nil { // same content, new mod revision
		t.Fatal(err)
	}
	if err := stale(db, base); !errors.Is(err, ErrLostRace) {
		t.Fatalf("publish on a moved pointer: %v, want ErrLostRace", err)
	}
	db.Close()

	// 2. The writer's lock lapsed (lease revoked) before its publish.
	db = open(t, loc, catalog.Options{})
	base, _ = db.s.Current(ctx)
	if _, err := db.s.cli.Revoke(ctx, db.lock.lease); err != nil {
		t.Fatal(err)
	}
	if err := stale(db, base); !errors.Is(err, ErrLostRace) {
		t.Fatalf("publish without the lock: %v, want ErrLostRace", err)
	}
	db.Close()
	if g, n := readAll(t, loc); g != 1 || n != 50 {
		t.Fatalf("after refused publishes: generation %d, %d files; want 1, 50", g, n)
	}
	// The next writer collects the refused generation's chunks (and one
	// more, far beyond any real chunk count) before it writes its own.
	rs := open(t, loc, catalog.Options{ReadOnly: true}).s
	if len(keys(t, rs, fmt.Sprintf("/gen/%020d/", 2))) == 0 {
		t.Fatal("the refused publishes left no chunks: the test tests nothing")
	}
	rs.cli.Put(ctx, rs.keyChunk(2, 99999999), "garbage")
	putFiles(t, loc, catalog.Options{}, 50, 51)
	sn, _ := rs.Current(ctx)
	if n := len(keys(t, rs, fmt.Sprintf("/gen/%020d/chunk/", 2))); sn.Generation() != 2 || n != sn.Manifest.Chunks {
		t.Errorf("generation %d has %d chunk keys, its manifest %d", sn.Generation(), n, sn.Manifest.Chunks)
	}
}

// TestReaderAtOneRevision: a reader holds the revision at which it read
// the current pointer; generations published and collected after it do
// not change what it downloads. Readers during a stream of publishes see
// whole generations.
func TestReaderAtOneRevision(t *testing.T) {
	loc := location(t, cluster, "?chunk-size=4096&grace=0s")
	ctx := context.Background()
	putFiles(t, loc, catalog.Options{}, 0, 100)
	r := open(t, loc, catalog.Options{ReadOnly: true})
	err := r.View(ctx, func(tx catalog.Tx) error {
		putFiles(t, loc, catalog.Options{}, 100, 200)
		putFiles(t, loc, catalog.Options{}, 200, 300) // collects generation 1 (grace 0)
		if ks := keys(t, r.s, fmt.Sprintf("/gen/%020d/", 1)); len(ks) != 0 {
			t.Fatalf("generation 1 not collected: %v", ks)
		}
		fs, err := tx.Files(catalog.Live)
		if tx.Generation() != 1 || len(fs) != 100 {
			t.Fatalf("old reader sees generation %d with %d files, want 1 with 100", tx.Generation(), len(fs))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads, gens sync.Map
	var nreads atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				g, n := readAll(t, loc)
				reads.Store(g, n)
				nreads.Add(1)
			}
		}()
	}
	writes := 6
	for i := range writes {
		op := putFiles(t, loc, catalog.Options{}, uint64(300+i*30), uint64(330+i*30))
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
	loc := location(t, cluster, "?lease-ttl=1s")
	a := open(t, loc, catalog.Options{Command: "metactl compact"})
	start := time.Now()
	_, err := catalog.Open(context.Background(), loc, &catalog.Options{Command: "metactl import", Timeout: 300 * time.Millisecond})
	var busy *catalog.BusyError
	if !errors.As(err, &busy) || busy.Holder == nil || busy.Holder.Command != "metactl compact" || busy.Holder.PID != os.Getpid() {
		t.Fatalf("second writer: %v, want BusyError naming metactl compact", err)
	}
	t.Logf("busy after %s: %v", time.Since(start).Round(time.Millisecond), err)
	if !strings.Contains(err.Error(), loc[:strings.Index(loc, "?")]) {
		t.Errorf("busy error does not name the catalog: %v", err)
	}
	// Readers are not blocked by a writer.
	readAll(t, loc)
	a.Close()
	b := open(t, loc, catalog.Options{})
	// A writer that dies: its keepalive stops, nobody revokes its lease.
	b.lock.cancel()
	start = time.Now()
	c := open(t, loc, catalog.Options{Timeout: 10 * time.Second})
	c.Close()
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
	loc := location(t, cluster, "?chunk-size=4096&grace=1h")
	o := catalog.Options{Now: clock}
	open(t, loc, o).Close() // creates generation 0
	s := open(t, loc, catalog.Options{ReadOnly: true}).s
	ctx := context.Background()
	gens := func() map[string]bool {
		m := map[string]bool{}
		for _, k := range keys(t, s, "/gen/") {
			m[strings.TrimLeft(strings.Split(k, "/")[2], "0")] = true
		}
		return m
	}
	for i := range 3 {
		putFiles(t, loc, o, uint64(i*10), uint64(i*10+10))
		advance(time.Minute)
	}
	if g := gens(); len(g) != 4 {
		t.Fatalf("within the grace period: generations %v, want 0-3", g)
	}
	// A dead writer's chunks for generation 4 and its journal record.
	s.cli.Put(ctx, s.keyChunk(4, 0), "garbage")
	s.cli.Put(ctx, s.keyJournal(0, 4), "{}")
	advance(2 * time.Hour)
	putFiles(t, loc, o, 100, 101) // generation 4, for real
	g := gens()
	if len(g) != 2 || !g["3"] || !g["4"] {
		t.Fatalf("after the grace period: generations %v, want 3 (superseded just now) and 4", g)
	}
	if _, n := readAll(t, loc); n != 31 {
		t.Fatalf("%d files, want 31", n)
	}
	if j := journal(t, loc); fmt.Sprint(j) != "[4 3 2 1]" {
		t.Fatalf("journal %v", j)
	}
}
