package etcdstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
)

// The writer's local copy is kept between processes: a writer that closes
// with its copy matching the generation it published leaves it in the
// user's cache folder (os.UserCacheDir()/metactl/etcd/<hash of the
// cluster ID and prefix>/), with the current key's value and mod revision
// it matches. The next writer on the host takes it (renames it away, so
// no two processes share it) and uses it only if the current key it reads
// under the lock is that very value at that very mod revision (the value
// names the publishing host, process and time to the nanosecond), its
// generation is the copy's and the summary key agrees with the copy's;
// anything else, and it loads the catalog from etcd as before. A writer
// killed at any point leaves no cache, or one its own earlier close left,
// which no longer matches once anything was published. The URL option
// cache=off turns it off.

// cacheState describes a cached local copy.
type cacheState struct {
	Cluster uint64 `json:"cluster"`
	Prefix  string `json:"prefix"`
	ModRev  int64  `json:"mod_revision"`
	Current []byte `json:"current"`
}

const cacheFile, cacheStateFile = "catalog.db", "state.json"

// cacheDir returns the folder of this catalog's cached copy, "" if
// caching is off or there is no user cache folder.
func (s *Store) cacheDir(cluster uint64) string {
	if s.cfg.NoCache || cluster == 0 {
		return ""
	}
	root, err := os.UserCacheDir()
	if err != nil || root == "" {
		return ""
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%x\x00%s", cluster, s.cfg.Prefix))
	return filepath.Join(root, "metactl", "etcd", hex.EncodeToString(h[:12]))
}

// takeCached returns the cached local copy if it is base's, else nil (and
// removes a stale one). Errors are not returned: a cache that cannot be
// used is loaded from etcd.
func (s *Store) takeCached(ctx context.Context, base *Snapshot) *localCopy {
	dir := s.cacheDir(base.clusterID)
	if dir == "" || base.Current == nil || base.Current.Stage != 0 {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, cacheStateFile))
	if err != nil {
		os.Remove(filepath.Join(dir, cacheFile))
		return nil
	}
	// Claimed: whatever happens next, no other process uses this copy.
	os.Remove(filepath.Join(dir, cacheStateFile))
	var st cacheState
	if json.Unmarshal(b, &st) != nil || st.Cluster != base.clusterID || st.Prefix != s.cfg.Prefix ||
		st.ModRev != base.CurrentModRev || !bytes.Equal(st.Current, base.raw) {
		os.Remove(filepath.Join(dir, cacheFile))
		return nil
	}
	tmp, err := os.MkdirTemp(s.opts.TempDir, "metactl-etcd-")
	if err != nil {
		return nil
	}
	path := filepath.Join(tmp, cacheFile)
	if err := os.Rename(filepath.Join(dir, cacheFile), path); err != nil {
		// Another file system: copy it.
		err = boltstore.CopyFile(filepath.Join(dir, cacheFile), path)
		os.Remove(filepath.Join(dir, cacheFile))
		if err != nil {
			os.RemoveAll(tmp)
			return nil
		}
	}
	c, err := s.openLocal(ctx, tmp, path)
	if err != nil {
		return nil
	}
	c.modRev = base.CurrentModRev
	// The copy must be the generation the current key names, with the
	// summary the summary key holds.
	sum, gen, err := summarize(ctx, c.db)
	stored, serr := readSummary(ctx, s, base)
	if err != nil || serr != nil || gen != base.Generation() {
		c.close()
		return nil
	}
	a, _ := json.Marshal(sum)
	z, _ := json.Marshal(stored)
	if !bytes.Equal(a, z) {
		c.close()
		return nil
	}
	return c
}

// saveCached closes c, which matches the current key at c.modRev, into
// the cache (best effort: a failure only costs the next writer a load).
func (s *Store) saveCached(ctx context.Context, c *localCopy) {
	defer c.close()
	if c.path == "" || c.modRev == 0 {
		return
	}
	sn, err := s.Current(ctx)
	if err != nil || sn.CurrentModRev != c.modRev || sn.Current == nil || sn.Current.Stage != 0 {
		return
	}
	dir := s.cacheDir(sn.clusterID)
	if dir == "" {
		return
	}
	if err := c.db.Close(); err != nil {
		return
	}
	f, err := os.OpenFile(c.path, os.O_RDWR, 0)
	if err != nil {
		return
	}
	err = f.Sync()
	f.Close()
	if err != nil || os.MkdirAll(dir, 0o700) != nil {
		return
	}
	os.Remove(filepath.Join(dir, cacheStateFile))
	if err := os.Rename(c.path, filepath.Join(dir, cacheFile)); err != nil {
		if boltstore.CopyFile(c.path, filepath.Join(dir, cacheFile)) != nil {
			return
		}
	}
	b, _ := json.Marshal(cacheState{Cluster: sn.clusterID, Prefix: s.cfg.Prefix, ModRev: sn.CurrentModRev, Current: sn.raw})
	tmp := filepath.Join(dir, cacheStateFile+".tmp")
	if err := writeSynced(tmp, b); err != nil {
		return
	}
	if os.Rename(tmp, filepath.Join(dir, cacheStateFile)) != nil {
		os.Remove(tmp)
		return
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// openLocal opens the catalog file path in the folder dir (removed with
// the copy) as a local copy.
func (s *Store) openLocal(ctx context.Context, dir, path string) (*localCopy, error) {
	done := func() { os.RemoveAll(dir) }
	cdb, err := catalog.Open(ctx, path, &catalog.Options{NoSync: true, Command: s.opts.Command, Now: s.opts.Now, Timeout: -1,
		CheckpointBytes: s.opts.CheckpointBytes})
	if err != nil {
		done()
		return nil, err
	}
	raw, ok := cdb.(boltstore.RawDB)
	if !ok {
		cdb.Close()
		done()
		return nil, fmt.Errorf("local copy of %s: the file backend has no raw key access", s.URL())
	}
	return &localCopy{db: raw, done: done, path: path}, nil
}
