package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/metactl/metactl/catalog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Lock is the writer lock of an etcd catalog: a concurrency.Mutex on
// <prefix>/lock (keys <prefix>/lock/<lease>) held through a concurrency.Session, whose lease this
// process keeps alive. Waiters queue by create revision and wait on a
// watch of the key ahead of them, not by polling. Beside its mutex key the
// holder puts <prefix>/holder/<lease> (host, pid, command, start time)
// under the same lease, so a writer that gives up can name the one it
// waited for. If the holder dies, its lease expires after the lease TTL
// and both keys go with it.
type Lock struct {
	s       *Store
	session *concurrency.Session
	mu      *concurrency.Mutex
}

// Lock takes the writer lock, waiting at most Options.Timeout, then
// returns a [*catalog.BusyError] naming the holder.
func (s *Store) Lock(ctx context.Context) (*Lock, error) {
	ttl := int(s.cfg.LeaseTTL / time.Second)
	var grant *clientv3.LeaseGrantResponse
	err := s.retry(ctx, func(rctx context.Context) (err error) {
		// A lease granted by a member that died before answering is
		// never used and expires after its TTL.
		grant, err = s.cli.Grant(rctx, int64(ttl))
		return err
	})
	if err != nil {
		return nil, s.etcdErr(ctx, "lock "+s.URL(), err)
	}
	// The session keeps the lease alive until Unlock.
	session, err := concurrency.NewSession(s.cli, concurrency.WithTTL(ttl), concurrency.WithLease(grant.ID))
	if err != nil {
		return nil, s.etcdErr(ctx, "lock "+s.URL(), err)
	}
	l := &Lock{s: s, session: session, mu: concurrency.NewMutex(session, s.key(relLock))}
	host, _ := os.Hostname()
	me, _ := json.Marshal(catalog.Holder{PID: os.Getpid(), Command: s.opts.Command, Started: time.Now().UTC(), Host: host})
	err = s.retry(ctx, func(rctx context.Context) error {
		_, err := s.cli.Put(rctx, s.holderKey(session.Lease()), string(me), clientv3.WithLease(session.Lease()))
		return err
	})
	if err != nil {
		session.Close()
		return nil, s.etcdErr(ctx, "lock "+s.URL(), err)
	}
	wctx, wcancel := context.WithTimeout(ctx, s.opts.Timeout)
	if s.opts.Timeout < 0 {
		wctx, wcancel = context.WithTimeout(ctx, time.Millisecond)
	}
	err = l.mu.Lock(wctx)
	wcancel()
	if err == nil {
		return l, nil
	}
	// Lock removed our waiting key on failure; name the holder.
	if ctx.Err() != nil {
		session.Close()
		return nil, ctx.Err()
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		session.Close()
		return nil, s.etcdErr(ctx, "lock "+s.URL(), err)
	}
	busy := &catalog.BusyError{Path: s.URL(), Timeout: s.opts.Timeout, Holder: s.holder(ctx)}
	session.Close()
	return nil, busy
}

func (s *Store) holderKey(lease clientv3.LeaseID) string {
	return fmt.Sprintf("%s%x", s.key(relHolder), int64(lease))
}

// holder reads the record of the process holding the lock: the owner of
// the oldest key under lock/ (the concurrency.Mutex order), nil if none.
func (s *Store) holder(ctx context.Context) *catalog.Holder {
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.cli.Get(rctx, s.key(relLock)+"/", append(clientv3.WithFirstCreate(), clientv3.WithKeysOnly())...)
	if err != nil || len(resp.Kvs) == 0 {
		return nil
	}
	// A mutex key is <pfx>/lock/<lease in hex>, the holder key holder/<same>.
	lease := strings.TrimPrefix(string(resp.Kvs[0].Key), s.key(relLock)+"/")
	hr, err := s.cli.Get(rctx, s.key(relHolder)+lease)
	if err != nil || len(hr.Kvs) == 0 {
		return nil
	}
	var h catalog.Holder
	if json.Unmarshal(hr.Kvs[0].Value, &h) != nil {
		return nil
	}
	return &h
}

// owner is the comparison every write makes: this writer still holds the
// lock (its lease did not expire meanwhile).
func (l *Lock) owner() clientv3.Cmp { return l.mu.IsOwner() }

// Unlock releases the lock and ends the session (revoking its lease,
// which deletes the holder key).
func (l *Lock) Unlock() {
	ctx, cancel := context.WithTimeout(context.Background(), l.s.reqTTL)
	defer cancel()
	_ = l.mu.Unlock(ctx)
	_ = l.session.Close()
}
