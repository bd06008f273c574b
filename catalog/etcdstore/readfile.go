package etcdstore

import (
	"context"
	"encoding/json"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ReadFile reads one file of the newest generation in a single etcd
// transaction: the current key, the file's header and its content key,
// all at the transaction's revision ([catalog.FileReader]). View takes three
// requests for the same answer (the current key, then the header and the
// content at its revision), and a bridge's metadata sync makes one such
// read per file. A read-only transaction is a linearizable read in etcd,
// as a Get is, so it reflects every write committed before it.
//
// It answers only the common case: a catalog of this layout with no
// staged write, the file in the files bucket and its content in one key.
// Anything else (no catalog, an old layout, a staged write, a chunked
// content, a file not there, a malformed key, a writable DB) reports ok
// false and the caller reads with View, whose answer and errors are
// today's.
func (db *DB) ReadFile(ctx context.Context, handle string) (f *catalog.File, gen uint64, ok bool, err error) {
	db.mu.Lock()
	writer := db.lock != nil || db.mirror != nil
	db.mu.Unlock()
	if writer {
		return nil, 0, false, nil
	}
	s := db.s
	rctx, cancel := s.request(ctx)
	resp, err := s.cli.Txn(rctx).Then(
		clientv3.OpGet(s.key(relCurrent)),
		clientv3.OpGet(s.key(kvRel(boltstore.RawBucketFiles, []byte(handle)))),
		clientv3.OpGet(s.key(kvRel(contentBucket, []byte(handle)))),
	).Commit()
	cancel()
	if err != nil {
		// The error Current gives, the first read of View.
		return nil, 0, false, s.etcdErr(ctx, "read "+s.URL(), err)
	}
	if len(resp.Responses) != 3 {
		return nil, 0, false, nil
	}
	var kv [3][]byte
	for i, r := range resp.Responses {
		rr := r.GetResponseRange()
		if rr == nil || len(rr.Kvs) != 1 {
			return nil, 0, false, nil
		}
		kv[i] = rr.Kvs[0].Value
	}
	var cur currentRecord
	if json.Unmarshal(kv[0], &cur) != nil || cur.Format != layoutFormat || cur.Version > layoutVersion || cur.Stage != 0 {
		return nil, 0, false, nil
	}
	h, c := kv[1], kv[2]
	if len(h) < 9 || h[0] != tagFile || len(c) == 0 || c[0] != tagInline {
		return nil, 0, false, nil
	}
	f, err = boltstore.DecodeFileRecord(handle, append(append([]byte(nil), h[9:]...), c[1:]...), true)
	if err != nil {
		return nil, 0, false, err
	}
	return f, cur.Generation, true, nil
}

var _ catalog.FileReader = (*DB)(nil)
