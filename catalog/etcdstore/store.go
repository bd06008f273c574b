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
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/failpoint"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Store is a connection to one etcd catalog (one prefix of one cluster).
// It is safe for concurrent use.
type Store struct {
	cli    *clientv3.Client
	cfg    Config
	opts   Options
	reqTTL time.Duration
}

// Options configures a Store's client side.
type Options struct {
	// Timeout bounds the wait for the writer lock; a writer still busy
	// after it gives a *catalog.BusyError naming the holder. It also
	// bounds every single etcd request (at least 2s), so unreachable
	// members give an error, never a hang. Zero means
	// catalog.DefaultTimeout; negative means do not wait for the lock.
	Timeout time.Duration
	// Command describes this process in the lock and the journal.
	Command string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TempDir holds the scratch catalogs; empty means os.TempDir().
	TempDir string
}

// Open connects to the cluster named by cfg. It does not contact it yet:
// the first request does, and fails after the request timeout if no
// member answers.
func Open(cfg *Config, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout == 0 {
		o.Timeout = catalog.DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Command == "" {
		o.Command = "metactl"
	}
	c := cfg.withDefaults()
	s := &Store{cfg: c, opts: o, reqTTL: max(o.Timeout, 2*time.Second)}
	scheme := "http://"
	if c.TLS != nil {
		scheme = "https://"
	}
	var eps []string
	for _, e := range c.Endpoints {
		eps = append(eps, scheme+e)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: s.reqTTL,
		TLS:         c.TLS,
		Username:    c.Username,
		Password:    c.Password,
		Logger:      zap.NewNop(),
		// Chunks are up to ~1.3 MiB; leave room.
		MaxCallSendMsgSize: 4 << 20,
		MaxCallRecvMsgSize: 64 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.String(), err)
	}
	s.cli = cli
	return s, nil
}

// Close closes the connection.
func (s *Store) Close() error { return s.cli.Close() }

// URL returns the catalog's URL, for messages.
func (s *Store) URL() string { return s.cfg.String() }

// Keys. Generations are zero-padded so that key order is numeric order.
func (s *Store) keyCurrent() string { return s.cfg.Prefix + "/current" }
func (s *Store) keyLock() string    { return s.cfg.Prefix + "/lock" }
func (s *Store) genPrefix() string  { return s.cfg.Prefix + "/gen/" }
func (s *Store) keyGen(g uint64) string {
	return fmt.Sprintf("%s%020d/", s.genPrefix(), g)
}
func (s *Store) keyManifest(slot uint64) string { return s.keyGen(slot) + "manifest" }
func (s *Store) keyChunk(slot uint64, i int) string {
	return fmt.Sprintf("%schunk/%08d", s.keyGen(slot), i)
}
func (s *Store) journalPrefix() string { return s.cfg.Prefix + "/journal/" }
func (s *Store) lineagePrefix(lineage uint64) string {
	return fmt.Sprintf("%s%020d/", s.journalPrefix(), lineage)
}
func (s *Store) keyJournal(lineage, g uint64) string {
	return fmt.Sprintf("%s%020d", s.lineagePrefix(lineage), g)
}
func (s *Store) parseGenKey(k string) (uint64, bool) {
	rest, ok := strings.CutPrefix(k, s.genPrefix())
	if !ok || len(rest) < 21 || rest[20] != '/' {
		return 0, false
	}
	g, err := strconv.ParseUint(rest[:20], 10, 64)
	return g, err == nil
}

// request returns a context for one etcd request.
func (s *Store) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.reqTTL)
}

// etcdErr names the cluster in an error from a request, and says plainly
// when no member answered in time.
func (s *Store) etcdErr(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "context deadline exceeded")) {
		return fmt.Errorf("%s: etcd at %s did not answer within %s (are its members running and reachable?): %w",
			op, strings.Join(s.cfg.Endpoints, ","), s.reqTTL, errNoAnswer)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", op, ctx.Err())
	}
	return fmt.Errorf("%s: etcd at %s: %w", op, strings.Join(s.cfg.Endpoints, ","), err)
}

var errNoAnswer = errors.New("no answer")

