package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// History compaction. etcd keeps every old value of every key until its
// history is compacted, so a catalog written often grows etcd's database
// by every value it replaced. After each write, metactl asks etcd to
// compact its history up to the revision of the generation that was
// current one grace period (at least a minute) ago: a reader that started within the grace
// period reads at a later revision and is not disturbed. etcd's
// compaction is cluster-wide (there is no per-key compaction), which is
// what its own --auto-compaction-* settings do too; the catalog URL's
// compact=off leaves it to them. Compaction frees space inside etcd's
// database file; giving it back to the file system is etcdctl defrag's.

// revsRecord is the value of <prefix>/revs: the anchors (mod revisions of
// the current key) and publication times of past generations, and the
// revision history was last compacted to.
type revsRecord struct {
	Compacted int64      `json:"compacted"`
	Anchors   [][2]int64 `json:"anchors"` // [mod revision, published unix ns]
}

// revsAfter returns the revs key a write based on base puts beside its
// changes: base's anchor added, anchors already compacted dropped.
func (s *Store) revsAfter(ctx context.Context, base *Snapshot) []byte {
	if s.cfg.NoCompact || base.Current == nil {
		return nil
	}
	r := s.readRevs(ctx)
	keep := r.Anchors[:0]
	for _, a := range r.Anchors {
		if a[0] > r.Compacted {
			keep = append(keep, a)
		}
	}
	r.Anchors = append(keep, [2]int64{base.CurrentModRev, base.Current.Published.UnixNano()})
	if len(r.Anchors) > 4096 {
		r.Anchors = r.Anchors[len(r.Anchors)-4096:]
	}
	b, _ := json.Marshal(r)
	return b
}

func (s *Store) readRevs(ctx context.Context) revsRecord {
	var r revsRecord
	if v, err := s.get(ctx, nil, relRevs); err == nil && v != nil {
		_ = json.Unmarshal(v, &r)
	}
	return r
}

// compactHistory compacts etcd's history up to the newest anchor published
// at least the grace period ago, if that is past the last compaction. It
// is best effort: a failure leaves the history for the next write.
func (s *Store) compactHistory(ctx context.Context, l *Lock) {
	if s.cfg.NoCompact {
		return
	}
	r := s.readRevs(ctx)
	cutoff := s.opts.Now().Add(-max(s.cfg.Grace, minCompactAge)).UnixNano()
	var target int64
	for _, a := range r.Anchors {
		if a[1] <= cutoff && a[0] > target {
			target = a[0]
		}
	}
	if target <= r.Compacted {
		return
	}
	rctx, cancel := s.request(ctx)
	_, err := s.cli.Compact(rctx, target)
	cancel()
	if err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return
	}
	r.Compacted = target
	b, _ := json.Marshal(r)
	_ = s.txn(ctx, l, "record compaction of "+s.URL(), nil, []op{{rel: relRevs, val: b}})
}

// minCompactAge is the least history kept whatever the grace period:
// etcd's compaction is cluster-wide, and a lock waiter (a watch from its
// revision) or another catalog's reader may be using the last minute.
const minCompactAge = time.Minute

// CompactedTo returns the revision metactl last compacted etcd's history
// to for this catalog (0: never).
func (s *Store) CompactedTo(ctx context.Context) int64 { return s.readRevs(ctx).Compacted }
