//go:build unix

package main

// Catalog backends linked into metactl. Each backend lives in its own
// package under catalog/, registers its URL scheme with
// [catalog.Register] (and its bulk build, copy-in and snapshot with
// [catalog.RegisterCreate], [catalog.RegisterLoad] and
// [catalog.Snapshotter]) from an init function, and is linked in here with
// an import. The file backend opens every plain path.
//
// Nothing else in metactl names a backend (etcdflags.go makes the etcd
// backend's connection options): every command opens, creates, copies and
// removes its catalog through the catalog API. The layout test
// (internal/layout, TestNoBackendNamed) keeps it so.

import (
	_ "github.com/metactl/metactl/catalog/boltstore" // catalog files: a plain path or file://PATH
	"github.com/metactl/metactl/catalog/etcdstore"   // --catalog etcd://HOST:PORT[,...]/PREFIX
)

// checkURL refuses a malformed catalog URL as a usage error (exit 2), as a
// --catalog naming a folder is, before anything is opened.
func checkURL(location string) error {
	if etcdstore.IsURL(location) {
		if _, err := etcdstore.ParseURL(location); err != nil {
			return usageError{err}
		}
	}
	return nil
}
