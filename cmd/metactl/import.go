//go:build unix

package main

import (
	"github.com/metactl/metactl/aptos"

	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/workflow"
)

type importCmd struct {
	storageFlags
	Archive string `help:"An archive written by 'metactl export --archive' ('-': standard input; a pipe works too)." placeholder:"FILE"`
	Strict  bool   `help:"Refuse stray names in metadata/ (files Aptos could not parse) instead of skipping them."`
	Full    bool   `help:"Read every listed file, also those the catalog already holds (by default only new names are read; see Help)."`
	quarantineFlag
}

func (c *importCmd) Help() string {
	return `Reads every metadata file of the storage (metadata/ as live files,
metadata_backup/ as moved ones; plain or gzip, detected by content), validates
every line, and only then commits everything in one transaction. Bad input
exits 3, names every bad file and line, and leaves the catalog exactly as it
was.

Import is a sync, safe to repeat: new files are added; a file the storage has
since moved to metadata_backup/ becomes moved; a file the catalog has but the
storage no longer lists is kept and reported, never deleted; re-importing the
same storage changes nothing. The same name with other content, or another
chain's identity, is refused as a conflict.

Import is incremental: a listed name the catalog already holds is not
opened again, so a sync costs one listing plus the new files. For a
--local-fs-dir storage each file's size and mtime are recorded with it, and
a known name whose size or mtime changed is read again (and refused if its
content differs). A bucket cannot say that cheaply: 'verify
--command-adapter-config' (or import --full, which reads every file) finds
a known name whose content changed there.

Names in metadata/ that are not metadata files (not ShellSafeName, or not
ending in .meta: editor backups, .DS_Store, temp files) are skipped and
listed; Aptos's own tools would fail on them. --strict refuses them.

Examples:
  metactl import --local-fs-dir /backups/mainnet
  metactl import --command-adapter-config s3.yaml
  metactl import --archive catalog.mcar`
}

func (c *importCmd) Validate() error {
	if err := c.storageFlags.validate(); err != nil {
		return err
	}
	n := 0
	if c.storageFlags.given() {
		n++
	}
	if c.Archive != "" {
		n++
	}
	if n != 1 {
		return usagef("give exactly one source: --local-fs-dir, --command-adapter-config or --archive")
	}
	if c.Archive != "" && c.Archive != stdinName {
		// As kong's existingfile would, but "-" is standard input.
		if _, err := os.Stat(c.Archive); err != nil {
			return usagef("--archive: %w", err)
		}
	}
	return nil
}

