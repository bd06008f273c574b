//go:build unix

package main

// Catalog backends linked into metactl. The embedded bbolt backend is part
// of package catalog and opens every plain path; any other backend lives in
// its own package, registers its URL scheme with catalog.Register from an
// init function, and is linked in here with a blank import, for example:
//
//	import _ "github.com/metactl/metactl/catalog/etcd" // --catalog etcd://...
//
// Nothing else in metactl names a backend: every command opens its catalog
// with catalog.Open and uses the catalog.DB interface only.

import (
	"github.com/metactl/metactl/catalog/etcdstore" // --catalog etcd://HOST:PORT[,...]/PREFIX
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
