package etcdstore_test

import (
	"strings"
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

// TestParseURL: the accepted form, and every refused one with its exact
// error.
func TestParseURL(t *testing.T) {
	c, err := etcdstore.ParseURL("etcd://10.0.0.1:2379,etcd-1.svc:2380,[::1]:2379/metactl/mainnet?value-size=65536")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Endpoints, " ") != "10.0.0.1:2379 etcd-1.svc:2380 [::1]:2379" || c.Prefix != "/metactl/mainnet" || c.ValueSize != 65536 ||
		c.String() != "etcd://10.0.0.1:2379,etcd-1.svc:2380,[::1]:2379/metactl/mainnet" {
		t.Fatalf("parsed %+v", c)
	}
	const want = " (want etcd://HOST:PORT[,HOST:PORT...]/PREFIX)"
	for _, tc := range []struct{ in, err string }{
		{"http://h:1/p", `etcd catalog URL "http://h:1/p": not an etcd:// URL` + want},
		{"etcd://h:1", `etcd catalog URL "etcd://h:1": no prefix` + want},
		{"etcd://h:1/", `etcd catalog URL "etcd://h:1/": prefix "/" must be non-empty, without empty segments or a trailing /` + want},
		{"etcd://h:1/a/", `etcd catalog URL "etcd://h:1/a/": prefix "/a/" must be non-empty, without empty segments or a trailing /` + want},
		{"etcd://h:1/a//b", `etcd catalog URL "etcd://h:1/a//b": prefix "/a//b" must be non-empty, without empty segments or a trailing /` + want},
		{"etcd://h/p", `etcd catalog URL "etcd://h/p": endpoint "h" is not HOST:PORT` + want},
		{"etcd://:2379/p", `etcd catalog URL "etcd://:2379/p": endpoint ":2379" is not HOST:PORT` + want},
		{"etcd://h:1,/p", `etcd catalog URL "etcd://h:1,/p": endpoint "" is not HOST:PORT` + want},
		{"etcd://h:0/p", `etcd catalog URL "etcd://h:0/p": endpoint "h:0": bad port` + want},
		{"etcd://h:65536/p", `etcd catalog URL "etcd://h:65536/p": endpoint "h:65536": bad port` + want},
		{"etcd://h:x/p", `etcd catalog URL "etcd://h:x/p": endpoint "h:x": bad port` + want},
		{"etcd://h:1/p?value-size=100", `etcd catalog URL "etcd://h:1/p?value-size=100": value-size must be a number of bytes from 4096 to 1048576` + want},
		{"etcd://h:1/p?compact=maybe", `etcd catalog URL "etcd://h:1/p?compact=maybe": compact must be on or off` + want},
		{"etcd://h:1/p?cache=maybe", `etcd catalog URL "etcd://h:1/p?cache=maybe": cache must be on or off` + want},
		{"etcd://h:1/p?color=red", `etcd catalog URL "etcd://h:1/p?color=red": unknown option "color" (known: lease-ttl, grace, value-size, txn-bytes, txn-ops, compact, cache)` + want},
		{"etcd://h:1/p?grace=%zz", `etcd catalog URL "etcd://h:1/p?grace=%zz": options: invalid URL escape "%zz"` + want},
	} {
		_, err := etcdstore.ParseURL(tc.in)
		if err == nil || err.Error() != tc.err {
			t.Errorf("%s:\n got %v\nwant %s", tc.in, err, tc.err)
		}
	}
}

// FuzzParseURL: any string parses or is refused, never panics; what
// parses prints back as a URL that parses to the same endpoints and
// prefix.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"etcd://h:1/p", "etcd://a:1,b:2/x/y?grace=1d&lease-ttl=5s&value-size=8192&compact=off", "etcd://[::1]:2379/p", "etcd:///", "etcd://h:1/p?%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := etcdstore.ParseURL(s)
		if err != nil {
			return
		}
		again, err := etcdstore.ParseURL(c.String())
		if err != nil {
			t.Fatalf("%q parsed, its String %q does not: %v", s, c.String(), err)
		}
		if strings.Join(again.Endpoints, ",") != strings.Join(c.Endpoints, ",") || again.Prefix != c.Prefix {
			t.Fatalf("%q: round trip %+v != %+v", s, again, c)
		}
	})
}