func (c *importCmd) Run(a *app) error {
	// Before the storage is read: a --catalog slip is named at once.
	if err := checkCatalogPath(a.cli.Catalog, true); err != nil {
		return err
	}
	if c.Archive != "" {
		return c.runArchive(a)
	}
	src, err := c.source()
	if err != nil {
		return withOp("import", err)
	}
	var prog func(importer.Progress)
	if !a.cli.Quiet {
		phase, show := "", func(int, int) {}
		prog = func(pr importer.Progress) {
			if pr.Phase != phase {
				phase, show = pr.Phase, a.progress("import: "+pr.Phase)
			}
			show(pr.Done, pr.Total)
		}
	}
	res, err := workflow.Import(a.ctx, appCatalog{a}, "import", src, importer.Options{Source: c.describe(), Strict: c.Strict, Progress: prog, Now: a.now, Full: c.Full, Quarantine: c.Quarantine})
	if err != nil {
		return err
	}
	a.warn(res.Warnings)
	warnQuarantined(a, res.Quarantined)
	out := api.Import{
		Quarantined: nonNilQ(res.Quarantined), Released: nonNil(res.Released),
		Source: c.describe(), Files: res.Files, Lines: res.Lines, KnownSkipped: res.KnownSkipped, Entries: res.Entries, Duplicates: res.Duplicates,
		Added: res.Added, Moved: res.Moved, Unchanged: res.Unchanged,
		Missing: nonNil(res.Missing), Skipped: nonNil(res.Skipped), KeptMoved: nonNil(res.KeptMoved), DeletedInStorage: nonNil(res.DeletedInStorage), Warnings: nonNilW(res.Warnings),
		Changed: res.Changed, Generation: res.Generation, DigestBefore: res.DigestBefore, DigestAfter: res.DigestAfter,
	}
	if a.cli.JSON {
		return a.printJSON(out)
	}
	known := ""
	if out.KnownSkipped > 0 {
		known = fmt.Sprintf(" (%d known, not read again)", out.KnownSkipped)
	}
	fmt.Fprintf(a.stdout, "imported %s: %s%s, %s, %s in the view (%s)\n",
		out.Source, count(out.Files, "file"), known, count(out.Lines, "line"), count(out.Entries, "entry"), count(out.Duplicates, "duplicate line"))
	if out.Changed {
		fmt.Fprintf(a.stdout, "generation %d: %s added, %d moved, %d unchanged; view digest %s -> %s\n",
			out.Generation, count(out.Added, "file"), out.Moved, out.Unchanged, out.DigestBefore.Short(), out.DigestAfter.Short())
	} else {
		fmt.Fprintf(a.stdout, "nothing changed (generation %d)\n", out.Generation)
	}
	// A list names at most listShown handles: an import against another
	// storage can leave 100k files unlisted, one line of megabytes.
	// --json lists them all.
	list := func(what string, hs []string) {
		if len(hs) > 0 {
			quoted := make([]string, 0, min(len(hs), listShown))
			for _, h := range hs[:min(len(hs), listShown)] {
				quoted = append(quoted, aptos.Quote(h))
			}
			more := ""
			if len(hs) > listShown {
				more = fmt.Sprintf(", and %d more (--json lists them all)", len(hs)-listShown)
			}
			fmt.Fprintf(a.stdout, "%s (%d): %s%s\n", what, len(hs), strings.Join(quoted, ", "), more)
		}
	}
	list("kept, no longer listed by the storage", out.Missing)
	list("kept moved, still live in the storage (export moves them)", out.KeptMoved)
	list("deleted from the catalog (cleanup, or an undo of a compaction), still in the storage, not imported again (export --prune removes them)", out.DeletedInStorage)
	qs := make([]string, 0, len(out.Quarantined))
	for _, q := range out.Quarantined {
		qs = append(qs, q.Handle)
	}
	list("quarantined (set aside, left in the storage; 'metactl verify' names the errors)", qs)
	list("released from quarantine", out.Released)
	return nil
}

// listShown is how many handles a list in import's text output names.
const listShown = 20

func (c *importCmd) runArchive(a *app) error {
	var f io.Reader
	if c.Archive == stdinName {
		f = a.stdin // read once, streamed: nothing to sniff first
	} else {
		file, err := os.Open(c.Archive)
		if err != nil {
			return withOp("import", err)
		}
		defer file.Close()
		f = file
	}
	// Read and verify the whole archive before the catalog is opened: the
	// lock is held only for the commit, as for any other source.
	arc, err := importer.ReadArchive(a.ctx, f, importer.Options{Source: "archive:" + c.describeArchive(), Now: a.now})
	if err != nil {
		return retitle(err, "import:", "import "+c.Archive+":")
	}
	existed := a.catalogExists()
	db, err := a.openWrite("import")
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := arc.Commit(a.ctx, db)
	if err != nil {
		db.Close()
		a.removeIfFresh(existed) // a failed first import leaves nothing behind
		return err
	}
	a.warn(res.Warnings)
	h := arc.Header
	out := api.ArchiveImport{Archive: c.Archive, Generation: h.Generation, ViewDigest: h.ViewDigest,
		Files: h.Files, Entries: h.Entries, Added: res.Added, StateChanged: res.Moved, Unchanged: res.Unchanged + len(res.KeptMoved),
		CatalogGeneration: res.Generation, Warnings: nonNilW(res.Warnings)}
	if a.cli.JSON {
		return a.printJSON(out)
	}
	_, err = fmt.Fprintf(a.stdout, "imported archive %s (generation %d, %s, %s, view digest %s): %d added, %d state changed, %d unchanged; catalog generation %d\n",
		c.Archive, out.Generation, count(out.Files, "file"), count(out.Entries, "entry"), out.ViewDigest.Short(), out.Added, out.StateChanged, out.Unchanged, out.CatalogGeneration)
	return err
}

// describeArchive returns the archive's absolute path, for provenance.
func (c *importCmd) describeArchive() string {
	if c.Archive == stdinName {
		return "stdin"
	}
	abs, err := filepath.Abs(c.Archive)
	if err != nil {
		return c.Archive
	}
	return abs
}

func nonNilW(s []importer.Warning) []importer.Warning {
	if s == nil {
		return []importer.Warning{}
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
