package etcdstore

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
)

// Connection holds what a catalog URL does not say: TLS files and
// credentials, named as etcdctl names them (--cacert, --cert, --key,
// --user, --password; ETCDCTL_USER and ETCDCTL_PASSWORD). Pass it to
// [catalog.Open] in Options.Backend (a Connection or a *Connection).
type Connection struct {
	CACert string // PEM file of the CA that signed the members' certificates
	Cert   string // PEM client certificate (mutual TLS)
	Key    string // PEM key of Cert
	// User is "name" or "name:password", as etcdctl's --user.
	User string
	// Password, if set, overrides a password given in User.
	Password string
}

// Apply fills cfg's TLS and credentials from c. TLS is on when any of
// CACert, Cert or Key is set (an empty CACert trusts the system roots).
func (c Connection) Apply(cfg *Config) error {
	if c.CACert != "" || c.Cert != "" || c.Key != "" {
		t := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.CACert != "" {
			pem, err := os.ReadFile(c.CACert)
			if err != nil {
				return fmt.Errorf("etcd CA certificate: %w", err)
			}
			t.RootCAs = x509.NewCertPool()
			if !t.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("etcd CA certificate %s: no PEM certificate in it", c.CACert)
			}
		}
		if (c.Cert == "") != (c.Key == "") {
			return fmt.Errorf("etcd client certificate: --etcd-cert and --etcd-key go together")
		}
		if c.Cert != "" {
			pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
			if err != nil {
				return fmt.Errorf("etcd client certificate: %w", err)
			}
			t.Certificates = []tls.Certificate{pair}
		}
		cfg.TLS = t
	}
	if c.User != "" {
		name, pw, _ := strings.Cut(c.User, ":")
		if c.Password != "" {
			pw = c.Password
		}
		cfg.Username, cfg.Password = name, pw
	}
	return nil
}
