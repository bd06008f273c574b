//go:build unix

package main

import (
	"os"

	"github.com/metactl/metactl/catalog/etcdstore"
)

// etcdFlags are the connection settings of an etcd catalog
// (--catalog etcd://HOST:PORT[,HOST:PORT...]/PREFIX), named as etcdctl
// names them. Credentials come only from the environment, so they never
// show in a process listing.
type etcdFlags struct {
	CACert string `name:"etcd-cacert" help:"etcd catalogs: verify the members' TLS certificates with this CA bundle (turns TLS on)." env:"ETCDCTL_CACERT" placeholder:"FILE"`
	Cert   string `name:"etcd-cert" help:"etcd catalogs: client TLS certificate (turns TLS on; with --etcd-key)." env:"ETCDCTL_CERT" placeholder:"FILE"`
	Key    string `name:"etcd-key" help:"etcd catalogs: key of --etcd-cert." env:"ETCDCTL_KEY" placeholder:"FILE"`
}

// connection is the [catalog.Options.Backend] value of the flags.
func (f *etcdFlags) connection() etcdstore.Connection {
	return etcdstore.Connection{CACert: f.CACert, Cert: f.Cert, Key: f.Key,
		User: getenv("ETCDCTL_USER"), Password: getenv("ETCDCTL_PASSWORD")}
}

func getenv(k string) string { return os.Getenv(k) }
