package etcdstore_test

import (
	"testing"
	"time"

	"github.com/metactl/metactl/catalog/etcdstore"
)

// TestParseURLDurations: ?grace= and ?lease-ttl= take durations as every
// metactl flag does (plain seconds, 1d, 1w), not only Go's forms.
func TestParseURLDurations(t *testing.T) {
	const base = "etcd://127.0.0.1:2379/metactl/x"
	for _, tc := range []struct {
		query      string
		grace, ttl time.Duration
		wantErr    string
	}{
		{"?grace=30m", 30 * time.Minute, 0, ""},
		{"?grace=1d", 24 * time.Hour, 0, ""},
		{"?grace=600", 10 * time.Minute, 0, ""},
		{"?grace=0s", -1, 0, ""},
		{"?lease-ttl=15", 0, 15 * time.Second, ""},
		{"?lease-ttl=1m30s", 0, 90 * time.Second, ""},
		{"?grace=1y", 0, 0, `etcd catalog URL "` + base + `?grace=1y": grace: want seconds (86400) or a duration such as 90s, 36h, 7d or 1w (want etcd://HOST:PORT[,HOST:PORT...]/PREFIX)`},
		{"?grace=-5s", 0, 0, `etcd catalog URL "` + base + `?grace=-5s": grace: want seconds (86400) or a duration such as 90s, 36h, 7d or 1w (want etcd://HOST:PORT[,HOST:PORT...]/PREFIX)`},
		{"?lease-ttl=500ms", 0, 0, `etcd catalog URL "` + base + `?lease-ttl=500ms": lease-ttl must be at least 1s (want etcd://HOST:PORT[,HOST:PORT...]/PREFIX)`},
	} {
		c, err := etcdstore.ParseURL(base + tc.query)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%s: error %v, want %q", tc.query, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.query, err)
			continue
		}
		if c.Grace != tc.grace || c.LeaseTTL != tc.ttl {
			t.Errorf("%s: grace %v, lease-ttl %v; want %v, %v", tc.query, c.Grace, c.LeaseTTL, tc.grace, tc.ttl)
		}
	}
}
