//go:build unix

package adaptersrv

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestOff(t *testing.T) {
	for _, tc := range []struct {
		server, failpoint string
		off               bool
	}{
		{"", "", false}, {"on", "", false}, {"off", "", true}, {"OFF", "", true}, {"Off", "", true},
		{"0", "", true}, {"false", "", true}, {"FALSE", "", true}, {"no", "", true}, {"No", "", true},
		{"1", "", false}, {"offf", "", false}, {"", "before-commit", true},
	} {
		env := map[string]string{OffEnv: tc.server, "METACTL_FAILPOINT": tc.failpoint}
		if got := Off(func(k string) string { return env[k] }); got != tc.off {
			t.Errorf("METACTL_ADAPTER_SERVER=%q METACTL_FAILPOINT=%q: off %v, want %v", tc.server, tc.failpoint, got, tc.off)
		}
	}
}

func TestKeyEnv(t *testing.T) {
	for name, want := range map[string]bool{
		"METACTL_HTTP_USER": true, "ETCDCTL_ENDPOINTS": true, "GRPC_GO_LOG_SEVERITY_LEVEL": true, "GODEBUG": true,
		"http_proxy": true, "HTTPS_PROXY": true, "No_Proxy": true, "SSL_CERT_FILE": true, "ssl_cert_dir": true,
		"METACTL_ADAPTER_CALLER_GOMAXPROCS": false, "GOMAXPROCS": false, "PATH": false, "HOME": false,
		"FILE_HANDLE": false, "XDG_RUNTIME_DIR": false, "TMPDIR": false, "metactl_x": false,
	} {
		if got := KeyEnv(name); got != want {
			t.Errorf("KeyEnv(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestServedKey: the key changes with each thing that decides an answer,
// and not with the rest of the environment or its order.
func TestServedKey(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "metactl-adapter")
	os.WriteFile(self, []byte("a"), 0o755)
	os.WriteFile(filepath.Join(dir, "metactl"), []byte("m"), 0o755)
	argv := []string{"--catalog", "etcd://h/x", "adapter", "--local-fs-dir", "/b", "list_metadata_files"}
	s, ok := ParseServed(argv)
	if !ok {
		t.Fatal("ParseServed refused")
	}
	base := ServedKey(self, &s, []string{"METACTL_A=1", "PATH=/bin", "GRPC_X=2"})
	if got := ServedKey(self, &s, []string{"GRPC_X=2", "HOME=/h", "METACTL_A=1", "METACTL_ADAPTER_CALLER_GOMAXPROCS=3", "GOMAXPROCS=1"}); got != base {
		t.Errorf("other variables changed the key")
	}
	if ServedKey(self, &s, []string{"METACTL_A=2", "GRPC_X=2"}) == base {
		t.Errorf("a key variable's value did not change the key")
	}
	s2, _ := ParseServed([]string{"--catalog", "etcd://h/y", "adapter", "--local-fs-dir", "/b", "list_metadata_files"})
	if ServedKey(self, &s2, []string{"METACTL_A=1", "GRPC_X=2"}) == base {
		t.Errorf("another catalog did not change the key")
	}
	os.WriteFile(filepath.Join(dir, "metactl"), []byte("mm"), 0o755)
	if ServedKey(self, &s, []string{"METACTL_A=1", "GRPC_X=2"}) == base {
		t.Errorf("metactl replaced did not change the key")
	}
}

// TestServerEnv: the server's environment is the caller's with
// schedtrace in its GODEBUG, whatever GODEBUG held; one that sets
// schedtrace is left alone, and so is the caller's slice.
func TestServerEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"no GODEBUG", []string{"A=1"}, []string{"A=1", "GODEBUG=" + SchedTrace}},
		{"nothing at all", nil, []string{"GODEBUG=" + SchedTrace}},
		{"an empty GODEBUG", []string{"GODEBUG=", "B=2"}, []string{"GODEBUG=" + SchedTrace, "B=2"}},
		{"other settings", []string{"GODEBUG=x509sha1=1,http2client=0"}, []string{"GODEBUG=x509sha1=1,http2client=0," + SchedTrace}},
		{"schedtrace set", []string{"GODEBUG=schedtrace=1000,a=1"}, []string{"GODEBUG=schedtrace=1000,a=1"}},
		{"GODEBUG twice: the first counts", []string{"GODEBUG=a=1", "GODEBUG=schedtrace=5"}, []string{"GODEBUG=a=1," + SchedTrace, "GODEBUG=schedtrace=5"}},
		{"a name that only starts with GODEBUG", []string{"GODEBUGX=1"}, []string{"GODEBUGX=1", "GODEBUG=" + SchedTrace}},
	} {
		in := append([]string(nil), tc.env...)
		got := serverEnv(in)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if !slices.Equal(in, tc.env) {
			t.Errorf("%s: the caller's environment changed to %q", tc.name, in)
		}
	}
}
