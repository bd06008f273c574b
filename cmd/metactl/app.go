//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/catalog/boltstore"
	"github.com/metactl/metactl/compaction"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/metrics"
)

// app is what every command's Run receives: the process's context,
// writers, clock and global flags. Only this package prints or exits.
type app struct {
	ctx    context.Context
	stdin  io.Reader // where "-" reads an archive from
	stdout io.Writer
	stderr io.Writer
	cli    *CLI
	now    func() time.Time
	// progressEvery is how often progress records go to a non-terminal.
	progressEvery time.Duration
	// verified is set by verify, for --metrics-textfile.
	verified *metrics.Verify
}

func (a *app) options(readOnly bool, command string) *catalog.Options {
	t := time.Duration(a.cli.LockTimeout)
	if t <= 0 {
		t = -1 // do not wait
	}
	return &catalog.Options{ReadOnly: readOnly, Timeout: t, Command: "metactl " + command, Now: a.now}
}

// openWrite opens the catalog for one write transaction. Close it as soon
// as the transaction is done: it holds the exclusive lock.
func (a *app) openWrite(command string) (catalog.DB, error) {
	if err := checkCatalogPath(a.cli.Catalog, true); err != nil {
		return nil, err
	}
	return catalog.Open(a.ctx, a.cli.Catalog, a.options(false, command))
}

// openExisting is openWrite for commands that change a catalog but cannot
// start one (compact without a storage, cleanup, undo): a --catalog that
// names no file is refused as a read-only command refuses it, instead of
// leaving an empty catalog behind a typo.
func (a *app) openExisting(command string) (catalog.DB, error) {
	if err := checkCatalogPath(a.cli.Catalog, true); err != nil {
		return nil, err
	}
	if catalog.Scheme(a.cli.Catalog) != "" {
		// A backend behind a URL (etcd) says itself whether the catalog
		// exists: a read-only open refuses a missing one.
		db, err := catalog.Open(a.ctx, a.cli.Catalog, a.options(true, command))
		if err != nil {
			return nil, err
		}
		db.Close()
	} else if !a.catalogExists() {
		return nil, fmt.Errorf("open catalog %q: %w (create it with 'metactl import')", a.cli.Catalog, catalog.ErrNoCatalog)
	}
	return a.openWrite(command)
}

// removeIfFresh undoes what a failed first write left behind: if the
// catalog did not exist before this command (existed false) and no write
// was committed to it, the catalog file and its lock file are removed.
func (a *app) removeIfFresh(existed bool) {
	if existed {
		return
	}
	// The command's context may be canceled (SIGINT): this must still run.
	_, _ = boltstore.RemoveIfEmpty(context.Background(), a.cli.Catalog, time.Second)
}

// catalogExists reports whether --catalog names an existing file (a
// location with a URL scheme counts as existing: its backend creates
// nothing on a failed write).
func (a *app) catalogExists() bool {
	if catalog.Scheme(a.cli.Catalog) != "" {
		return true
	}
	_, err := os.Lstat(a.cli.Catalog)
	return err == nil
}

// makeCatalogDir creates the catalog's folder if it is missing, so a
// --metadata-cache-dir that does not exist yet (a fresh emptyDir) works.
func (a *app) makeCatalogDir() error {
	if catalog.Scheme(a.cli.Catalog) != "" {
		return nil // a URL (etcd://...), not a file
	}
	return os.MkdirAll(filepath.Dir(a.cli.Catalog), 0o755)
}

// openRead opens the catalog read-only. If --catalog names an archive, it
// is unpacked into a throwaway catalog in a temporary folder first; the
// returned function closes the catalog and removes that folder.
func (a *app) openRead(command string) (catalog.DB, func(), error) {
	path := a.cli.Catalog
	if err := checkCatalogPath(path, false); err != nil {
		return nil, nil, err
	}
	if isArchiveFile(path) {
		return a.openArchive(path, command)
	}
	if r, err := a.remote(); r != nil || err != nil {
		if err != nil {
			return nil, nil, err
		}
		return a.openRemote(r, command)
	}
	db, err := catalog.Open(a.ctx, path, a.options(true, command))
	if err != nil {
		return nil, nil, err
	}
	return db, func() { db.Close() }, nil
}

