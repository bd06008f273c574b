package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

// notCatalog refuses what a stat alone shows is not a catalog file.
func notCatalog(path string, st fs.FileInfo) error {
	switch {
	case st.IsDir():
		return &catalog.NotCatalogError{Path: path, What: "a directory",
			Hint: "a catalog is one file, for example " + filepath.Join(path, "metactl.db")}
	case !st.Mode().IsRegular():
		return &catalog.NotCatalogError{Path: path, What: "not a regular file (" + st.Mode().Type().String() + ")",
			Hint: "a catalog is a regular file"}
	}
	return nil
}

func metadataFileError(path string) error {
	return &catalog.NotCatalogError{Path: path, What: "a metadata file",
		Hint: "a catalog is built from a storage that holds such files (metactl import --local-fs-dir DIR)"}
}

// isMetadataFile reports whether prefix, the start of the file at path,
// is an Aptos metadata file: its first line parses as a metadata line, or
// it is a gzip stream under a ".meta" name (bucket copies are gzip).
func isMetadataFile(path string, prefix []byte) bool {
	if bytes.HasPrefix(prefix, []byte{0x1f, 0x8b}) && strings.HasSuffix(path, ".meta") {
		return true
	}
	line, _, _ := bytes.Cut(prefix, []byte("\n"))
	_, err := aptos.ParseLine(line)
	return err == nil
}

// RemoveIfEmpty implements [catalog.EmptyRemover]: it removes the catalog
// file and its lock file, while this writable DB holds both locks, if no
// write was ever committed (generation 0, no file).
func (db *boltDB) RemoveIfEmpty(ctx context.Context) (bool, error) {
	if db.opts.ReadOnly {
		return false, catalog.ErrReadOnly
	}
	empty := false
	err := db.View(ctx, func(tx catalog.Tx) error {
		live, moved, err := tx.CountFiles()
		empty = err == nil && tx.Generation() == 0 && live+moved == 0
		return err
	})
	if err != nil || !empty {
		return false, err
	}
	// Both files go while this DB holds both locks: no other process can
	// be inside the catalog.
	if err := os.Remove(db.path); err != nil {
		return false, fmt.Errorf("remove empty catalog %s: %w", db.path, err)
	}
	_ = os.Remove(lockPath(db.path))
	return true, nil
}

var _ catalog.EmptyRemover = (*boltDB)(nil)