// transient reports whether an etcd error is worth one more try: a leader
// election or a member going away, not a refusal.
func transient(err error) bool {
	return errors.Is(err, rpctypes.ErrTimeout) || errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) ||
		errors.Is(err, rpctypes.ErrNoLeader) || errors.Is(err, rpctypes.ErrLeaderChanged) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost)
}

// Manifest describes one published generation; it is stored beside the
// generation's chunks and is small, so questions about the catalog as a
// whole (status, counts, digest) are answered from it alone.
type Manifest struct {
	Format     string          `json:"format"`
	Version    int             `json:"version"`
	Generation uint64          `json:"generation"`
	Slot       uint64          `json:"slot"`
	Lineage    uint64          `json:"lineage"`
	Published  time.Time       `json:"published"`
	Publisher  *catalog.Holder `json:"publisher,omitempty"`
	Size       int64           `json:"size"`
	SHA256     string          `json:"sha256"`
	ChunkSize  int             `json:"chunk_size"`
	Chunks     int             `json:"chunks"`
	Encoding   string          `json:"encoding"`
	Summary    Summary         `json:"summary"`
}

// Summary holds the small answers about one generation.
type Summary struct {
	State      aptos.StorageState `json:"state"`
	ViewDigest aptos.Digest       `json:"view_digest"`
	Entries    int                `json:"entries"`
	LiveFiles  int                `json:"live_files"`
	MovedFiles int                `json:"moved_files"`
	Identity   string             `json:"identity,omitempty"`
}

const (
	manifestFormat  = "metactl-etcd-generation"
	manifestVersion = 1
	encodingGzip    = "gzip"
)

// Snapshot is the catalog's current generation as seen at one etcd
// revision. A Snapshot with Manifest nil means the catalog does not exist
// (yet).
type Snapshot struct {
	Revision      int64 // the etcd revision every read of this snapshot uses
	CurrentModRev int64 // mod revision of the current pointer (0: none)
	Manifest      *Manifest
}

// Generation returns the snapshot's generation (0 if none).
func (sn *Snapshot) Generation() uint64 {
	if sn.Manifest == nil {
		return 0
	}
	return sn.Manifest.Generation
}

// currentRecord is the value of <prefix>/current. Slot names the key
// folder of the generation (it grows by one at every publish, whatever the
// catalog generation does: a copy or a restored history may set any
// generation); Lineage names the journal's key folder (a new one starts
// when a copy or a restored history replaces the journal).
type currentRecord struct {
	Generation uint64    `json:"generation"`
	Slot       uint64    `json:"slot"`
	Lineage    uint64    `json:"lineage"`
	Published  time.Time `json:"published"`
}

// Current reads the current pointer and its generation's manifest at one
// revision.
func (s *Store) Current(ctx context.Context) (*Snapshot, error) {
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.cli.Get(rctx, s.keyCurrent())
	if err != nil {
		return nil, s.etcdErr(ctx, "read "+s.URL(), err)
	}
	sn := &Snapshot{Revision: resp.Header.Revision}
	if len(resp.Kvs) == 0 {
		return sn, nil
	}
	sn.CurrentModRev = resp.Kvs[0].ModRevision
	var cur currentRecord
	if err := json.Unmarshal(resp.Kvs[0].Value, &cur); err != nil {
		return nil, fmt.Errorf("read %s: current pointer: %w: %v", s.URL(), catalog.ErrCorrupt, err)
	}
	m, err := s.manifest(ctx, cur.Slot, sn.Revision)
	if err != nil {
		return nil, err
	}
	if m == nil || m.Generation != cur.Generation {
		return nil, fmt.Errorf("read %s: generation %d (slot %d) has no manifest: %w", s.URL(), cur.Generation, cur.Slot, catalog.ErrCorrupt)
	}
	sn.Manifest = m
	return sn, nil
}

