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
	"github.com/metactl/metactl/internal/adaptersrv"
)

// The adapter server (internal/adaptersrv, docs/aptos-bridge.md): for a
// catalog that is not a file, this binary has no client of its own (no
// etcd, gRPC or HTTP), and metactl's start-up and dial cost a call more
// than the call. So the read calls, list_metadata_files and open_for_read
// of a metadata file, go to a per-host server that holds one catalog
// handle; the first call starts it and runs metactl, as does every call
// the server cannot answer.

// callVars are Aptos's call variables: the server is started with the
// caller's environment without them.
var callVars = []string{"FILE_HANDLE", "FILE_NAME", "BACKUP_HANDLE", "BACKUP_NAME"}

// viaServer answers the call of argv through the adapter server. It
// returns the exit code and true if the server answered, having written
// its answer; false, having written nothing, if the call is one to run
// with metactl (not a read call, the server off or not answering; then a
// server is started for the next calls).
func viaServer(argv []string) (int, bool) {
	if adaptersrv.Off(os.Getenv) {
		return 0, false
	}
	s, ok := adaptersrv.ParseServed(argv)
	if !ok {
		return 0, false
	}
	switch s.Req.Call {
	case adaptercall.CallListMetadataFiles:
	case adaptercall.CallOpenForRead:
		s.Req.Handle, s.Req.HandleSet = os.LookupEnv("FILE_HANDLE")
		if _, ok := adaptercall.MetadataHandle(s.Req.Handle); !ok || !s.Req.HandleSet {
			return 0, false
		}
	default:
		return 0, false
	}
	self, err := os.Executable()
	if err != nil {
		return 0, false
	}
	var startEnv []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !slices.Contains(callVars, k) {
			startEnv = append(startEnv, kv)
		}
	}
	key := adaptersrv.ServedKey(self, &s, os.Environ())
	dir := adaptersrv.Dir()
	if adaptersrv.CheckDir(dir, false) == nil {
		// A reader waits at most --lock-timeout for the catalog; a server
		// that takes much longer is not answering: metactl runs the call.
		resp, err := adaptersrv.Call(dir, key, &s.Req, s.Lock+time.Minute)
		if err == nil && !resp.Fallback {
			os.Stdout.Write(resp.Stdout)
			os.Stderr.Write(resp.Stderr)
			return resp.Code, true
		}
		if err == nil || !isNoServer(err) {
			return 0, false
		}
	}
	bin := filepath.Join(filepath.Dir(self), "metactl")
	argvServer := append(append([]string{bin}, s.Global...), "adapter-server", "--dir", dir, "--key", key,
		"--route", adaptersrv.RouteName(s.Global))
	adaptersrv.Start(dir, key, argvServer, startEnv)
	return 0, false
}

func isNoServer(err error) bool { return errors.Is(err, adaptersrv.ErrNoServer) }
