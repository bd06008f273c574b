package workflow

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/internal/scratch"
)

// Kind is what a catalog location names.
type Kind int

const (
	// Missing: a path where nothing is; a writable open creates a
	// catalog there.
	Missing Kind = iota
	// CatalogFile: a regular file that is not one of the kinds below:
	// a catalog, or a damaged one (catalog.Open tells them apart).
	CatalogFile
	// URL: "<scheme>://...", a registered backend's; never looked at.
	URL
	// ArchiveFile: an archive ('export --archive'), which read-only work
	// reads as a catalog.
	ArchiveFile
	// Directory: a folder, not a catalog.
	Directory
	// MetadataFile: an Aptos metadata file, not a catalog.
	MetadataFile
	// Special: not a regular file (a device, a fifo); left to catalog.Open.
	Special
)

// IsURL reports whether location names a catalog behind a URL (etcd://,
// http(s)://) rather than a file.
func IsURL(location string) bool { return catalog.IsURL(location) }

// Classify says what location names. It reads at most the first line of a
// file, and nothing of a URL.
func Classify(location string) Kind {
	if catalog.Scheme(location) != "" {
		return URL
	}
	st, err := os.Stat(location)
	switch {
	case err != nil:
		return Missing
	case st.IsDir():
		return Directory
	case !st.Mode().IsRegular():
		return Special
	}
	f, err := os.Open(location)
	if err != nil {
		return CatalogFile
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, buf)
	buf = buf[:n]
	switch {
	case archive.IsArchive(buf):
		return ArchiveFile
	case isMetadataLine(buf):
		return MetadataFile
	}
	return CatalogFile
}

// LocationError says that a location names something that cannot serve as
// a catalog for the work asked (Write: a write). It wraps
// catalog.ErrNotCatalog: a mistake in the location, not damage.
type LocationError struct {
	Location string
	Kind     Kind // Directory, MetadataFile, or ArchiveFile for a write
	Write    bool
}

func (e *LocationError) Error() string {
	switch e.Kind {
	case Directory:
		return fmt.Sprintf("catalog %s is a directory, not a catalog file", e.Location)
	case ArchiveFile:
		return fmt.Sprintf("catalog %s is an archive, and a write needs a catalog", e.Location)
	}
	return fmt.Sprintf("catalog %s is a metadata file, not a catalog", e.Location)
}

func (e *LocationError) Unwrap() error { return catalog.ErrNotCatalog }

// Check refuses, with a *LocationError, a location that cannot hold a
// catalog (a directory, a metadata file) or, for a write, is an archive.
// Nothing is opened, created or locked.
func Check(location string, write bool) error {
	switch k := Classify(location); {
	case k == Directory, k == MetadataFile, k == ArchiveFile && write:
		return &LocationError{Location: location, Kind: k, Write: write}
	}
	return nil
}

// Location is a catalog location as a [Catalog]: a catalog file, the URL
// of a registered backend, or an archive, which OpenRead reads into a
// throwaway catalog. Options gives the options of every open.
type Location struct {
	Path    string
	Opts    func(readOnly bool, command string) *catalog.Options
	Working func(what string) (done func()) // reading an archive; nil: quiet
}

var _ Catalog = (*Location)(nil)

// Location returns the location as given.
func (l *Location) Location() string { return l.Path }

// Options returns the options to open the catalog with for command.
func (l *Location) Options(readOnly bool, command string) *catalog.Options {
	return l.Opts(readOnly, command)
}

// CheckWrite is Check(l.Path, true).
func (l *Location) CheckWrite() error { return Check(l.Path, true) }

// Exists reports whether something is at the location (a URL counts as
// existing: its backend creates nothing on a failed write).
func (l *Location) Exists() bool {
	if catalog.Scheme(l.Path) != "" {
		return true
	}
	_, err := os.Lstat(l.Path)
	return err == nil
}

// OpenRead opens the catalog read-only; an archive is first read into a
// private catalog in a temporary folder. done closes the catalog and
// removes that folder.
func (l *Location) OpenRead(ctx context.Context, command string) (catalog.DB, func(), error) {
	switch k := Classify(l.Path); k {
	case Directory, MetadataFile:
		return nil, nil, &LocationError{Location: l.Path, Kind: k}
	case ArchiveFile:
		return OpenArchive(ctx, l.Path, l.Opts(true, command), l.Working)
	}
	db, err := catalog.Open(ctx, l.Path, l.Opts(true, command))
	if err != nil {
		return nil, nil, err
	}
	return db, func() { db.Close() }, nil
}

// OpenWrite opens the catalog for one write transaction, creating it if it
// is missing. Close it as soon as the transaction is done.
func (l *Location) OpenWrite(ctx context.Context, command string) (catalog.DB, error) {
	if err := l.CheckWrite(); err != nil {
		return nil, err
	}
	return catalog.Open(ctx, l.Path, l.Opts(false, command))
}

