package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/catalog/etcdstore"
	"github.com/metactl/metactl/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// writeCert writes a PEM certificate and key signed by parent (self-signed
// when parent is nil) and returns them.
func writeCert(t *testing.T, dir, name string, server bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		parent, parentKey = tmpl, key
	}
	if server {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// TestEtcdTLSAndAuth: an etcd member that requires client certificates
// and, once auth is on, a user: metactl reaches it with --etcd-cacert,
// --etcd-cert, --etcd-key and ETCDCTL_USER / ETCDCTL_PASSWORD, and fails
// with a clear error without them.
func TestEtcdTLSAndAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", false, nil, nil)
	writeCert(t, dir, "server", true, ca, caKey)
	writeCert(t, dir, "client", false, ca, caKey)
	f := func(n string) string { return filepath.Join(dir, n) }
	c, err := etcdtest.Start(filepath.Join(dir, "data"), 1, etcdtest.Options{CertFile: f("server.pem"), KeyFile: f("server-key.pem"), CAFile: f("ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	url := "etcd://" + c.Endpoints() + "/e2e-etcd/tls"
	tlsFlags := []string{"--etcd-cacert", f("ca.pem"), "--etcd-cert", f("client.pem"), "--etcd-key", f("client-key.pem")}
	sample := filepath.Join(repoRoot(t), "testdata", "sample")
	must(t, url, nil, append(tlsFlags, "import", "--local-fs-dir", sample)...)
	want := must(t, url, nil, append(tlsFlags, "status")...).stdout
	if !strings.Contains(want, "latest_transaction_version") {
		t.Fatalf("status over TLS: %s", want)
	}
	// The same through etcdctl's environment variables.
	env := []string{"ETCDCTL_CACERT=" + f("ca.pem"), "ETCDCTL_CERT=" + f("client.pem"), "ETCDCTL_KEY=" + f("client-key.pem")}
	if got := must(t, url, env, "status").stdout; got != want {
		t.Errorf("status with ETCDCTL_*: %q, want %q", got, want)
	}
	// Without TLS: a clear error within the timeout.
	if r := metactl(t, url, nil, "--lock-timeout", "2s", "status"); r.code != 1 || !strings.Contains(r.stderr, c.Endpoints()) {
		t.Errorf("status without TLS: %s", r)
	}

	// Auth on: root with a password.
	var cc etcdstore.Config
	if err := (etcdstore.Connection{CACert: f("ca.pem"), Cert: f("client.pem"), Key: f("client-key.pem")}).Apply(&cc); err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.Members[0].ClientURL}, TLS: cc.TLS, Logger: zap.NewNop(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	if _, err := cli.UserAdd(ctx, "root", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	// etcd maps a client certificate's common name to a user; a
	// certificate named for no user is refused, so use the password.
	for _, e := range [][]string{{"ETCDCTL_USER=root:s3cret"}, {"ETCDCTL_USER=root", "ETCDCTL_PASSWORD=s3cret"}} {
		if got := must(t, url, append(env, e...), "status").stdout; got != want {
			t.Errorf("status with %v: %q, want %q", e, got, want)
		}
	}
	r := metactl(t, url, append(env, "ETCDCTL_USER=root:wrong"), "--lock-timeout", "2s", "status")
	if r.code != 1 || !strings.Contains(r.stderr, "authentication failed") {
		t.Errorf("status with a wrong password: %s", r)
	}
	t.Logf("wrong password: %s", strings.TrimSpace(r.stderr))
}
