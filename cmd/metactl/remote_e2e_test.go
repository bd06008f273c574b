package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestRemoteCatalogEqualsLocal: every read-only command given
// --catalog http://... (a catalog that 'metactl serve' serves) prints
// byte for byte what it prints on the local catalog, text and --json,
// with the same exit code; export reads one generation through the
// archive; writes are refused with exit 2 naming the reason.
func TestRemoteCatalogEqualsLocal(t *testing.T) {
	t.Parallel()
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	must(t, cat, []string{"METACTL_NOW=1700000000"}, "compact", "--transaction-file-compact-factor", "30")
	base, cmd, _ := startServe(t, cat)
	for _, args := range [][]string{
		{"status"}, {"ls"}, {"ls", "--state", "moved", "-l"}, {"read", "identity.meta", "metadata/transaction_0-0.meta"},
		{"read", "metadata/nope.meta"}, {"plan"}, {"plan", "--target-version", "5000000"}, {"plan", "--target-version", "999999999999", "--strict"},
		{"verify"}, {"log"}, {"log", "-n", "0", "--files"},
	} {
		for _, json := range []bool{false, true} {
			a := args
			if json {
				a = append([]string{"--json"}, args...)
			}
			local := metactl(t, cat, nil, a...)
			remote := metactl(t, base, nil, a...)
			if remote.stdout != local.stdout || remote.code != local.code {
				t.Errorf("%s: remote differs from local:\n%s\nlocal:\n%s", strings.Join(a, " "), remote, local)
			}
		}
	}
	// export reads the generation's archive: the same folder.
	dl, dr := t.TempDir(), t.TempDir()
	must(t, cat, nil, "export", "--local-fs-dir", dl)
	must(t, base, nil, "export", "--local-fs-dir", dr)
	for _, sub := range []string{"metadata", "metadata_backup"} {
		el, _ := os.ReadDir(filepath.Join(dl, sub))
		er, _ := os.ReadDir(filepath.Join(dr, sub))
		if (sub == "metadata" && len(el) == 0) || len(el) != len(er) {
			t.Errorf("export %s: %d files from the remote catalog, %d from the local", sub, len(er), len(el))
		}
	}
	for _, args := range [][]string{{"import", "--local-fs-dir", dl}, {"compact"}, {"cleanup", "--older-than", "1d"}, {"undo", "1"}} {
		r := metactl(t, base, nil, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "served by 'metactl serve', which is read-only") {
			t.Errorf("%s on a remote catalog: %s", args[0], r)
		}
	}
	stopServe(t, cmd)
}

// TestRemoteCatalogTLSAndAuth: a served catalog behind --web-config-file
// (TLS and basic auth) is read with --http-cacert and METACTL_HTTP_USER /
// METACTL_HTTP_PASSWORD, with the local output; without the credentials
// it is refused with a clear message and exit 1.
func TestRemoteCatalogTLSAndAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeCert(t, dir, "serve", true, nil, nil)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	os.WriteFile(webConfig, []byte("tls_server_config:\n  cert_file: "+filepath.Join(dir, "serve.pem")+"\n  key_file: "+
		filepath.Join(dir, "serve-key.pem")+"\nbasic_auth_users:\n  restore: "+string(hash)+"\n"), 0o600)
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", filepath.Join(repoRoot(t), "testdata", "sample"))
	base, cmd, _ := startServe(t, cat, "--web-config-file", webConfig)
	base = "https://" + strings.TrimPrefix(base, "http://")
	ca := "--http-cacert=" + filepath.Join(dir, "serve.pem")
	want := must(t, cat, nil, "--json", "status").stdout
	if got := must(t, base, []string{"METACTL_HTTP_USER=restore", "METACTL_HTTP_PASSWORD=s3cret"}, ca, "--json", "status").stdout; got != want {
		t.Errorf("status over TLS: %s\nwant %s", got, want)
	}
	if got := must(t, base, []string{"METACTL_HTTP_USER=restore:s3cret"}, ca, "--json", "status").stdout; got != want {
		t.Errorf("status with name:password: %s", got)
	}
	r := metactl(t, base, nil, ca, "status")
	if r.code != 1 || !strings.Contains(r.stderr, "unauthorized: give METACTL_HTTP_USER and METACTL_HTTP_PASSWORD") {
		t.Errorf("without credentials: %s", r)
	}
	r = metactl(t, base, []string{"METACTL_HTTP_USER=restore", "METACTL_HTTP_PASSWORD=s3cret"}, "status")
	if r.code != 1 || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("without the CA: %s", r)
	}
	stopServe(t, cmd)
}
