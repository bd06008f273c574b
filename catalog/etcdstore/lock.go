package etcdstore

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/metactl/metactl/catalog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Lock is the writer lock of an etcd catalog: the key <prefix>/lock,
// created only if absent and bound to a lease this process keeps alive.
// Its value is the holder (host, pid, command, start time) as JSON, so a
// writer that gives up can name the one it waited for. If the holder
// dies, its lease expires after the lease TTL and the key goes with it.
type Lock struct {
	s      *Store
	lease  clientv3.LeaseID
	rev    int64 // create revision of the lock key: the publish compares it
	cancel context.CancelFunc
}

// Lock takes the writer lock, waiting at most Options.Timeout, then
// returns a *catalog.BusyError naming the holder.
func (s *Store) Lock(ctx context.Context) (*Lock, error) {
	deadline := time.Now().Add(s.opts.Timeout)
	ttl := int64(s.cfg.LeaseTTL / time.Second)
	rctx, cancel := s.request(ctx)
	grant, err := s.cli.Grant(rctx, ttl)
	cancel()
	if err != nil {
		return nil, s.etcdErr(ctx, "lock "+s.URL(), err)
	}
	kctx, kcancel := context.WithCancel(context.Background())
	ka, err := s.cli.KeepAlive(kctx, grant.ID)
	if err != nil {
		kcancel()
		return nil, s.etcdErr(ctx, "lock "+s.URL(), err)
	}
	go func() {
		for range ka { // drain: the client renews the lease meanwhile
		}
	}()
	l := &Lock{s: s, lease: grant.ID, cancel: kcancel}
	host, _ := os.Hostname()
	me, _ := json.Marshal(catalog.Holder{PID: os.Getpid(), Command: s.opts.Command, Started: time.Now().UTC(), Host: host})
	delay := 20 * time.Millisecond
	for {
		rctx, cancel := s.request(ctx)
		resp, err := s.cli.Txn(rctx).
			If(clientv3.Compare(clientv3.CreateRevision(s.keyLock()), "=", 0)).
			Then(clientv3.OpPut(s.keyLock(), string(me), clientv3.WithLease(grant.ID))).
			Else(clientv3.OpGet(s.keyLock())).Commit()
		cancel()
		if err != nil {
			l.release()
			return nil, s.etcdErr(ctx, "lock "+s.URL(), err)
		}
		if resp.Succeeded {
			l.rev = resp.Header.Revision
			return l, nil
		}
		if !time.Now().Before(deadline) {
			l.release()
			busy := &catalog.BusyError{Path: s.URL(), Timeout: s.opts.Timeout}
			if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
				var h catalog.Holder
				if json.Unmarshal(kvs[0].Value, &h) == nil {
					busy.Holder = &h
				}
			}
			return nil, busy
		}
		t := time.NewTimer(min(delay, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			l.release()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
}

// Unlock releases the lock by revoking its lease (which deletes the key).
func (l *Lock) Unlock() { l.release() }

func (l *Lock) release() {
	l.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), l.s.reqTTL)
	defer cancel()
	_, _ = l.s.cli.Revoke(ctx, l.lease)
}
