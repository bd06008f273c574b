//go:build unix

package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/metactl/metactl/adaptercall"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/adaptersrv"
	"github.com/metactl/metactl/internal/timespan"
)

// The adapter server (internal/adaptersrv, docs/aptos-bridge.md): for a
// catalog that is not a file, this binary has no client of its own (no
// etcd, gRPC or HTTP), and metactl's start-up and dial cost a call more
// than the call. So the read calls, list_metadata_files and open_for_read
// of a metadata file, go to a per-host server that holds one catalog
// handle; the first call starts it and runs metactl, as does every call
// the server cannot answer.

// serverEnv turns the server off: METACTL_ADAPTER_SERVER=off (or 0, false,
// no) runs every call through metactl, as before the server.
const serverEnv = "METACTL_ADAPTER_SERVER"

// servedCall is a command line the server may answer.
type servedCall struct {
	global []string // the options before "adapter", as given
	req    adaptersrv.Request
	lock   time.Duration
	paths  []string // files the options name (certificates)
}

// parseServed reads a command line of adapter-config's shape for a
// catalog URL: --catalog URL [--lock-timeout DUR] [--etcd-cacert F]
// [--etcd-cert F] [--etcd-key F] adapter [--adapter-timeout DUR]
// (--local-fs-dir DIR | --command-adapter-config FILE) CALL, with absolute
// paths. ok is false for anything else.
func parseServed(argv []string) (s servedCall, ok bool) {
	s.lock = 30 * time.Second
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
			s.lock = d
		case "--etcd-cacert", "--etcd-cert", "--etcd-key":
			if !filepath.IsAbs(v) {
				return s, false
			}
			s.paths = append(s.paths, v)
		default:
			return s, false
		}
		s.global = append(s.global, w, v)
	}
	if i >= len(argv) || !catalog.IsURL(loc) {
		return s, false
	}
	for i++; i < len(argv); i++ {
		w := argv[i]
		if !strings.HasPrefix(w, "-") {
			if s.req.Call != "" {
				return s, false
			}
			s.req.Call = w
			continue
		}
		if i+1 >= len(argv) {
			return s, false
		}
		i++
		v := argv[i]
		switch w {
		case "--adapter-timeout":
			s.req.AdapterTimeout = v
		case "--local-fs-dir":
			s.req.LocalFsDir = v
		case "--command-adapter-config":
			s.req.CommandAdapterConfig = v
		default:
			return s, false
		}
		if (w != "--adapter-timeout") && !filepath.IsAbs(v) {
			return s, false
		}
	}
	return s, s.req.Call != "" && (s.req.LocalFsDir == "") != (s.req.CommandAdapterConfig == "")
}

// keyEnv reports whether metactl reads the environment variable name when
// it reads a catalog: its own and etcdctl's variables, gRPC's, the
// proxies and the system's certificate roots. Their values are part of
// the server's key.
func keyEnv(name string) bool {
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

// callVars are Aptos's call variables: the server is started with the
// caller's environment without them.
var callVars = []string{"FILE_HANDLE", "FILE_NAME", "BACKUP_HANDLE", "BACKUP_NAME"}

// viaServer answers the call of argv through the adapter server. It
// returns the exit code and true if the server answered, having written
// its answer; false, having written nothing, if the call is one to run
// with metactl (not a read call, the server off or not answering; then a
// server is started for the next calls).
func viaServer(argv []string) (int, bool) {
	switch strings.ToLower(os.Getenv(serverEnv)) {
	case "off", "0", "false", "no":
		return 0, false
	}
	if os.Getenv("METACTL_FAILPOINT") != "" {
		return 0, false // crash tests arm metactl itself
	}
	s, ok := parseServed(argv)
	if !ok {
		return 0, false
	}
	switch s.req.Call {
	case adaptercall.CallListMetadataFiles:
	case adaptercall.CallOpenForRead:
		s.req.Handle, s.req.HandleSet = os.LookupEnv("FILE_HANDLE")
		if _, ok := adaptercall.MetadataHandle(s.req.Handle); !ok || !s.req.HandleSet {
			return 0, false
		}
	default:
		return 0, false
	}
	self, err := os.Executable()
	if err != nil {
		return 0, false
	}
	bin := filepath.Join(filepath.Dir(self), "metactl")
	parts := []string{adaptersrv.FileIdentity(self), adaptersrv.FileIdentity(bin)}
	parts = append(parts, s.global...)
	for _, p := range s.paths {
		parts = append(parts, adaptersrv.FileIdentity(p))
	}
	var env, startEnv []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if keyEnv(k) {
			env = append(env, kv)
		}
		if !slices.Contains(callVars, k) {
			startEnv = append(startEnv, kv)
		}
	}
	slices.Sort(env)
	key := adaptersrv.Key(append(parts, env...)...)
	dir := adaptersrv.Dir()
	if adaptersrv.CheckDir(dir, false) == nil {
		// A reader waits at most --lock-timeout for the catalog; a server
		// that takes much longer is not answering: metactl runs the call.
		resp, err := adaptersrv.Call(dir, key, &s.req, s.lock+time.Minute)
		if err == nil && !resp.Fallback {
			os.Stdout.Write(resp.Stdout)
			os.Stderr.Write(resp.Stderr)
			return resp.Code, true
		}
		if err == nil || !isNoServer(err) {
			return 0, false
		}
	}
	argvServer := append(append([]string{bin}, s.global...), "adapter-server", "--dir", dir, "--key", key)
	adaptersrv.Start(dir, key, argvServer, startEnv)
	return 0, false
}

func isNoServer(err error) bool { return errors.Is(err, adaptersrv.ErrNoServer) }
