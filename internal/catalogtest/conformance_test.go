package catalogtest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/metactl/metactl/catalog/etcdstore"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/internal/etcdtest"
)

// TestConformance runs the conformance table against every backend of this
// repository: bbolt files in t.TempDir(), and etcd through one in-process
// member (TestConformance/etcd/...).
func TestConformance(t *testing.T) {
	catalogtest.RunConformance(t, catalogtest.Backend{
		Name:        "bbolt",
		NewLocation: func(t testing.TB) string { return filepath.Join(t.TempDir(), "catalog.db") },
		Damage: func(t testing.TB, location string) {
			// Zero the first pages: both meta pages gone.
			f, err := os.OpenFile(location, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 16<<10), 0); err != nil {
				t.Fatal(err)
			}
		},
	})
	catalogtest.RunConformance(t, etcdBackend(t))
}

var (
	etcdOnce    sync.Once
	etcdCluster *etcdtest.Cluster
	etcdErr     error
	etcdSeq     atomic.Int64
)

// etcdBackend starts (once) one etcd member in this process; every
// location is a new prefix on it.
func etcdBackend(t *testing.T) catalogtest.Backend {
	start := func(t testing.TB) *etcdtest.Cluster {
		t.Helper()
		etcdOnce.Do(func() {
			dir, err := os.MkdirTemp("", "conformance-etcd-")
			if err != nil {
				etcdErr = err
				return
			}
			etcdCluster, etcdErr = etcdtest.Start(dir, 1, etcdtest.Options{})
			if etcdErr == nil {
				cluster := etcdCluster
				stopAfter(func() { cluster.Stop(); os.RemoveAll(dir) })
			}
		})
		if etcdErr != nil {
			t.Fatalf("start etcd: %v", etcdErr)
		}
		return etcdCluster
	}
	return catalogtest.Backend{
		Name: "etcd",
		NewLocation: func(t testing.TB) string {
			c := start(t)
			return fmt.Sprintf("etcd://%s/conformance/%d?lease-ttl=2s&grace=0s", c.Endpoints(), etcdSeq.Add(1))
		},
		Damage: func(t testing.TB, location string) {
			// Whatever the key layout, a store whose every value is
			// garbage is damaged.
			c := start(t)
			cfg, err := etcdstore.ParseURL(location)
			if err != nil {
				t.Fatal(err)
			}
			prefix := cfg.Prefix
			cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(c.Endpoints(), ","), DialTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := cli.Get(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Kvs) == 0 {
				t.Fatalf("no keys under %s", prefix)
			}
			for _, kv := range resp.Kvs {
				if _, err := cli.Put(ctx, string(kv.Key), "\x00garbage{"); err != nil {
					t.Fatal(err)
				}
			}
		},
	}
}

// stopAfter runs fn when the test binary's tests are done.
var stops []func()

func stopAfter(fn func()) { stops = append(stops, fn) }

func TestMain(m *testing.M) {
	// etcd writers keep their local copies in the user's cache folder: a
	// private one.
	cache, err := os.MkdirTemp("", "catalogtest-cache-")
	if err == nil {
		os.Setenv("XDG_CACHE_HOME", cache)
	}
	code := m.Run()
	for _, fn := range stops {
		fn()
	}
	if cache != "" {
		os.RemoveAll(cache)
	}
	os.Exit(code)
}
