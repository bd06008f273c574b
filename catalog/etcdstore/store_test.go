package etcdstore

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/internal/etcdtest"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
	// Writers keep their local copies in the user's cache folder: a
	// private one.
	os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
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

// catalogFile writes a catalog file holding transaction files 0..n-1 in
// one import (then, if not nil, runs in the same transaction) and returns
// its path: the source of a copy or a conversion.
func catalogFile(t testing.TB, n uint64, then func(catalog.WriteTx) error) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.db")
	fdb, err := catalog.Open(context.Background(), path, &catalog.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fdb.Close()
	if _, err := fdb.Update(context.Background(), "import", func(tx catalog.WriteTx) error {
		for i := uint64(0); i < n; i++ {
			if _, err := tx.PutFile(txnFile(i).NewFile("test")); err != nil {
				return err
			}
		}
		if then != nil {
			return then(tx)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return path
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
// answers from its summary key and the listing from the headers equal the
// local copy's own, and the copy's index agrees with its files.
func readAll(t testing.TB, loc string) (gen uint64, files int) {
	t.Helper()
	ctx := context.Background()
	db := open(t, loc, catalog.Options{ReadOnly: true})
	defer db.Close()
	err := db.View(ctx, func(tx catalog.Tx) error {
		gen = tx.Generation()
		live, moved, _ := tx.CountFiles()
		files = live + moved
		fs, err := tx.Files(0)
		if err != nil {
			return err
		}
		small := fmt.Sprint(tx.Generation(), tx.ViewDigest(), live, moved, tx.EntryCount(), len(fs))
		// The listing (list/ keys, or the headers when the generation
		// has none) names exactly the live files of the headers.
		var listed, headers []string
		if err := catalog.LiveHandles(tx, func(h string) error { listed = append(listed, h); return nil }); err != nil {
			return err
		}
		for _, f := range fs {
			if f.State == catalog.Live {
				headers = append(headers, f.Handle)
			}
		}
		if fmt.Sprint(listed) != fmt.Sprint(headers) {
			return fmt.Errorf("generation %d: the listing names %d live files, the headers %d: %q, want %q", tx.Generation(), len(listed), len(headers), listed, headers)
		}
		full, err := tx.(*lazyTx).full()
		if err != nil {
			return err
		}
		return full.View(ctx, func(ft catalog.Tx) error {
			live, moved, _ := ft.CountFiles()
			ffs, _ := ft.Files(0)
			if got := fmt.Sprint(ft.Generation(), ft.ViewDigest(), live, moved, ft.EntryCount(), len(ffs)); got != small {
				return fmt.Errorf("keys say %s, the local copy %s", small, got)
			}
			for i, f := range ffs {
				if fmt.Sprint(*f) != fmt.Sprint(*fs[i]) {
					return fmt.Errorf("listing: %+v, local copy %+v", *fs[i], *f)
				}
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
	loc := location(t, cluster, "")
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
	// Two writes in one open reuse the local copy.
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
	j := journal(t, loc)
	if g != 4 || n != 302 || fmt.Sprint(j) != "[4 3 2 1]" {
		t.Fatalf("after four writes: generation %d, %d files, journal %v", g, n, j)
	}
	// One file, read from its keys alone.
	r := open(t, loc, catalog.Options{ReadOnly: true})
	err := r.View(ctx, func(tx catalog.Tx) error {
		f, err := tx.File(txnFile(7).Handle())
		if err != nil {
			return err
		}
		if string(f.Content) != string(txnFile(7).Content()) || f.State != catalog.Live {
			t.Errorf("file 7: %q", f.Content)
		}
		if _, err := tx.File("metadata/nope.meta"); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("missing file: %v", err)
		}
		if tx.(*lazyTx).copy != nil {
			t.Error("reading one file copied the catalog")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// changedKeys returns the keys (below the prefix) the last transaction
// put, and the request it took.
func lastRevKeys(t testing.TB, s *Store) []string {
	t.Helper()
	sn, err := s.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.cli.Get(context.Background(), s.cfg.Prefix+"/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		if kv.ModRevision == sn.CurrentModRev {
			out = append(out, strings.TrimPrefix(string(kv.Key), s.cfg.Prefix))
		}
	}
	return out
}

// TestWriteIsOneTransactionOfChangedKeys: adding one file to a catalog of
// 300 is one etcd transaction that puts that file's header and content,
// its view entry, the journal and change records and the small keys.
func TestWriteIsOneTransactionOfChangedKeys(t *testing.T) {
	loc := location(t, cluster, "?compact=off")
	ctx := context.Background()
	putFiles(t, loc, catalog.Options{}, 0, 300)
	s := open(t, loc, catalog.Options{ReadOnly: true}).s
	before, _ := s.Current(ctx)
	putFiles(t, loc, catalog.Options{}, 300, 301)
	got := lastRevKeys(t, s)
	after, _ := s.Current(ctx)
	// Revisions: holder key, lock key, the write, unlock, lease revoke.
	if after.Revision > before.Revision+5 {
		t.Fatalf("one-file write took revisions %d..%d, want one transaction", before.Revision, after.Revision)
	}
	t.Logf("keys of the write: %q", got)
	want := []string{"/current", "/kv/content/" + txnFile(300).Handle(), "/kv/files/" + txnFile(300).Handle(), "/summary"}
	for _, w := range want {
		if !slicesContains(got, w) {
			t.Errorf("the write did not put %s", w)
		}
	}
	if len(got) > 16 {
		t.Errorf("a one-file write put %d keys", len(got))
	}
	// Moving a file changes its header, not its content.
	db := open(t, loc, catalog.Options{})
	if _, err := db.Update(ctx, "compact", func(tx catalog.WriteTx) error { return tx.SetState(txnFile(3).Handle(), catalog.Moved) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	got = lastRevKeys(t, s)
	if slicesContains(got, "/kv/content/"+txnFile(3).Handle()) || !slicesContains(got, "/kv/files/"+txnFile(3).Handle()) {
		t.Errorf("moving a file put %q", got)
	}
	readAll(t, loc)
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestLargeWriteIsStaged: a write over the transaction limits goes under
// stage/<G>/ and is published by one compare-and-swap; a reader that
// started before sees the old generation whole; files larger than the
// value size are chunked.
func TestLargeWriteIsStaged(t *testing.T) {
	loc := location(t, cluster, "?txn-ops=16&txn-bytes=16384&value-size=4096&compact=off")
	ctx := context.Background()
	putFiles(t, loc, catalog.Options{}, 0, 10)
	s := open(t, loc, catalog.Options{ReadOnly: true}).s
	before, _ := s.Current(ctx)
	r := open(t, loc, catalog.Options{ReadOnly: true})
	err := r.View(ctx, func(tx catalog.Tx) error {
		putFiles(t, loc, catalog.Options{}, 10, 200)
		fs, err := tx.Files(catalog.Live)
		if tx.Generation() != 1 || len(fs) != 10 {
			t.Fatalf("a reader that started before sees generation %d with %d files", tx.Generation(), len(fs))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := s.Current(ctx)
	if after.Revision-before.Revision < 3 || after.Current.Stage != 0 {
		t.Fatalf("a 190-file write took revisions %d..%d, stage %d", before.Revision, after.Revision, after.Current.Stage)
	}
	if ks := append(keys(t, s, "/stage/"), keys(t, s, "/direct/")...); len(ks) != 0 {
		t.Fatalf("staged keys left: %d", len(ks))
	}
	// A file of 20 KB: five chunks.
	big := txnFile(1000)
	var content []byte
	for i := uint64(0); len(content) < 20000; i++ {
		content = append(content, txnFile(1000+i).Content()...)
	}
	db := open(t, loc, catalog.Options{})
	if _, err := db.Update(ctx, "import", func(tx catalog.WriteTx) error {
		_, err := tx.PutFile(catalog.NewFile{Handle: big.Handle(), Content: content, Source: "test", State: catalog.Live})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if n := len(keys(t, s, "/kc/content/"+big.Handle())); n != 5 {
		t.Errorf("a 20 KB file in %d chunks, want 5", n)
	}
	err = r.View(ctx, func(tx catalog.Tx) error {
		f, err := tx.File(big.Handle())
		if err == nil && string(f.Content) != string(content) {
			t.Error("chunked file read back differently")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if g, n := readAll(t, loc); g != 3 || n != 201 {
		t.Fatalf("generation %d with %d files", g, n)
	}
}

// TestStageLeftoversAndFold: keys a writer staged but never published are
// deleted by the next writer; a stage published but not folded in is
// read through by readers and folded by the next writer.
func TestStageLeftoversAndFold(t *testing.T) {
	loc := location(t, cluster, "?txn-ops=16&txn-bytes=16384&compact=off")
	ctx := context.Background()
	putFiles(t, loc, catalog.Options{}, 0, 10)
	db := open(t, loc, catalog.Options{})
	s := db.s
	// A dead writer's staged keys.
	s.cli.Put(ctx, s.key(stagePrefix(7)+"kv/files/metadata/x.meta"), "pjunk")
	// And the content it put in place for a new file, with its list.
	s.cli.Put(ctx, s.key("kv/content/metadata/orphan.meta"), "vjunk")
	s.cli.Put(ctx, s.key(directPrefix(7)+"00000000"), "kv/content/metadata/orphan.meta\n")
	// A published stage not folded: generation 2 adds file 10 (written by
	// hand as a writer would have staged it).
	base, _ := s.Current(ctx)
	c, err := s.loadLocal(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	enc := encoder{valueSize: s.cfg.ValueSize}
	err = c.db.Diff(ctx, func() error {
		_, err := c.db.Update(ctx, "import", func(tx catalog.WriteTx) error {
			_, err := tx.PutFile(txnFile(10).NewFile("test"))
			return err
		})
		return err
	}, func(kv boltstore.RawKV) error { return enc.change(kv, kv.Old) })
	if err != nil {
		t.Fatal(err)
	}
	sum, _, _ := summarize(ctx, c.db)
	sumB, _ := json.Marshal(sum)
	ops, listing, err := s.changeOps(ctx, base, c.db, &enc, false)
	if err != nil {
		t.Fatal(err)
	}
	cur := currentRecord{Format: layoutFormat, Version: layoutVersion, Generation: 2, Stage: 2, Listing: listing}
	sp := stagePrefix(2)
	var staged []op
	for _, o := range append(ops, op{rel: relSummary, val: sumB}) {
		staged = append(staged, op{rel: sp + o.rel, val: append([]byte{stagePut}, o.val...)})
	}
	curB, _ := json.Marshal(cur)
	staged = append(staged, op{rel: relCurrent, val: curB})
	for _, b := range s.batches(staged, 0, 0) {
		if err := s.txn(ctx, db.lock, "test", nil, b); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	// Readers see generation 2 through the stage.
	g, n := readAll(t, loc)
	if g != 2 || n != 11 {
		t.Fatalf("through the stage: generation %d, %d files", g, n)
	}
	putFiles(t, loc, catalog.Options{}, 11, 12)
	rs := open(t, loc, catalog.Options{ReadOnly: true}).s
	if ks := append(keys(t, rs, "/stage/"), append(keys(t, rs, "/direct/"), keys(t, rs, "/kv/content/metadata/orphan")...)...); len(ks) != 0 {
		t.Fatalf("after the next write: leftover keys %q", ks)
	}
	if g, n := readAll(t, loc); g != 3 || n != 12 {
		t.Fatalf("after the fold: generation %d, %d files", g, n)
	}
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
	// The waiter's own keys are gone: only the holder's remain.
	if ks := keys(t, a.s, "/lock/"); len(ks) != 1 {
		t.Errorf("lock keys after a waiter gave up: %q", ks)
	}
	// Readers are not blocked by a writer.
	readAll(t, loc)
	// A waiter wakes when the holder unlocks (a watch, not a poll).
	done := make(chan error, 1)
	go func() {
		db, err := catalog.Open(context.Background(), loc, &catalog.Options{Timeout: 10 * time.Second})
		if err == nil {
			db.Close()
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	a.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b := open(t, loc, catalog.Options{})
	// A writer that dies: its keepalive stops, nobody revokes its lease.
	b.lock.session.Orphan()
	start = time.Now()
	c := open(t, loc, catalog.Options{Timeout: 10 * time.Second})
	c.Close()
	t.Logf("a dead holder's lock expired after %s", time.Since(start).Round(100*time.Millisecond))
}

// TestHistoryCompaction: after the grace period, a write asks etcd to
// compact history up to the generation that was current then; a reader
// inside the grace period keeps its revision.
func TestHistoryCompaction(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	loc := location(t, cluster, "?grace=1h")
	o := catalog.Options{Now: clock}
	ctx := context.Background()
	putFiles(t, loc, o, 1000, 1001)
	s := open(t, loc, catalog.Options{ReadOnly: true, Now: clock}).s
	for i := range 3 {
		putFiles(t, loc, o, uint64(i*10), uint64(i*10+10))
		advance(time.Minute)
	}
	if c := s.CompactedTo(ctx); c != 0 {
		t.Fatalf("compacted to %d within the grace period", c)
	}
	anchor, _ := s.Current(ctx)
	advance(2 * time.Hour)
	putFiles(t, loc, o, 100, 101)
	putFiles(t, loc, o, 101, 102)
	c := s.CompactedTo(ctx)
	if c < anchor.CurrentModRev {
		t.Fatalf("compacted to %d, want at least %d (the generation current an hour ago)", c, anchor.CurrentModRev)
	}
	if _, err := s.cli.Get(ctx, s.key(relCurrent), clientv3.WithRev(c-1)); err == nil {
		t.Fatalf("revision %d still readable after compaction to %d", c-1, c)
	}
	if _, n := readAll(t, loc); n != 33 {
		t.Fatalf("%d files, want 33", n)
	}
}

// writeLegacy stores the catalog file at path under prefix in layout
// version 1, as metactl before it wrote catalogs: gzip chunks of the file,
// a manifest, the journal under journal/0/ and current.
func writeLegacy(t *testing.T, s *Store, path string) {
	t.Helper()
	ctx := context.Background()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const cs = 8192
	m := Manifest{Format: manifestFormat, Version: manifestVersion, Generation: 1, Slot: 3, Size: int64(len(b)),
		ChunkSize: cs, Chunks: (len(b) + cs - 1) / cs, Encoding: encodingGzip}
	sum := sha256.Sum256(b)
	m.SHA256 = hex.EncodeToString(sum[:])
	for i := 0; i < m.Chunks; i++ {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(b[i*cs : min(len(b), (i+1)*cs)])
		zw.Close()
		if _, err := s.cli.Put(ctx, s.legacyChunkKey(3, i), z.String()); err != nil {
			t.Fatal(err)
		}
	}
	mb, _ := json.Marshal(m)
	s.cli.Put(ctx, fmt.Sprintf("%s%020d/manifest", s.key(relLegacyGen), 3), string(mb))
	s.cli.Put(ctx, fmt.Sprintf("%s%020d/%020d", s.key(relLegacyJournal), 0, 1), "{}")
	cur, _ := json.Marshal(legacyCurrentRecord{Generation: 1, Slot: 3})
	s.cli.Put(ctx, s.key(relCurrent), string(cur))
}

// TestConvertLegacyLayout: a catalog of layout version 1 is read as it
// is, and its first write converts it: the old keys go, the same catalog
// (files, journal) is under kv/, and the write lands on top.
func TestConvertLegacyLayout(t *testing.T) {
	ctx := context.Background()
	file := catalogFile(t, 40, nil)
	loc := location(t, cluster, "")
	s, err := Open(&Config{Endpoints: []string{cluster.Endpoints()}, Prefix: "/test/" + t.Name()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	writeLegacy(t, s, file)
	if g, n := readAll(t, loc); g != 1 || n != 40 {
		t.Fatalf("version-1 catalog read as generation %d with %d files", g, n)
	}
	putFiles(t, loc, catalog.Options{}, 40, 41)
	if ks := keys(t, s, "/gen/"); len(ks) != 0 {
		t.Fatalf("old keys left after the conversion: %q", ks)
	}
	sn, _ := s.Current(ctx)
	if sn.Current == nil || sn.Current.Version != layoutVersion || sn.Generation() != 2 {
		t.Fatalf("after the first write: %+v", sn)
	}
	if g, n := readAll(t, loc); g != 2 || n != 41 {
		t.Fatalf("converted catalog: generation %d with %d files", g, n)
	}
	if j := journal(t, loc); fmt.Sprint(j) != "[2 1]" {
		t.Fatalf("journal after the conversion: %v", j)
	}
	if err := open(t, loc, catalog.Options{ReadOnly: true}).Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// liveListing lists the live files as the bridge does, and says whether
// it read the listing keys (not the headers).
func liveListing(t testing.TB, loc string) (handles []string, fromKeys bool) {
	t.Helper()
	db := open(t, loc, catalog.Options{ReadOnly: true})
	defer db.Close()
	err := db.View(context.Background(), func(tx catalog.Tx) error {
		fromKeys = tx.(*lazyTx).snap.Current.Listing == listShards
		return catalog.LiveHandles(tx, func(h string) error { handles = append(handles, h); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return handles, fromKeys
}

// TestListingFollowsWrites: the listing keys name exactly the live files
// the headers do after imports, moves (as a compaction makes), deletes,
// undo and a staged write; a catalog without them (an older metactl's)
// is listed from the headers and gets them at its next write.
func TestListingFollowsWrites(t *testing.T) {
	loc := location(t, cluster, "?txn-ops=40&txn-bytes=32768&compact=off")
	ctx := context.Background()
	putFiles(t, loc, catalog.Options{}, 0, 30) // staged: over 40 ops
	if _, fromKeys := liveListing(t, loc); !fromKeys {
		t.Fatal("a new catalog has no listing keys")
	}
	readAll(t, loc)
	putFiles(t, loc, catalog.Options{}, 30, 31) // one transaction
	readAll(t, loc)
	update := func(kind catalog.Kind, fn func(catalog.WriteTx) error) *catalog.Operation {
		t.Helper()
		db := open(t, loc, catalog.Options{})
		defer db.Close()
		op, err := db.Update(ctx, kind, fn)
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	// A compaction: ten files moved, one compacted file added.
	compacted := txnFile(5000)
	op := update("compact", func(tx catalog.WriteTx) error {
		for i := uint64(0); i < 10; i++ {
			if err := tx.SetState(txnFile(i).Handle(), catalog.Moved); err != nil {
				return err
			}
		}
		_, err := tx.PutFile(compacted.NewFile("test"))
		return err
	})
	readAll(t, loc)
	hs, _ := liveListing(t, loc)
	if len(hs) != 22 || slicesContains(hs, txnFile(3).Handle()) || !slicesContains(hs, compacted.Handle()) {
		t.Fatalf("after the compaction: %d live files %q", len(hs), hs)
	}
	update("cleanup", func(tx catalog.WriteTx) error {
		if err := tx.DeleteFile(txnFile(21).Handle()); err != nil {
			return err
		}
		return tx.DeleteFile(txnFile(20).Handle())
	})
	readAll(t, loc)
	// Undo of the compaction: the moved files are live again, the
	// compacted one gone.
	db := open(t, loc, catalog.Options{})
	if _, err := db.Undo(ctx, op.Generation, false); err != nil {
		t.Fatal(err)
	}
	db.Close()
	readAll(t, loc)
	hs, _ = liveListing(t, loc)
	if len(hs) != 29 || slicesContains(hs, compacted.Handle()) || !slicesContains(hs, txnFile(3).Handle()) {
		t.Fatalf("after the undo: %d live files %q", len(hs), hs)
	}
	// An older metactl's write: a current key without the listing.
	s := open(t, loc, catalog.Options{ReadOnly: true}).s
	resp, err := s.cli.Get(ctx, s.key(relCurrent))
	if err != nil {
		t.Fatal(err)
	}
	var cur currentRecord
	json.Unmarshal(resp.Kvs[0].Value, &cur)
	cur.Listing = 0
	curB, _ := json.Marshal(cur)
	s.cli.Put(ctx, s.key(relCurrent), string(curB))
	s.cli.Put(ctx, s.key(listRel(0)), "zstale") // a key the older writer left behind
	if hs2, fromKeys := liveListing(t, loc); fromKeys || fmt.Sprint(hs2) != fmt.Sprint(hs) {
		t.Fatalf("without listing keys: from keys %v, %d files", fromKeys, len(hs2))
	}
	readAll(t, loc)
	putFiles(t, loc, catalog.Options{}, 100, 101)
	hs, fromKeys := liveListing(t, loc)
	if !fromKeys || len(hs) != 30 {
		t.Fatalf("after the next write: from keys %v, %d files", fromKeys, len(hs))
	}
	readAll(t, loc)
}

// TestCopyInLists: a catalog file copied into a new etcd catalog (over
// the generation 0 that a writable open creates) lists its live files.
func TestCopyInLists(t *testing.T) {
	loc := location(t, cluster, "")
	ctx := context.Background()
	path := catalogFile(t, 20, func(tx catalog.WriteTx) error {
		return tx.SetState(txnFile(3).Handle(), catalog.Moved)
	})
	putFiles(t, loc, catalog.Options{}, 0, 0) // generation 0
	if _, err := catalog.Load(ctx, loc, path, &catalog.Options{}); err != nil {
		t.Fatal(err)
	}
	if hs, fromKeys := liveListing(t, loc); !fromKeys || len(hs) != 19 {
		t.Fatalf("after the copy: from keys %v, %d live files", fromKeys, len(hs))
	}
	readAll(t, loc)
}

func TestTransientErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{rpctypes.ErrTimeoutDueToLeaderFail, true},
		{rpctypes.ErrNoLeader, true},
		{status.Error(codes.Unavailable, "error reading from server: connection reset by peer"), true},
		{fmt.Errorf("publish: %w", status.Error(codes.Unavailable, "transport is closing")), true},
		{rpctypes.ErrTooManyOps, false},
		{status.Error(codes.InvalidArgument, "bad"), false},
		{context.Canceled, false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestIndexShardsAndVersion2: the view index lives in ix/ shards, not a
// key per entry; a catalog of layout version 2 (kv/entries/) is read as it
// is and converted by its next write.
func TestIndexShardsAndVersion2(t *testing.T) {
	loc := location(t, cluster, "?compact=off")
	ctx := context.Background()
	putFiles(t, loc, catalog.Options{}, 0, 50)
	s := open(t, loc, catalog.Options{ReadOnly: true}).s
	if n := len(keys(t, s, "/kv/entries/")); n != 0 {
		t.Fatalf("%d kv/entries/ keys in layout version 3", n)
	}
	if n := len(keys(t, s, "/ix/")); n == 0 || n > 50 {
		t.Fatalf("%d index shards for 50 entries", n)
	}
	readAll(t, loc)
	// Rewrite it as version 2 wrote it.
	base, err := s.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.loadLocal(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.db.ForEachRaw(func(kv boltstore.RawKV) error {
		if kv.Bucket == boltstore.RawBucketEntries {
			s.cli.Put(ctx, s.key(kvRel(kv.Bucket, kv.Key)), string(append([]byte{tagInline}, kv.Value...)))
		}
		return nil
	})
	s.cli.Delete(ctx, s.key(relIndex), clientv3.WithPrefix())
	cur := *base.Current
	cur.Version = 2
	curB, _ := json.Marshal(cur)
	s.cli.Put(ctx, s.key(relCurrent), string(curB))
	if n := len(keys(t, s, "/kv/entries/")); n != 50 {
		t.Fatalf("%d kv/entries/ keys written", n)
	}
	if g, n := readAll(t, loc); g != 1 || n != 50 {
		t.Fatalf("version 2: generation %d, %d files", g, n)
	}
	putFiles(t, loc, catalog.Options{}, 50, 51)
	after, _ := s.Current(ctx)
	if after.Current.Version != layoutVersion || len(keys(t, s, "/kv/entries/")) != 0 || len(keys(t, s, "/ix/")) == 0 {
		t.Fatalf("after the next write: version %d, %d kv/entries/ keys, %d index shards",
			after.Current.Version, len(keys(t, s, "/kv/entries/")), len(keys(t, s, "/ix/")))
	}
	if g, n := readAll(t, loc); g != 2 || n != 51 {
		t.Fatalf("converted: generation %d, %d files", g, n)
	}
	// A large staged write and a small one on the shards.
	putFiles(t, loc, catalog.Options{}, 51, 400)
	putFiles(t, loc, catalog.Options{}, 400, 401)
	if g, n := readAll(t, loc); g != 4 || n != 401 {
		t.Fatalf("generation %d, %d files", g, n)
	}
	if err := open(t, loc, catalog.Options{ReadOnly: true}).Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLocalCopyCache: a writer leaves its local copy in the cache folder;
// the next writer uses it when the current key is the one it matches and
// loads the catalog from etcd when another writer published since, or the
// copy does not match the current key's generation and summary.
func TestLocalCopyCache(t *testing.T) {
	loc := location(t, cluster, "?compact=off")
	ctx := context.Background()
	putFiles(t, loc, catalog.Options{}, 0, 50)
	s := open(t, loc, catalog.Options{ReadOnly: true}).s
	sn, err := s.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := s.cacheDir(sn.clusterID)
	if _, err := os.Stat(filepath.Join(dir, cacheStateFile)); err != nil {
		t.Fatalf("no cached copy after a write: %v", err)
	}
	write := func(q string, from, to uint64) (loaded int64) {
		t.Helper()
		n := loads.Load()
		putFiles(t, location(t, cluster, q), catalog.Options{}, from, to)
		return loads.Load() - n
	}
	if n := write("?compact=off", 50, 51); n != 0 {
		t.Fatalf("the next writer loaded the catalog %d times", n)
	}
	// A writer's read before its first write comes from the cached copy.
	w := open(t, loc, catalog.Options{})
	err = w.View(ctx, func(tx catalog.Tx) error {
		if _, ok := tx.(*lazyTx); ok || tx.Generation() != 2 {
			t.Errorf("a writer's first read: %T, generation %d", tx, tx.Generation())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	readAll(t, loc)
	// A writer elsewhere (no cache) publishes: the cached copy is stale.
	if n := write("?compact=off&cache=off", 51, 52); n != 1 {
		t.Fatalf("a writer without cache loaded %d times", n)
	}
	if n := write("?compact=off", 52, 53); n != 1 {
		t.Fatalf("after another writer's write: %d loads, want 1", n)
	}
	if g, n := readAll(t, loc); g != 4 || n != 53 {
		t.Fatalf("generation %d, %d files", g, n)
	}
	// A cached copy that is not the current generation (its state file
	// names the current key, its file an older catalog) is not used.
	old := filepath.Join(t.TempDir(), "old.db")
	if _, err := open(t, loc, catalog.Options{ReadOnly: true}).Snapshot(ctx, old); err != nil {
		t.Fatal(err)
	}
	write("?compact=off", 53, 54)
	if err := os.Rename(old, filepath.Join(dir, cacheFile)); err != nil {
		t.Fatal(err)
	}
	if n := write("?compact=off", 54, 55); n != 1 {
		t.Fatalf("a cached copy of an older generation: %d loads, want 1", n)
	}
	if g, n := readAll(t, loc); g != 6 || n != 55 {
		t.Fatalf("generation %d, %d files", g, n)
	}
	if err := open(t, loc, catalog.Options{ReadOnly: true}).Check(ctx); err != nil {
		t.Fatal(err)
	}
}
