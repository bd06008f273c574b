//go:build unix

package adaptersrv

import (
	"os"
	"path/filepath"
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
