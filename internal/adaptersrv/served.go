//go:build unix

package adaptersrv

import (
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/metactl/metactl/adaptercall"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/timespan"
)

// OffEnv turns the server off: METACTL_ADAPTER_SERVER=off (or 0, false,
// no, in any case) runs every call through metactl, as before the server,
// and turns the fast path off too.
const OffEnv = "METACTL_ADAPTER_SERVER"

// Off reports whether the environment that getenv reads turns the server
// off, or arms a crash test's failpoint (those arm metactl itself).
func Off(getenv func(string) string) bool {
	switch strings.ToLower(getenv(OffEnv)) {
	case "off", "0", "false", "no":
		return true
	}
	return getenv("METACTL_FAILPOINT") != ""
}

// Served is a command line the server may answer.
type Served struct {
	Global []string // the options before "adapter", as given
	Req    Request  // Handle not yet set
	Lock   time.Duration
	Paths  []string // files the options name (certificates)
}

// ParseServed reads a command line of adapter-config's shape for a
// catalog URL: --catalog URL [--lock-timeout DUR] [--etcd-cacert F]
// [--etcd-cert F] [--etcd-key F] adapter [--adapter-timeout DUR]
// (--local-fs-dir DIR | --command-adapter-config FILE) CALL, with absolute
// paths. ok is false for anything else.
func ParseServed(argv []string) (s Served, ok bool) {
	s.Lock = 30 * time.Second
	loc := ""
	i := 0
	for ; i < len(argv) && argv[i] != "adapter"; i += 2 {
		if i+1 >= len(argv) {
			return s, false
		}
		w, v := argv[i], argv[i+1]
		switch w {
		case "--catalog":
			loc = v
		case "--lock-timeout":
			d, err := timespan.Parse(v)
			if err != nil {
				return s, false
			}
			s.Lock = d
		case "--etcd-cacert", "--etcd-cert", "--etcd-key":
			if !filepath.IsAbs(v) {
				return s, false
			}
			s.Paths = append(s.Paths, v)
		default:
			return s, false
		}
		s.Global = append(s.Global, w, v)
	}
	if i >= len(argv) || !catalog.IsURL(loc) {
		return s, false
	}
	for i++; i < len(argv); i++ {
		w := argv[i]
		if !strings.HasPrefix(w, "-") {
			if s.Req.Call != "" {
				return s, false
			}
			s.Req.Call = w
			continue
		}
		if i+1 >= len(argv) {
			return s, false
		}
		i++
		v := argv[i]
		switch w {
		case "--adapter-timeout":
			s.Req.AdapterTimeout = v
		case "--local-fs-dir":
			s.Req.LocalFsDir = v
		case "--command-adapter-config":
			s.Req.CommandAdapterConfig = v
		default:
			return s, false
		}
		if (w != "--adapter-timeout") && !filepath.IsAbs(v) {
			return s, false
		}
	}
	return s, s.Req.Call != "" && (s.Req.LocalFsDir == "") != (s.Req.CommandAdapterConfig == "")
}

// KeyEnv reports whether metactl reads the environment variable name when
// it reads a catalog: its own and etcdctl's variables, gRPC's, the
// proxies and the system's certificate roots. Their values are part of
// the server's key. [adaptercall.CallerGOMAXPROCS] is not: a generated
// config sets it for metactl-adapter alone, which removes it first thing.
func KeyEnv(name string) bool {
	if name == adaptercall.CallerGOMAXPROCS {
		return false
	}
	for _, p := range []string{"METACTL_", "ETCDCTL_", "GRPC_", "GODEBUG"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	switch strings.ToUpper(name) {
	case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR":
		return true
	}
	return false
}

// ServedKey is the server key of the call s made by the metactl-adapter
// binary at self (os.Executable's path) in the environment environ
// ("NAME=value" entries): a hash of the identity (path, size,
// modification time) of self and of the metactl beside it, the global
// options, the identity of the files they name, and the [KeyEnv]
// variables. The client finds its server by it; the server answers a
// fast-path request only if the request's key is its own.
func ServedKey(self string, s *Served, environ []string) string {
	bin := filepath.Join(filepath.Dir(self), "metactl")
	parts := []string{FileIdentity(self), FileIdentity(bin)}
	parts = append(parts, s.Global...)
	for _, p := range s.Paths {
		parts = append(parts, FileIdentity(p))
	}
	var env []string
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); KeyEnv(k) {
			env = append(env, kv)
		}
	}
	slices.Sort(env)
	return Key(append(parts, env...)...)
}
