package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Store is a connection to one etcd catalog (one prefix of one cluster).
// It is safe for concurrent use.
type Store struct {
	cli    *clientv3.Client
	cfg    Config
	opts   Options
	reqTTL time.Duration
	// written counts the keys this Store's transactions wrote (puts and
	// deleted keys), for releaseAfter (a pointer: a copy of the Store
	// counts in the same place).
	written *atomic.Int64
}

// Options configures a Store's client side.
type Options struct {
	// Timeout bounds the wait for the writer lock; a writer still busy
	// after it gives a [*catalog.BusyError] naming the holder. It also
	// bounds every single etcd request (at least 2s), so unreachable
	// members give an error, never a hang. Zero means
	// [catalog.DefaultTimeout]; negative means do not wait for the lock.
	Timeout time.Duration
	// Command describes this process in the lock and the journal.
	Command string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TempDir holds the local copies; empty means os.TempDir().
	TempDir string
	// CheckpointBytes is [catalog.Options.CheckpointBytes] for the bulk
	// writes on the local copy (DB.UpdateBulk).
	CheckpointBytes int
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
	s := &Store{cfg: c, opts: o, reqTTL: max(o.Timeout, 2*time.Second), written: new(atomic.Int64)}
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
		// A request carries at most TxnBytes plus one value.
		MaxCallSendMsgSize: max(4<<20, c.TxnBytes+c.ValueSize+1<<20),
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

// Keys (relative to the prefix; see the package doc).
const (
	relCurrent = "current"
	relSummary = "summary"
	relRevs    = "revs"
	relKV      = "kv/"
	relChunks  = "kc/"
	relStage   = "stage/"
	relDirect  = "direct/"
	relLock    = "lock"
	relHolder  = "holder/"
	// Keys of the layout before version 2 (legacy.go).
	relLegacyGen     = "gen/"
	relLegacyJournal = "journal/"
)

func (s *Store) key(rel string) string { return s.cfg.Prefix + "/" + rel }

func stagePrefix(gen uint64) string { return fmt.Sprintf("%s%020d/", relStage, gen) }

func directPrefix(gen uint64) string { return fmt.Sprintf("%s%020d/", relDirect, gen) }

// request returns a context for one etcd request.
func (s *Store) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.reqTTL)
}

// etcdErr names the cluster in an error from a request, and says plainly
// when no member answered in time or a limit of etcd's was hit.
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
	switch {
	case errors.Is(err, rpctypes.ErrRequestTooLarge) || strings.Contains(err.Error(), "request is too large"):
		return fmt.Errorf("%s: etcd at %s refused a request of up to %d bytes as too large: start its members with --max-request-bytes of at least %d, or lower the catalog URL's value-size option: %w",
			op, strings.Join(s.cfg.Endpoints, ","), s.cfg.TxnBytes+s.cfg.ValueSize, s.cfg.TxnBytes+s.cfg.ValueSize+64<<10, err)
	case errors.Is(err, rpctypes.ErrTooManyOps):
		return fmt.Errorf("%s: etcd at %s refused a transaction of up to %d operations: start its members with --max-txn-ops of at least %d, or lower the catalog URL's txn-ops option: %w",
			op, strings.Join(s.cfg.Endpoints, ","), s.cfg.TxnOps+4, s.cfg.TxnOps+4, err)
	case errors.Is(err, rpctypes.ErrNoSpace):
		return fmt.Errorf("%s: etcd at %s is out of space (its --quota-backend-bytes is reached): compact its history and defragment it (etcdctl compact, etcdctl defrag, etcdctl alarm disarm): %w",
			op, strings.Join(s.cfg.Endpoints, ","), err)
	}
	return fmt.Errorf("%s: etcd at %s: %w", op, strings.Join(s.cfg.Endpoints, ","), err)
}

var errNoAnswer = errors.New("no answer")

// errCompacted is returned when a snapshot's revision was compacted away
// by etcd while it was read.
var errCompacted = errors.New("revision compacted")