// openStorage imports the storage s into a private temporary catalog (in
// the cache folder if one is given, else in the system's temporary folder)
// and opens it read-only. The returned function closes it and removes the
// temporary folder. The catalog of --catalog is not touched.
func (a *app) openStorage(s *storageFlags, cache *cacheFlags, command string) (catalog.DB, func(), error) {
	src, err := s.source()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", command, err)
	}
	parent := cache.MetadataCacheDir
	if parent != "" {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, nil, fmt.Errorf("%s: metadata cache folder: %w", command, err)
		}
	}
	db, done, err := a.tempCatalog(parent, "metactl-query-", command, func(db catalog.DB) error {
		_, err := importer.FromStorage(a.ctx, db, src, importer.Options{Source: s.describe(), Concurrency: cache.concurrency()})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: read storage: %w", command, err)
	}
	return db, done, nil
}

// tempCatalog makes a private catalog in a new temporary folder under
// parent ("" for the system's), lets fill write it (unsynced: it is thrown
// away), and opens it read-only. The returned function closes it and
// removes the folder; on an error nothing is left behind.
func (a *app) tempCatalog(parent, prefix, command string, fill func(catalog.DB) error) (catalog.DB, func(), error) {
	dir, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	tmp := filepath.Join(dir, "catalog.db")
	db, err := catalog.Open(a.ctx, tmp, &catalog.Options{NoSync: true, Command: "metactl " + command, Now: a.now})
	if err == nil {
		err = fill(db)
		db.Close()
	}
	if err == nil {
		db, err = catalog.Open(a.ctx, tmp, &catalog.Options{ReadOnly: true, Command: "metactl " + command, Now: a.now})
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return db, func() { db.Close(); cleanup() }, nil
}

func isArchiveFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return false
	}
	return archive.IsArchive(magic[:])
}

func (a *app) openArchive(path, command string) (catalog.DB, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	// The archive imports like any other source, then takes back the
	// history it carries: the generation and journal as at export.
	working := a.working("read archive")
	arc, err := importer.ReadArchive(a.ctx, f, importer.Options{Source: "archive:" + path, Now: a.now})
	working()
	if err != nil {
		return nil, nil, fmt.Errorf("open archive %q: %w", path, err)
	}
	db, done, err := a.tempCatalog("", "metactl-archive-", command, func(db catalog.DB) error {
		if _, err := arc.Commit(a.ctx, db); err != nil {
			return err
		}
		return db.RestoreHistory(arc.Header.Generation, arc.Journal)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("open archive %q: %w", path, err)
	}
	return db, done, nil
}

// printJSON writes v as indented JSON and a newline.
func (a *app) printJSON(v any) error {
	return api.Encode(a.stdout, v)
}

// isTerminal reports whether stderr is a terminal: progress is shown only
// then, so cron jobs and pipes get clean output.
func (a *app) isTerminal() bool {
	f, ok := a.stderr.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// exitCodeOf maps an error to the documented exit codes: the CLI's own
// errors here, the library's in api.ExitCode.
func exitCodeOf(err error) int {
	var usage usageError
	switch {
	case errors.As(err, &usage), errors.Is(err, compaction.ErrFactor):
		return exitUsage
	case errors.Is(err, errVerifyFailed), errors.Is(err, errSelftestFailed):
		return exitVerify
	}
	return api.ExitCode(err)
}

// withOp names the command's operation in front of err, once: a library
// error that already starts with it ("export: ...", "import metadata/x:
// ...") is returned as it is, so no message reads "export: export: ...".
func withOp(op string, err error) error {
	if msg := err.Error(); strings.HasPrefix(msg, op+":") || strings.HasPrefix(msg, op+" ") {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unpackArchive imports the archive at path once into a catalog in a new
// temporary folder and returns that catalog's path, for serve to open per
// request like any catalog; cleanup removes the folder.
func (a *app) unpackArchive(path, command string) (tmp string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "metactl-archive-")
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
	arc, err := importer.ReadArchive(a.ctx, f, importer.Options{Source: "archive:" + path, Now: a.now})
	if err != nil {
		return "", nil, fmt.Errorf("open archive %q: %w", path, err)
	}
	tmp = filepath.Join(dir, "catalog.db")
	db, err := catalog.Open(a.ctx, tmp, &catalog.Options{NoSync: true, Command: "metactl " + command, Now: a.now})
	if err != nil {
		return "", nil, err
	}
	defer db.Close()
	if _, err := arc.Commit(a.ctx, db); err != nil {
		return "", nil, fmt.Errorf("open archive %q: %w", path, err)
	}
	if err := db.RestoreHistory(arc.Header.Generation, arc.Journal); err != nil {
		return "", nil, fmt.Errorf("open archive %q: %w", path, err)
	}
	return tmp, remove, nil
}