// OpenExisting is OpenWrite for work that cannot start a catalog: a
// missing one is refused (catalog.MustExist) instead of leaving an empty
// catalog behind a typo.
func (l *Location) OpenExisting(ctx context.Context, command string) (catalog.DB, error) {
	if err := l.CheckWrite(); err != nil {
		return nil, err
	}
	o := l.Opts(false, command)
	o.Mode = catalog.MustExist
	return catalog.Open(ctx, l.Path, o)
}

// RemoveIfFresh undoes what a failed first write left: if the catalog did
// not exist before (existed false) and no write was committed to it, it is
// removed (catalog.RemoveIfEmpty). It runs even after the work's context
// ended.
func (l *Location) RemoveIfFresh(existed bool) {
	if !existed {
		_, _ = catalog.RemoveIfEmpty(context.Background(), l.Path, time.Second)
	}
}

// MakeDir creates the folder of a catalog file if it is missing (a cache
// folder that does not exist yet); a URL has none.
func (l *Location) MakeDir() error {
	if catalog.Scheme(l.Path) != "" {
		return nil
	}
	return os.MkdirAll(filepath.Dir(l.Path), 0o755)
}

// OpenArchive reads the archive at path into a private catalog in a new
// temporary folder, with the history it carries (generation and journal as
// at export), and opens that read-only with o; done closes it and removes
// the folder. working, if set, reports the read.
func OpenArchive(ctx context.Context, path string, o *catalog.Options, working func(string) func()) (catalog.DB, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	done := func() {}
	if working != nil {
		done = working("read archive")
	}
	arc, err := importer.ReadArchive(ctx, f, importer.Options{Source: "archive:" + path, Now: o.Now})
	done()
	if err != nil {
		return nil, nil, fmt.Errorf("open archive %q: %w", path, err)
	}
	db, cleanup, err := TempCatalog(ctx, "", "metactl-archive-", o, func(db catalog.DB) error {
		if _, err := arc.Commit(ctx, db); err != nil {
			return err
		}
		return db.RestoreHistory(arc.Header.Generation, arc.Journal)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open archive %q: %w", path, err)
	}
	return db, cleanup, nil
}

// UnpackArchive reads the archive at path into a catalog file in a new
// temporary folder, with the history it carries, and returns that file's
// path, for a caller that opens it again and again (serve); cleanup removes
// the folder. o gives the command and clock.
func UnpackArchive(ctx context.Context, path string, o *catalog.Options) (tmp string, cleanup func(), err error) {
	dir, err := scratch.Make("", "metactl-archive-")
	if err != nil {
		return "", nil, err
	}
	// Not the named result: a failed return sets that to nil.
	remove := func() { os.RemoveAll(dir) }
	defer func() {
		if err != nil {
			remove()
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	arc, err := importer.ReadArchive(ctx, f, importer.Options{Source: "archive:" + path, Now: o.Now})
	if err != nil {
		return "", nil, fmt.Errorf("open archive %q: %w", path, err)
	}
	tmp = filepath.Join(dir, "catalog.db")
	db, err := catalog.Open(ctx, tmp, &catalog.Options{NoSync: true, Command: o.Command, Now: o.Now})
	if err != nil {
		return "", nil, err
	}
	defer db.Close()
	if _, err := arc.Commit(ctx, db); err != nil {
		return "", nil, fmt.Errorf("open archive %q: %w", path, err)
	}
	if err := db.RestoreHistory(arc.Header.Generation, arc.Journal); err != nil {
		return "", nil, fmt.Errorf("open archive %q: %w", path, err)
	}
	return tmp, remove, nil
}

// TempCatalog makes a private catalog file in a new temporary folder under
// parent ("" for the system's), lets fill write it (unsynced: it is thrown
// away), and opens it read-only with o's command and clock. done closes it
// and removes the folder; on an error nothing is left behind.
func TempCatalog(ctx context.Context, parent, prefix string, o *catalog.Options, fill func(catalog.DB) error) (catalog.DB, func(), error) {
	dir, err := scratch.Make(parent, prefix)
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	tmp := filepath.Join(dir, "catalog.db")
	db, err := catalog.Open(ctx, tmp, &catalog.Options{NoSync: true, Command: o.Command, Now: o.Now})
	if err == nil {
		err = fill(db)
		db.Close()
	}
	if err == nil {
		db, err = catalog.Open(ctx, tmp, &catalog.Options{ReadOnly: true, Command: o.Command, Now: o.Now})
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return db, func() { db.Close(); cleanup() }, nil
}

// isMetadataLine reports whether the first line of prefix is an Aptos
// metadata line.
func isMetadataLine(prefix []byte) bool {
	line, _, _ := bytes.Cut(prefix, []byte{'\n'})
	_, err := aptos.ParseLine(line)
	return err == nil
}
