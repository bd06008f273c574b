//go:build unix

package main

import (
	"bufio"
	"os"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/remote"
)

// checkCatalogPath names the usual slips with --catalog as the mistakes they
// are, before the catalog package opens the path and calls it damage: a
// folder, a metadata file, and an archive given to a write command (read-only
// commands accept one). Exit 2, nothing opened, created or locked. A path
// that does not exist, a URL, or anything else is left to catalog.Open.
func checkCatalogPath(path string, write bool) error {
	if write && remote.IsURL(path) {
		return usagef("--catalog %s is a catalog served by 'metactl serve', which is read-only: run write commands where the catalog lives", path)
	}
	if catalog.Scheme(path) != "" {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil
	}
	switch {
	case st.IsDir():
		return usagef("--catalog %s is a directory, not a catalog file (a storage folder goes to --local-fs-dir; the catalog is a file such as %s/metactl.db)", path, path)
	case !st.Mode().IsRegular():
		return nil
	case write && isArchiveFile(path):
		return usagef("--catalog %s is an archive; read-only commands accept it, write commands need a catalog (metactl import --archive %s)", path, path)
	case isMetadataFile(path):
		return usagef("--catalog %s is a metadata file, not a catalog (import the storage folder that holds it with 'metactl import --local-fs-dir DIR')", path)
	}
	return nil
}

// isMetadataFile reports whether the first line of the file at path is an
// Aptos metadata line.
func isMetadataFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 64<<10).ReadSlice('\n')
	if err != nil && len(line) == 0 {
		return false
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	_, err = aptos.ParseLine(line)
	return err == nil
}