func (s *Store) readErr(ctx context.Context, err error) error {
	if errors.Is(err, rpctypes.ErrCompacted) {
		return fmt.Errorf("read %s: etcd compacted the revision this read uses (its history retention is shorter than the read; retry): %w", s.URL(), errCompacted)
	}
	return s.etcdErr(ctx, "read "+s.URL(), err)
}

// transient reports whether an etcd error is worth one more try: a leader
// election or a member going away, not a refusal.
func transient(err error) bool {
	return errors.Is(err, rpctypes.ErrTimeout) || errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) ||
		errors.Is(err, rpctypes.ErrNoLeader) || errors.Is(err, rpctypes.ErrLeaderChanged) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost) ||
		// The member the request went to died or restarted (its
		// connection was reset): the client's balancer moves on to
		// another endpoint, so an idempotent request may be sent again.
		status.Code(err) == codes.Unavailable
}

// retry runs an idempotent request, each try bounded by the request
// timeout, again while the cluster elects a leader or a member goes away
// (up to 8 tries, backing off from 100 ms to 2 s).
func (s *Store) retry(ctx context.Context, req func(context.Context) error) error {
	for attempt, wait := 1, 100*time.Millisecond; ; attempt, wait = attempt+1, min(2*wait, 2*time.Second) {
		rctx, cancel := s.request(ctx)
		err := req(rctx)
		cancel()
		if err == nil || ctx.Err() != nil || !transient(err) || attempt == 8 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// Summary holds the small answers about one generation, so that status
// reads one key.
type Summary struct {
	State      aptos.StorageState `json:"state"`
	ViewDigest aptos.Digest       `json:"view_digest"`
	Entries    int                `json:"entries"`
	LiveFiles  int                `json:"live_files"`
	MovedFiles int                `json:"moved_files"`
	Identity   string             `json:"identity,omitempty"`
}

const (
	layoutFormat  = "metactl-etcd"
	layoutVersion = 3
)

// currentRecord is the value of <prefix>/current in layout version 2.
// Stage, when not zero, names the staged write whose keys under
// stage/<Stage>/ override those under kv/ until it is folded in.
type currentRecord struct {
	Format     string `json:"format"`
	Version    int    `json:"version"`
	Generation uint64 `json:"generation"`
	Stage      uint64 `json:"stage,omitempty"`
	// Listing, when listShards, says the generation's list/ keys hold
	// its live files' handles (listing.go).
	Listing   int             `json:"listing,omitempty"`
	Published time.Time       `json:"published"`
	Publisher *catalog.Holder `json:"publisher,omitempty"`
}

// Snapshot is the catalog as seen at one etcd revision.
type Snapshot struct {
	Revision      int64 // the etcd revision every read of this snapshot uses
	CurrentModRev int64 // mod revision of the current key (0: no catalog)
	Current       *currentRecord
	Legacy        *legacySnapshot // a catalog of layout version 1
	clusterID     uint64          // the etcd cluster's ID
	raw           []byte          // the current key's value
}

// Exists reports whether the snapshot holds a catalog.
func (sn *Snapshot) Exists() bool { return sn.Current != nil || sn.Legacy != nil }

// Generation returns the snapshot's generation (0 if none).
func (sn *Snapshot) Generation() uint64 {
	switch {
	case sn.Current != nil:
		return sn.Current.Generation
	case sn.Legacy != nil && sn.Legacy.Manifest != nil:
		return sn.Legacy.Manifest.Generation
	}
	return 0
}

// Current reads the current key at the latest revision.
func (s *Store) Current(ctx context.Context) (*Snapshot, error) {
	rctx, cancel := s.request(ctx)
	resp, err := s.cli.Get(rctx, s.key(relCurrent))
	cancel()
	if err != nil {
		return nil, s.etcdErr(ctx, "read "+s.URL(), err)
	}
	sn := &Snapshot{Revision: resp.Header.Revision, clusterID: resp.Header.ClusterId}
	if len(resp.Kvs) == 0 {
		return sn, nil
	}
	sn.CurrentModRev, sn.raw = resp.Kvs[0].ModRevision, resp.Kvs[0].Value
	var cur currentRecord
	if err := json.Unmarshal(resp.Kvs[0].Value, &cur); err != nil {
		return nil, fmt.Errorf("read %s: current key: %w: %v", s.URL(), catalog.ErrCorrupt, err)
	}
	if cur.Format == "" {
		sn.Legacy, err = s.legacyCurrent(ctx, resp.Kvs[0].Value, sn.Revision)
		return sn, err
	}
	if cur.Format != layoutFormat || cur.Version > layoutVersion {
		return nil, fmt.Errorf("read %s: layout %q version %d is not one this metactl reads (upgrade metactl): %w",
			s.URL(), cur.Format, cur.Version, catalog.ErrSchema)
	}
	sn.Current = &cur
	return sn, nil
}

// get reads one key at rev (0: latest), with the staged write of sn
// overriding it; nil if absent.
func (s *Store) get(ctx context.Context, sn *Snapshot, rel string) ([]byte, error) {
	keys := []string{s.key(rel)}
	if sn != nil && sn.Current != nil && sn.Current.Stage != 0 {
		keys = append([]string{s.key(stagePrefix(sn.Current.Stage) + rel)}, keys...)
	}
	for i, k := range keys {
		var opts []clientv3.OpOption
		if sn != nil {
			opts = append(opts, clientv3.WithRev(sn.Revision))
		}
		rctx, cancel := s.request(ctx)
		resp, err := s.cli.Get(rctx, k, opts...)
		cancel()
		if err != nil {
			return nil, s.readErr(ctx, err)
		}
		if len(resp.Kvs) == 0 {
			continue
		}
		v := resp.Kvs[0].Value
		if i == 0 && len(keys) == 2 {
			switch {
			case len(v) > 0 && v[0] == stagePut:
				return v[1:], nil
			default:
				return nil, nil // staged delete
			}
		}
		return v, nil
	}
	return nil, nil
}

// Pages of a scan. etcd visits every key from a page's start to its
// range's end to count them, whatever the page's limit, so reading N keys
// in pages of L costs the server about N²/2L key visits: 100k file
// headers in pages of 256 took an etcd-server 3.4 member 6.8 s of CPU
// (12 s in all), in pages of 4,096 0.6 s. A scan therefore starts at
// scanFirstKeys keys and, while the values are small, grows its pages
// (at most 4× a page) towards scanPageBytes by the largest key and value
// seen so far, up to as many keys as scanWorstBytes holds of the largest
// value the range can hold (so a page of surprisingly large values stays
// under it) and scanMaxKeys. A page over the client's receive limit is
// asked again, smaller.
const (
	scanFirstKeys  = 256
	scanMaxKeys    = 4096
	scanPageBytes  = 8 << 20
	scanWorstBytes = 256 << 20
)

// scanCap returns the most keys a page may hold when a value can be
// maxValue bytes long.
func scanCap(maxValue int) int64 {
	return int64(max(16, min(scanMaxKeys, scanWorstBytes/(maxValue+1024))))
}

// scan calls fn for every key in [from, end) at revision rev, in key
// order, reading pages of at most maxKeys keys (see scanCap), small ones
// first.
func (s *Store) scan(ctx context.Context, from, end string, rev int64, maxKeys int64, fn func(key string, v []byte) error) error {
	limit := min(maxKeys, scanFirstKeys)
	largest := 0
	for {
		rctx, cancel := s.request(ctx)
		resp, err := s.cli.Get(rctx, from, clientv3.WithRange(end), clientv3.WithRev(rev), clientv3.WithLimit(limit))
		cancel()
		if status.Code(err) == codes.ResourceExhausted && limit > 1 && ctx.Err() == nil {
			limit = max(1, limit/4) // over the client's receive limit
			continue
		}
		if err != nil {
			return s.readErr(ctx, err)
		}
		for _, kv := range resp.Kvs {
			largest = max(largest, len(kv.Key)+len(kv.Value))
			if err := fn(string(kv.Key), kv.Value); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		limit = min(maxKeys, 4*limit, max(limit, int64(scanPageBytes/max(1, largest))))
	}
}

// prefixEnd returns the end of the range of keys starting with p.
func prefixEnd(p string) string { return clientv3.GetPrefixRangeEnd(p) }
