//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/compaction"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/metrics"
	"github.com/metactl/metactl/workflow"
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
	return &catalog.Options{ReadOnly: readOnly, Timeout: t, Command: "metactl " + command, Now: a.now,
		Backend: []any{a.cli.Etcd.connection()}}
}

// location is --catalog as a [workflow.Location]: the classification of
// the location, its openers and archives read as catalogs.
func (a *app) location() *workflow.Location {
	return &workflow.Location{Path: a.cli.Catalog, Opts: a.options, Working: a.working}
}

// openWrite opens the catalog for one write transaction. Close it as soon
// as the transaction is done: it holds the exclusive lock.
func (a *app) openWrite(command string) (catalog.DB, error) {
	if err := checkRemoteWrite(a.cli.Catalog); err != nil {
		return nil, err
	}
	db, err := a.location().OpenWrite(a.ctx, command)
	return db, catalogUsage(err)
}

// openExisting is openWrite for commands that change a catalog but cannot
// start one (compact without a storage, cleanup, undo): a --catalog that
// names no catalog is refused as a read-only command refuses it, instead of
// leaving an empty catalog behind a typo.
func (a *app) openExisting(command string) (catalog.DB, error) {
	if err := checkRemoteWrite(a.cli.Catalog); err != nil {
		return nil, err
	}
	db, err := a.location().OpenExisting(a.ctx, command)
	return db, catalogUsage(err)
}

// removeIfFresh undoes what a failed first write left behind: if the
// catalog did not exist before this command (existed false) and no write
// was committed to it, the catalog is removed.
func (a *app) removeIfFresh(existed bool) { a.location().RemoveIfFresh(existed) }

// catalogExists reports whether --catalog names something that exists (a
// location with a URL scheme counts as existing: its backend creates
// nothing on a failed write).
func (a *app) catalogExists() bool { return a.location().Exists() }

// makeCatalogDir creates the catalog's folder if it is missing, so a
// --metadata-cache-dir that does not exist yet (a fresh emptyDir) works.
func (a *app) makeCatalogDir() error { return a.location().MakeDir() }

// openRead opens the catalog read-only. If --catalog names an archive, it
// is unpacked into a throwaway catalog in a temporary folder first; the
// returned function closes the catalog and removes that folder.
func (a *app) openRead(command string) (catalog.DB, func(), error) {
	if r, err := a.remote(); r != nil || err != nil {
		if err != nil {
			return nil, nil, err
		}
		return a.openRemote(r, command)
	}
	db, done, err := a.location().OpenRead(a.ctx, command)
	return db, done, catalogUsage(err)
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
		res, err := importer.FromStorage(a.ctx, db, src, importer.Options{Source: s.describe(), Concurrency: cache.concurrency(), InProgress: true})
		if err == nil {
			// The answer leaves out a file still being written: say so.
			for _, w := range res.Warnings {
				if w.Code == importer.WarnInProgress {
					a.warn([]importer.Warning{w})
				}
			}
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: read storage: %w", command, err)
	}
	return db, done, nil
}

// tempCatalog makes a private catalog in a new temporary folder under
// parent ("" for the system's), lets fill write it, and opens it
// read-only ([workflow.TempCatalog]).
func (a *app) tempCatalog(parent, prefix, command string, fill func(catalog.DB) error) (catalog.DB, func(), error) {
	return workflow.TempCatalog(a.ctx, parent, prefix, a.options(true, command), fill)
}

// openArchive reads the archive at path into a throwaway catalog
// ([workflow.OpenArchive]).
func (a *app) openArchive(path, command string) (catalog.DB, func(), error) {
	return workflow.OpenArchive(a.ctx, path, a.options(true, command), a.working)
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
// errors here, the library's in [api.ExitCode].
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

// retitled is an error whose message was reworded; errors.Is and
// errors.As still see the original.
type retitled struct {
	msg string
	err error
}

func (e retitled) Error() string { return e.msg }
func (e retitled) Unwrap() error { return e.err }

// retitle replaces the operation prefix from at the start of err's message
// by to (adding to when from is absent), so a message names its operation
// once: "import: read archive" becomes "import a.mcar: read archive", not
// "import a.mcar: import: read archive".
func retitle(err error, from, to string) error {
	msg, ok := strings.CutPrefix(err.Error(), from)
	if !ok {
		return fmt.Errorf("%s %w", to, err)
	}
	return retitled{to + msg, err}
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
// request like any catalog; cleanup removes the folder
// ([workflow.UnpackArchive]).
func (a *app) unpackArchive(path, command string) (tmp string, cleanup func(), err error) {
	return workflow.UnpackArchive(a.ctx, path, a.options(false, command))
}
