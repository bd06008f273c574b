package etcdstore

import (
	"context"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Releasing etcd 3.4's read buffer after a write of many keys.
//
// An etcd 3.4 member copies its backend's read buffer for every read
// request (mvcc/backend: ConcurrentReadTx calls txReadBuffer.unsafeCopy,
// and bucketBuffer.Copy allocates the buffer's whole capacity, not the
// entries in use; etcd-io/etcd#12529, fixed in 3.5). The buffer of the
// "key" bucket (every put and every deleted key is an entry in it) starts
// at 512 entries and grows by half whenever the writes of one backend
// commit interval (--backend-batch-interval, 100 ms by default, or
// --backend-batch-limit operations) fill it; it never shrinks. So after a
// write of many keys (a copy, a compaction, a large import) every read,
// a linearizable Get of the current key included, costs the member
// several times what it did before: 1.8-3.9 ms of CPU after a copy of
// the 40,035-file catalog, 0.24-0.28 ms once the buffer is freed
// (docs/aptos-bridge.md, "Releasing etcd 3.4's read buffer"). A later
// write of a few keys does not help.
//
// What releases it: at each backend commit, txBuffer.reset drops
// ("demotes") the buffer of every bucket nothing was written to since the
// commit before. So one commit interval in which only another bucket is
// written frees the key bucket's buffer; the next key written starts a new
// one of 512 entries. A lease grant writes only the "lease" bucket, and so
// does the lease's revocation when it expires (no key is attached to it).
//
// So after a write that wrote releaseAfterKeys keys or more, metactl
// grants a lease of 1 s (etcd raises it to its minimum TTL, 1.5 election
// timeouts rounded up: 2 s with etcd's default flags), attaches nothing to
// it, and does not wait: the grant may land in the same commit interval
// as the write's last keys (or as the lock's release that follows), but
// its expiry, revoked by the leader a TTL later with no metactl process
// involved, is a lease-only write on every member, in an interval without
// key writes unless another client writes then. Granting, waiting past
// the batch interval and revoking would release the buffer a second or
// two sooner, at the price of holding the writer (and the lock) for a
// batch interval metactl cannot read from the cluster; it was not chosen.
//
// The release is best effort and silent: a grant that fails (the member
// went away, the context was cancelled after the publish) never fails the
// write, which is already published, and is not reported, since its only
// effect is the read cost on etcd 3.4. On etcd 3.5 and later it costs one
// lease that expires unused.

// releaseAfterKeys: a write that wrote at least this many keys (puts and
// deleted keys, over all its transactions) grants the releasing lease.
// 512 is the key bucket's initial buffer size, which grows when its
// 512th entry of one commit interval is added: a write of fewer keys
// cannot, on its own, grow the buffer past the size any member that has
// taken a write has (it may with other clients' writes of the same
// interval, which are theirs to count).
const releaseAfterKeys = 512

// releaseTimeout bounds the grant: a member that does not answer delays
// the end of a write by at most this.
const releaseTimeout = 2 * time.Second

// releases counts the releasing leases granted, for tests.
var releases atomic.Int64

// beforeRelease, if set (by a test), runs before the grant.
var beforeRelease func()

// keysWritten returns how many keys n transactions of ops wrote: each put
// one, each delete as many as it deleted (resp answers ops).
func keysWritten(ops []clientv3.Op, resp *clientv3.TxnResponse) int64 {
	var n int64
	for i, o := range ops {
		switch {
		case o.IsPut():
			n++
		case o.IsDelete() && i < len(resp.Responses):
			if d := resp.Responses[i].GetResponseDeleteRange(); d != nil {
				n += d.Deleted
			}
		}
	}
	return n
}

// releaseAfter grants the releasing lease (see the top of release.go) if
// at least releaseAfterKeys keys were written through s since it had
// written from. It never fails.
func (s *Store) releaseAfter(ctx context.Context, from int64) {
	if s.written.Load()-from < releaseAfterKeys {
		return
	}
	if beforeRelease != nil {
		beforeRelease()
	}
	rctx, cancel := context.WithTimeout(ctx, min(s.reqTTL, releaseTimeout))
	defer cancel()
	if _, err := s.cli.Grant(rctx, 1); err == nil {
		releases.Add(1)
	}
}
