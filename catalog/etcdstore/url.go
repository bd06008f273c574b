package etcdstore

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/metactl/metactl/internal/timespan"
)

// Scheme is the URL scheme of an etcd catalog.
const Scheme = "etcd"

// Config says where an etcd catalog lives and how to reach it.
type Config struct {
	// Endpoints are the members' client addresses, "host:port".
	Endpoints []string
	// Prefix is the key prefix under which the catalog lives, starting
	// with "/" and without a trailing one ("/metactl/mainnet").
	Prefix string
	// TLS, when non-nil, is used for every connection (https).
	TLS *tls.Config
	// Username and Password authenticate with etcd's auth, when set.
	Username, Password string
	// LeaseTTL is the writer lock's lease: how long a dead writer blocks
	// others. Zero means DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Grace is how long a superseded generation is kept for slow readers.
	// Zero means DefaultGrace; use a negative value for none.
	Grace time.Duration
	// ValueSize is the largest value put under one key; a larger file
	// (or journal record) is cut into chunks of this size. Zero means
	// DefaultValueSize.
	ValueSize int
	// TxnOps and TxnBytes bound one etcd transaction (etcd's own limits
	// are --max-txn-ops, 128 by default, and --max-request-bytes, 1.5 MiB):
	// a write that needs more is staged (see the package doc). Zero
	// means DefaultTxnOps and DefaultTxnBytes.
	TxnOps, TxnBytes int
	// NoCompact leaves etcd's history compaction to the cluster's own
	// --auto-compaction-* settings instead of requesting it after the grace
	// period.
	NoCompact bool
	// NoCache keeps no writer's local copy in the user's cache folder
	// for the next writer on the host (cache.go).
	NoCache bool
}

// Defaults of Config.
const (
	DefaultLeaseTTL  = 10 * time.Second
	DefaultGrace     = 10 * time.Minute
	DefaultValueSize = 256 << 10
	DefaultTxnOps    = 120
	DefaultTxnBytes  = 1 << 20
	maxValueSize     = 1 << 20
)

// IsURL reports whether s names an etcd catalog ("etcd://...").
func IsURL(s string) bool { return strings.HasPrefix(s, Scheme+"://") }

// ParseURL parses "etcd://HOST:PORT[,HOST:PORT...]/PREFIX[?OPTIONS]".
// OPTIONS are lease-ttl, grace (durations as every metactl flag takes them,
// internal/timespan: 600, 10m, 1d), value-size, txn-bytes (bytes), txn-ops,
// compact and cache (on, off), for
// example "etcd://10.0.0.1:2379,10.0.0.2:2379/metactl/mainnet?grace=30m".
// TLS and credentials are not part of the URL (see the package doc).
func ParseURL(s string) (*Config, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("etcd catalog URL %q: %s (want etcd://HOST:PORT[,HOST:PORT...]/PREFIX)", s, fmt.Sprintf(format, args...))
	}
	rest, ok := strings.CutPrefix(s, Scheme+"://")
	if !ok {
		return nil, bad("not an etcd:// URL")
	}
	hosts, path, ok := strings.Cut(rest, "/")
	if !ok {
		return nil, bad("no prefix")
	}
	path, query, _ := strings.Cut(path, "?")
	c := &Config{Prefix: "/" + path}
	for _, h := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return nil, bad("endpoint %q is not HOST:PORT", h)
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return nil, bad("endpoint %q: bad port", h)
		}
		c.Endpoints = append(c.Endpoints, h)
	}
	if path == "" || strings.HasSuffix(path, "/") || strings.Contains(path, "//") {
		return nil, bad("prefix %q must be non-empty, without empty segments or a trailing /", c.Prefix)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, bad("options: %v", err)
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "lease-ttl", "grace":
			d, err := timespan.Parse(v)
			if err != nil {
				return nil, bad("%s: %v", k, err)
			}
			if k == "grace" {
				c.Grace = d
				if d == 0 {
					c.Grace = -1
				}
			} else {
				if d < time.Second {
					return nil, bad("lease-ttl must be at least 1s")
				}
				c.LeaseTTL = d
			}
		case "value-size":
			n, err := strconv.Atoi(v)
			if err != nil || n < 4096 || n > maxValueSize {
				return nil, bad("value-size must be a number of bytes from 4096 to %d", maxValueSize)
			}
			c.ValueSize = n
		case "txn-bytes":
			n, err := strconv.Atoi(v)
			if err != nil || n < 16<<10 || n > 64<<20 {
				return nil, bad("txn-bytes must be a number of bytes from %d to %d", 16<<10, 64<<20)
			}
			c.TxnBytes = n
		case "txn-ops":
			n, err := strconv.Atoi(v)
			if err != nil || n < 8 || n > 1<<20 {
				return nil, bad("txn-ops must be a number from 8 to %d", 1<<20)
			}
			c.TxnOps = n
		case "cache":
			switch v {
			case "on":
				c.NoCache = false
			case "off":
				c.NoCache = true
			default:
				return nil, bad("cache must be on or off")
			}
		case "compact":
			switch v {
			case "on":
				c.NoCompact = false
			case "off":
				c.NoCompact = true
			default:
				return nil, bad("compact must be on or off")
			}
		default:
			return nil, bad("unknown option %q (known: lease-ttl, grace, value-size, txn-bytes, txn-ops, compact, cache)", k)
		}
	}
	return c, nil
}

// String returns the catalog's URL without options, for messages.
func (c *Config) String() string {
	return Scheme + "://" + strings.Join(c.Endpoints, ",") + c.Prefix
}

func (c *Config) withDefaults() Config {
	o := *c
	if o.LeaseTTL == 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}
	if o.Grace < 0 {
		o.Grace = 0
	}
	if o.ValueSize == 0 {
		o.ValueSize = DefaultValueSize
	}
	if o.TxnOps == 0 {
		o.TxnOps = DefaultTxnOps
	}
	if o.TxnBytes == 0 {
		o.TxnBytes = DefaultTxnBytes
	}
	return o
}