// manifest reads generation g's manifest at revision rev (0: latest); nil
// if it has none.
func (s *Store) manifest(ctx context.Context, slot uint64, rev int64) (*Manifest, error) {
	rctx, cancel := s.request(ctx)
	defer cancel()
	var ops []clientv3.OpOption
	if rev > 0 {
		ops = append(ops, clientv3.WithRev(rev))
	}
	resp, err := s.cli.Get(rctx, s.keyManifest(slot), ops...)
	if err != nil {
		return nil, s.readErr(ctx, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	var m Manifest
	if err := json.Unmarshal(resp.Kvs[0].Value, &m); err != nil {
		return nil, fmt.Errorf("read %s: slot %d manifest: %w: %v", s.URL(), slot, catalog.ErrCorrupt, err)
	}
	if m.Format != manifestFormat || m.Version > manifestVersion {
		return nil, fmt.Errorf("read %s: slot %d: format %q version %d is not one this metactl reads (upgrade metactl): %w",
			s.URL(), slot, m.Format, m.Version, catalog.ErrSchema)
	}
	return &m, nil
}

// errCompacted is returned when a snapshot's revision was compacted away
// by etcd while it was read; the reader starts over from Current.
var errCompacted = errors.New("revision compacted")

func (s *Store) readErr(ctx context.Context, err error) error {
	if errors.Is(err, rpctypes.ErrCompacted) {
		return errCompacted
	}
	return s.etcdErr(ctx, "read "+s.URL(), err)
}

// Download writes the snapshot's bbolt file to path, reading every chunk
// at the snapshot's revision, and checks its size and SHA-256.
func (s *Store) Download(ctx context.Context, sn *Snapshot, path string) error {
	m := sn.Manifest
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	err = s.parallel(ctx, m.Chunks, func(ctx context.Context, i int) error {
		rctx, cancel := s.request(ctx)
		defer cancel()
		resp, err := s.cli.Get(rctx, s.keyChunk(m.Slot, i), clientv3.WithRev(sn.Revision))
		if err != nil {
			return s.readErr(ctx, err)
		}
		if len(resp.Kvs) == 0 {
			return fmt.Errorf("read %s: generation %d: chunk %d is missing: %w", s.URL(), m.Generation, i, catalog.ErrCorrupt)
		}
		b, err := decodeChunk(m.Encoding, resp.Kvs[0].Value)
		if err != nil {
			return fmt.Errorf("read %s: generation %d: chunk %d: %w: %v", s.URL(), m.Generation, i, catalog.ErrCorrupt, err)
		}
		want := min(int64(m.ChunkSize), m.Size-int64(i)*int64(m.ChunkSize))
		if int64(len(b)) != want {
			return fmt.Errorf("read %s: generation %d: chunk %d holds %d bytes, want %d: %w", s.URL(), m.Generation, i, len(b), want, catalog.ErrCorrupt)
		}
		_, err = f.WriteAt(b, int64(i)*int64(m.ChunkSize))
		return err
	})
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if n != m.Size || hex.EncodeToString(h.Sum(nil)) != m.SHA256 {
		return fmt.Errorf("read %s: generation %d: the reassembled catalog does not match its manifest (size %d, want %d): %w",
			s.URL(), m.Generation, n, m.Size, catalog.ErrCorrupt)
	}
	return nil
}

func decodeChunk(encoding string, v []byte) ([]byte, error) {
	switch encoding {
	case encodingGzip:
		zr, err := gzip.NewReader(bytes.NewReader(v))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case "raw":
		return v, nil
	}
	return nil, fmt.Errorf("unknown chunk encoding %q", encoding)
}

// parallel runs fn for 0..n-1 on a few goroutines and returns the first
// error; the rest are cancelled.
func (s *Store) parallel(ctx context.Context, n int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(4, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// upload stores the bbolt file at path as generation g's chunks and
// returns its manifest (without summary). Nothing is visible to readers
// until Publish.
func (s *Store) upload(ctx context.Context, g, slot uint64, path string) (*Manifest, error) {
	failpoint.Hit("etcd.before-keys")
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	cs := s.cfg.ChunkSize
	m := &Manifest{Format: manifestFormat, Version: manifestVersion, Generation: g, Slot: slot, Size: st.Size(),
		ChunkSize: cs, Chunks: int((st.Size() + int64(cs) - 1) / int64(cs)), Encoding: encodingGzip}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	m.SHA256 = hex.EncodeToString(h.Sum(nil))
	err = s.parallel(ctx, m.Chunks, func(ctx context.Context, i int) error {
		b := make([]byte, min(int64(cs), m.Size-int64(i)*int64(cs)))
		if _, err := f.ReadAt(b, int64(i)*int64(cs)); err != nil {
			return err
		}
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
		zw.Write(b)
		if err := zw.Close(); err != nil {
			return err
		}
		// A chunk put is idempotent: retry it once or twice when the
		// cluster is electing a new leader.
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			rctx, cancel := s.request(ctx)
			_, err = s.cli.Put(rctx, s.keyChunk(slot, i), z.String())
			cancel()
			if err == nil || ctx.Err() != nil || !transient(err) {
				break
			}
		}
		if err != nil {
			return s.etcdErr(ctx, fmt.Sprintf("write %s generation %d chunk %d", s.URL(), g, i), err)
		}
		failpoint.Hit("etcd.after-chunk")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ErrLostRace is returned by a publish when the current pointer moved or
// the writer lost its lock (its lease expired) since it read the
// generation it built on. Nothing became visible; retry.
var ErrLostRace = errors.New("the catalog changed or the writer lock was lost during the write")

// publish makes generation m.Generation current with one compare-and-swap
// on the current pointer: it succeeds only if the pointer still has the
// mod revision base saw and this writer still holds the lock. extra are
// puts done just before (the journal record).
func (s *Store) publish(ctx context.Context, l *Lock, base *Snapshot, m *Manifest, extra ...clientv3.Op) (int64, error) {
	mb, err := json.Marshal(m)
	if err != nil {
		return 0, err
	}
	cur, _ := json.Marshal(currentRecord{Generation: m.Generation, Slot: m.Slot, Lineage: m.Lineage, Published: m.Published})
	// The extra puts (the journal record: up to 5000 handles) go first,
	// each in its own request, so the compare-and-swap stays small
	// whatever they weigh; readers ignore journal records past the current
	// generation, and the next writer collects them if this one dies here.
	for _, op := range extra {
		rctx, cancel := s.request(ctx)
		_, err := s.cli.Txn(rctx).If(clientv3.Compare(clientv3.CreateRevision(s.keyLock()), "=", l.rev)).Then(op).Commit()
		cancel()
		if err != nil {
			return 0, s.etcdErr(ctx, fmt.Sprintf("publish %s generation %d", s.URL(), m.Generation), err)
		}
	}
	ops := []clientv3.Op{
		clientv3.OpPut(s.keyManifest(m.Slot), string(mb)),
		clientv3.OpPut(s.keyCurrent(), string(cur)),
	}
	failpoint.Hit("etcd.before-cas")
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.cli.Txn(rctx).If(
		clientv3.Compare(clientv3.ModRevision(s.keyCurrent()), "=", base.CurrentModRev),
		clientv3.Compare(clientv3.CreateRevision(s.keyLock()), "=", l.rev),
	).Then(ops...).Commit()
	if err != nil {
		return 0, s.etcdErr(ctx, fmt.Sprintf("publish %s generation %d", s.URL(), m.Generation), err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("publish %s generation %d: %w", s.URL(), m.Generation, ErrLostRace)
	}
	failpoint.Hit("etcd.after-cas")
	return resp.Header.Revision, nil
}

// CollectStats counts what a garbage collection deleted.
type CollectStats struct {
	Unpublished int // generations a dead writer left behind
	Superseded  int // old generations past the grace period
	Kept        int // old generations still inside the grace period
}

// collect deletes, under the writer lock, every slot newer than the
// current one (left by a writer that died before its compare-and-swap) and
// every superseded slot whose successor was published more than the grace
// period ago; and the journal records that no kept slot can read: those
// past the current generation in the current lineage (a dead writer's) and
// lineages no kept slot uses.
func (s *Store) collect(ctx context.Context, l *Lock, cur *Snapshot) (CollectStats, error) {
	var st CollectStats
	rctx, cancel := s.request(ctx)
	resp, err := s.cli.Get(rctx, s.genPrefix(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	cancel()
	if err != nil {
		return st, s.etcdErr(ctx, "collect "+s.URL(), err)
	}
	seen := map[uint64]bool{}
	var slots []uint64
	for _, kv := range resp.Kvs {
		if g, ok := s.parseGenKey(string(kv.Key)); ok && !seen[g] {
			seen[g] = true
			slots = append(slots, g)
		}
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i] < slots[j] })
	exists := cur.Manifest != nil
	var curSlot uint64
	lineages := map[uint64]bool{}
	nextPublished := time.Time{}
	if exists {
		curSlot = cur.Manifest.Slot
		lineages[cur.Manifest.Lineage] = true
		nextPublished = cur.Manifest.Published
	}
	var doomed []uint64
	for i := len(slots) - 1; i >= 0; i-- { // newest first
		g := slots[i]
		switch {
		case !exists || g > curSlot:
			doomed = append(doomed, g)
			st.Unpublished++
		case g == curSlot:
		default:
			m, err := s.manifest(ctx, g, 0)
			if err != nil && !errors.Is(err, catalog.ErrCorrupt) {
				return st, err
			}
			if m == nil { // never published
				doomed = append(doomed, g)
				st.Unpublished++
				continue
			}
			if s.opts.Now().Sub(nextPublished) >= s.cfg.Grace {
				doomed = append(doomed, g)
				st.Superseded++
			} else {
				st.Kept++
				lineages[m.Lineage] = true
			}
			nextPublished = m.Published
		}
	}
	for _, g := range doomed {
		if err := s.deleteRange(ctx, l, s.keyGen(g), clientv3.GetPrefixRangeEnd(s.keyGen(g))); err != nil {
			return st, err
		}
	}
	// Journal lineages: keep those of kept slots; in the current one, drop
	// records past the current generation.
	rctx, cancel = s.request(ctx)
	resp, err = s.cli.Get(rctx, s.journalPrefix(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	cancel()
	if err != nil {
		return st, s.etcdErr(ctx, "collect "+s.URL()+" journal", err)
	}
	dropped := map[uint64]bool{}
	for _, kv := range resp.Kvs {
		rest := strings.TrimPrefix(string(kv.Key), s.journalPrefix())
		lin, err := strconv.ParseUint(strings.SplitN(rest, "/", 2)[0], 10, 64)
		if err != nil || lineages[lin] || dropped[lin] {
			continue
		}
		dropped[lin] = true
		if err := s.deleteRange(ctx, l, s.lineagePrefix(lin), clientv3.GetPrefixRangeEnd(s.lineagePrefix(lin))); err != nil {
			return st, err
		}
	}
	if exists {
		lp := s.lineagePrefix(cur.Manifest.Lineage)
		if err := s.deleteRange(ctx, l, s.keyJournal(cur.Manifest.Lineage, cur.Generation()+1), clientv3.GetPrefixRangeEnd(lp)); err != nil {
			return st, err
		}
	}
	return st, nil
}

// deleteRange deletes keys [from, end) if this writer still holds the lock.
func (s *Store) deleteRange(ctx context.Context, l *Lock, from, end string) error {
	rctx, cancel := s.request(ctx)
	defer cancel()
	_, err := s.cli.Txn(rctx).If(clientv3.Compare(clientv3.CreateRevision(s.keyLock()), "=", l.rev)).
		Then(clientv3.OpDelete(from, clientv3.WithRange(end))).Commit()
	return s.etcdErr(ctx, "collect "+s.URL(), err)
}

// Journal calls fn with the journal records of generations up to the
// snapshot's, newest first, read at the snapshot's revision, until fn
// returns false.
func (s *Store) Journal(ctx context.Context, sn *Snapshot, fn func(*catalog.Operation) bool) error {
	if sn.Manifest == nil {
		return nil
	}
	lin := sn.Manifest.Lineage
	end := s.keyJournal(lin, sn.Generation()+1)
	for {
		rctx, cancel := s.request(ctx)
		resp, err := s.cli.Get(rctx, s.lineagePrefix(lin), clientv3.WithRange(end), clientv3.WithRev(sn.Revision),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(100))
		cancel()
		if err != nil {
			return s.readErr(ctx, err)
		}
		for _, kv := range resp.Kvs {
			var op catalog.Operation
			if err := json.Unmarshal(kv.Value, &op); err != nil {
				return fmt.Errorf("read %s journal record %s: %w: %v", s.URL(), kv.Key, catalog.ErrCorrupt, err)
			}
			if !fn(&op) {
				return nil
			}
			end = string(kv.Key)
		}
		if !resp.More {
			return nil
		}
	}
}
