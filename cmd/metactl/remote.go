//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/scratch"
	"github.com/metactl/metactl/remote"
)

// httpFlags are the connection settings of a served catalog
// (--catalog http(s)://HOST:PORT), named as the etcd ones. Credentials
// come only from the environment, so they never show in a process listing.
type httpFlags struct {
	CACert string `name:"http-cacert" help:"Served catalogs (https://): verify the server's certificate with this CA bundle." env:"METACTL_HTTP_CACERT" placeholder:"FILE"`
	Cert   string `name:"http-cert" help:"Served catalogs: client TLS certificate (with --http-key)." env:"METACTL_HTTP_CERT" placeholder:"FILE"`
	Key    string `name:"http-key" help:"Served catalogs: key of --http-cert." env:"METACTL_HTTP_KEY" placeholder:"FILE"`
}

// remote returns the client of --catalog when it names a served catalog,
// else nil.
func (a *app) remote() (*remote.Client, error) {
	if !remote.IsURL(a.cli.Catalog) {
		return nil, nil
	}
	f := a.cli.HTTP
	return remote.New(a.cli.Catalog, remote.Options{CACert: f.CACert, Cert: f.Cert, Key: f.Key,
		User: getenv("METACTL_HTTP_USER"), Password: getenv("METACTL_HTTP_PASSWORD"), Timeout: time.Duration(a.cli.LockTimeout) + 5*time.Second, Wait: time.Duration(a.cli.LockTimeout)})
}

// query answers a read-only command's document from a served catalog
// (one request, one generation) when --catalog names one and no storage
// flag is given, else from the catalog opened by local.
func query[T any](a *app, storageGiven bool, fromRemote func(*remote.Client) (T, error), local func() (T, error)) (T, error) {
	if !storageGiven {
		r, err := a.remote()
		if err != nil {
			var zero T
			return zero, err
		}
		if r != nil {
			return fromRemote(r)
		}
	}
	return local()
}

// openRemote fetches the served catalog's current generation as an archive
// into a private temporary folder and opens it as any archive is opened:
// a command that reads the whole catalog (export) sees one generation.
func (a *app) openRemote(r *remote.Client, command string) (db catalog.DB, done func(), err error) {
	dir, err := scratch.Make("", "metactl-remote-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir) // the archive is unpacked into a catalog of its own
	path := filepath.Join(dir, "catalog.mcar")
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	working := a.working("download archive")
	_, err = r.Archive(a.ctx, f)
	working()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", command, err)
	}
	return a.openArchive(path, command)
}
