package serve_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/remote"
	"github.com/metactl/metactl/serve"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "metactl-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	cert, key = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

// TestTLSAndAuth: with a web config, serve answers HTTPS only, every path
// needs the credentials, the health listener answers probes alone, and a
// remote client with the CA and the user reads the catalog; a web config
// without TLS is refused.
func TestTLSAndAuth(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	webConfig := filepath.Join(dir, "web.yml")
	os.WriteFile(webConfig, []byte("tls_server_config:\n  cert_file: "+cert+"\n  key_file: "+key+"\nbasic_auth_users:\n  restore: "+string(hash)+"\n"), 0o600)
	plainAuth := filepath.Join(dir, "auth-only.yml")
	os.WriteFile(plainAuth, []byte("basic_auth_users:\n  restore: "+string(hash)+"\n"), 0o600)
	if err := serve.CheckWebConfig(plainAuth); err == nil || !strings.Contains(err.Error(), "has no tls_server_config") || api.ExitCode(err) != api.ExitUsage {
		t.Errorf("web config without TLS: %v", err)
	}

	s, err := serve.New(serve.Options{Catalog: newCatalog(t, 20), ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := s.HTTPServer()
	done := make(chan error, 1)
	go func() { done <- serve.ServeWeb(s.Listener(ln), srv, webConfig, nil) }()
	defer func() {
		srv.Shutdown(context.Background())
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	addr := ln.Addr().String()
	// Plain HTTP is refused.
	if resp, body := get(t, "http://"+addr+"/healthz"); resp.StatusCode != 400 {
		t.Errorf("plain HTTP: %d %s", resp.StatusCode, body)
	}
	pem, _ := os.ReadFile(cert)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, p := range []string{"/v1/status", "/metrics", "/healthz", "/v1/archive"} {
		resp, err := client.Get("https://" + addr + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("%s without credentials: %d", p, resp.StatusCode)
		}
	}
	r, err := remote.New("https://"+addr, remote.Options{CACert: cert, User: "restore", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := r.Status(t.Context(), false); err != nil || st.LiveFiles == 0 {
		t.Errorf("remote status with credentials: %+v %v", st, err)
	}
	r, _ = remote.New("https://"+addr, remote.Options{CACert: cert, User: "restore:wrong"})
	if _, err := r.Status(t.Context(), false); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("remote status with a wrong password: %v", err)
	}
	// The health listener: probes only, no credentials.
	hln, _ := net.Listen("tcp", "127.0.0.1:0")
	hsrv := &http.Server{Handler: s.HealthHandler()}
	go hsrv.Serve(hln)
	defer hsrv.Close()
	if resp, _ := get(t, "http://"+hln.Addr().String()+"/readyz"); resp.StatusCode != 200 {
		t.Errorf("health listener /readyz: %d", resp.StatusCode)
	}
	if resp, _ := get(t, "http://"+hln.Addr().String()+"/v1/status"); resp.StatusCode != 404 {
		t.Errorf("health listener /v1/status: %d, want 404", resp.StatusCode)
	}
}
