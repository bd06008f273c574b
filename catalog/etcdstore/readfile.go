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
	fs, gen, err := db.ReadFiles(ctx, []string{handle})
	if err != nil || fs[0] == nil {
		return nil, 0, false, err
	}
	return fs[0], gen, true, nil
}

// ReadFiles is ReadFile of several handles in one etcd transaction, all
// at its revision: the current key, then each file's header and content
// key. A nil file is one ReadFile would decline (all of them if the
// current key is not of the common case). At most [DB.ReadFilesMax]
// handles.
func (db *DB) ReadFiles(ctx context.Context, handles []string) (files []*catalog.File, gen uint64, err error) {
	files = make([]*catalog.File, len(handles))
	db.mu.Lock()
	writer := db.lock != nil || db.mirror != nil
	db.mu.Unlock()
	if writer || len(handles) == 0 {
		return files, 0, nil
	}
	s := db.s
	ops := make([]clientv3.Op, 0, 1+2*len(handles))
	ops = append(ops, clientv3.OpGet(s.key(relCurrent)))
	for _, h := range handles {
		ops = append(ops, clientv3.OpGet(s.key(kvRel(boltstore.RawBucketFiles, []byte(h)))),
			clientv3.OpGet(s.key(kvRel(contentBucket, []byte(h)))))
	}
	// A read-only transaction is idempotent, but etcd's client retries
	// only a Range by itself, not a Txn: during a leader election it
	// fails with "leader changed" (seen in TestEtcdClusterOfDebianEtcd),
	// so it is sent again as the store's other idempotent requests are.
	var resp *clientv3.TxnResponse
	err = s.retry(ctx, func(rctx context.Context) error {
		var err error
		resp, err = s.cli.Txn(rctx).Then(ops...).Commit()
		return err
	})
	if err != nil {
		// The error Current gives, the first read of View.
		return nil, 0, s.etcdErr(ctx, "read "+s.URL(), err)
	}
	if len(resp.Responses) != len(ops) {
		return files, 0, nil
	}
	value := func(i int) []byte {
		rr := resp.Responses[i].GetResponseRange()
		if rr == nil || len(rr.Kvs) != 1 {
			return nil
		}
		return rr.Kvs[0].Value
	}
	var cur currentRecord
	if c := value(0); c == nil || json.Unmarshal(c, &cur) != nil ||
		cur.Format != layoutFormat || cur.Version > layoutVersion || cur.Stage != 0 {
		return files, 0, nil
	}
	for i, handle := range handles {
		h, c := value(1+2*i), value(2+2*i)
		if len(h) < 9 || h[0] != tagFile || len(c) == 0 || c[0] != tagInline {
			continue
		}
		f, err := boltstore.DecodeFileRecord(handle, append(append([]byte(nil), h[9:]...), c[1:]...), true)
		if err != nil {
			return nil, 0, err
		}
		files[i] = f
	}
	return files, cur.Generation, nil
}

// ReadFilesMax is the most handles one ReadFiles takes: two reads a
// handle and the current key within the catalog's transaction size
// (txn-ops), and their largest answers (a header of at most 65 KiB and a
// content of at most value-size) within 32 MiB, half the client's receive
// limit.
func (db *DB) ReadFilesMax() int {
	return max(1, min((db.s.cfg.TxnOps-1)/2, (32<<20)/(db.s.cfg.ValueSize+66<<10)))
}

var _ catalog.FileReader = (*DB)(nil)
