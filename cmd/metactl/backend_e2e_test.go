package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog/etcdstore"
	"github.com/metactl/metactl/internal/etcdtest"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// The end-to-end suite runs against either backend. By default every
// catalog is a bbolt file in t.TempDir(); with METACTL_TEST_BACKEND=etcd,
// TestMain starts a real etcd member in this process and every catalog
// path a test passes to metactl becomes an etcd catalog URL with a prefix
// of its own (the same path, under /e2e), so the same tests, goldens and
// assertions run against etcd. Tests of things only a file has (its
// bytes, its lock sidecar) call fileBackendOnly.
const backendEnv = "METACTL_TEST_BACKEND"

var (
	etcdBackend *etcdtest.Cluster
	etcdDir     string
)

func useEtcd() bool { return os.Getenv(backendEnv) == "etcd" }

// startBackend starts the etcd member when the etcd backend is selected.
func startBackend() error {
	switch os.Getenv(backendEnv) {
	case "", "bbolt":
		return nil
	case "etcd":
	default:
		return fmt.Errorf("%s=%q: want bbolt or etcd", backendEnv, os.Getenv(backendEnv))
	}
	var err error
	if etcdDir, err = os.MkdirTemp("", "metactl-e2e-etcd-"); err != nil {
		return err
	}
	etcdBackend, err = etcdtest.Start(etcdDir, 1, etcdtest.Options{})
	return err
}

func stopBackend() {
	if etcdBackend != nil {
		etcdBackend.Stop()
		os.RemoveAll(etcdDir)
	}
}

// etcdOptions keep tests quick: a dead writer's lock lapses after 2s, and
// catalogs of a few files still span several chunks.
const etcdOptions = "?lease-ttl=2s&value-size=8192"

// catalogLocation maps a test's catalog path to the selected backend. An
// existing file (an archive given as --catalog) stays a file.
func catalogLocation(path string) string {
	if etcdBackend == nil || path == "" || strings.Contains(path, "://") {
		return path
	}
	if _, ok := fileCatalogs.Load(path); ok {
		return path
	}
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		return path
	}
	abs, _ := filepath.Abs(path)
	return "etcd://" + etcdBackend.Endpoints() + "/e2e" + abs + etcdOptions
}

// fileCatalogs are paths that stay files whatever the backend (asFile).
var fileCatalogs sync.Map

// asFile marks a catalog path as a file catalog in every backend run (the
// file side of a copy between backends).
func asFile(path string) string {
	fileCatalogs.Store(path, true)
	return path
}

// fileBackendOnly skips a test that inspects the catalog file itself.
func fileBackendOnly(t testing.TB, why string) {
	t.Helper()
	if etcdBackend != nil {
		t.Skipf("bbolt backend only: %s", why)
	}
}

// catalogBytes returns what says whether a catalog changed: a file's bytes,
// or for etcd the current pointer with its mod revision (nil if absent).
// Equal results before and after a command mean it published nothing.
func catalogBytes(t testing.TB, path string) []byte {
	t.Helper()
	if etcdBackend == nil {
		b, _ := os.ReadFile(path)
		return b
	}
	cfg, err := etcdstore.ParseURL(catalogLocation(path))
	if err != nil {
		t.Fatal(err)
	}
	kv := etcdGetKV(t, cfg, "/current")
	if kv == nil {
		return nil
	}
	return fmt.Appendf(nil, "%s@%d", kv.Value, kv.ModRevision)
}

// etcdClient returns a client of the etcd catalog cfg's members; the
// caller closes it.
func etcdClient(t testing.TB, cfg *etcdstore.Config) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// etcdGetKV reads one key of an etcd catalog (nil if absent).
func etcdGetKV(t testing.TB, cfg *etcdstore.Config, key string) *mvccpb.KeyValue {
	t.Helper()
	cli := etcdClient(t, cfg)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, cfg.Prefix+key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	return resp.Kvs[0]
}

func etcdGet(t testing.TB, cfg *etcdstore.Config, key string) []byte {
	if kv := etcdGetKV(t, cfg, key); kv != nil {
		return kv.Value
	}
	return nil
}

// catalogExists reports whether a command created the catalog.
func catalogExists(t testing.TB, path string) bool {
	t.Helper()
	if etcdBackend == nil {
		_, err := os.Stat(path)
		return err == nil
	}
	return catalogBytes(t, path) != nil
}

// lockRecord returns the writer lock's holder record (nil if unlocked): the
// sidecar file of a bbolt catalog, the holder key of an etcd one.
func lockRecord(t testing.TB, path string) []byte {
	t.Helper()
	if etcdBackend == nil {
		b, _ := os.ReadFile(path + ".lock")
		return b
	}
	cfg, err := etcdstore.ParseURL(catalogLocation(path))
	if err != nil {
		t.Fatal(err)
	}
	return etcdGetPrefix(t, cfg, "/holder/")
}

// etcdGetPrefix returns the value of the first key under a prefix of an
// etcd catalog (nil if none).
func etcdGetPrefix(t testing.TB, cfg *etcdstore.Config, prefix string) []byte {
	t.Helper()
	cli := etcdClient(t, cfg)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, cfg.Prefix+prefix, clientv3.WithPrefix(), clientv3.WithLimit(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	return resp.Kvs[0].Value
}

// backendNeutral turns the etcd URLs that catalogLocation made back into
// the test's paths, so golden files hold one text for both backends.
func backendNeutral(s string) string {
	if etcdBackend == nil {
		return s
	}
	s = strings.ReplaceAll(s, "etcd://"+etcdBackend.Endpoints()+"/e2e", "")
	return strings.ReplaceAll(s, etcdOptions, "")
}
