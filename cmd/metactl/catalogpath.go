//go:build unix

package main

import (
	"errors"

	"github.com/metactl/metactl/remote"
	"github.com/metactl/metactl/workflow"
)

// catalogUsage renders a [*workflow.LocationError], the usual slips with
// --catalog, as the usage mistakes they are (exit 2, nothing opened,
// created or locked): a folder, a metadata file, and an archive given to a
// write command (read-only commands accept one). Any other error is
// returned as it is.
func catalogUsage(err error) error {
	var le *workflow.LocationError
	if !errors.As(err, &le) {
		return err
	}
	path := le.Location
	switch le.Kind {
	case workflow.Directory:
		return usagef("--catalog %s is a directory, not a catalog file (a storage folder goes to --local-fs-dir; the catalog is a file such as %s/metactl.db)", path, path)
	case workflow.ArchiveFile:
		return usagef("--catalog %s is an archive; read-only commands accept it, write commands need a catalog (metactl import --archive %s)", path, path)
	}
	return usagef("--catalog %s is a metadata file, not a catalog (import the storage folder that holds it with 'metactl import --local-fs-dir DIR')", path)
}

// checkRemoteWrite refuses a write to a catalog served by 'metactl serve'.
func checkRemoteWrite(path string) error {
	if remote.IsURL(path) {
		return usagef("--catalog %s is a catalog served by 'metactl serve', which is read-only: run write commands where the catalog lives", path)
	}
	return nil
}

// checkCatalogPath refuses the usual slips with --catalog before any work
// (checkRemoteWrite, catalogUsage): write says whether the command writes.
func checkCatalogPath(path string, write bool) error {
	if write {
		if err := checkRemoteWrite(path); err != nil {
			return err
		}
	}
	return catalogUsage(workflow.Check(path, write))
}
