//go:build unix

package main

import (
	"errors"
	"fmt"
	"github.com/metactl/metactl/internal/scratch"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/export"
)

type exportCmd struct {
	storageFlags
	Archive string `help:"Write one zstd archive of the whole catalog to FILE (atomically: a temp file, then rename); '-' writes it to standard output." placeholder:"FILE"`
	Gzip    bool   `help:"With --local-fs-dir: write files gzip-compressed, as bucket copies are."`
	Prune   bool   `help:"Also remove the storage's copies of files that cleanup deleted from the catalog. Nothing else the catalog does not know is ever removed."`
	DryRun  bool   `name:"dry-run" help:"Print every write, move and removal the export would do, and change nothing."`
	Force   bool   `help:"Publish over files the catalog never wrote (another chain's identity.meta, other content at a name the catalog owns), which export otherwise refuses (exit 3); the output lists what was replaced."`
	Verbose bool   `short:"v" help:"Also list every file written and moved."`
}

func (c *exportCmd) Help() string {
	return `Writes the catalog's state out, read from one committed generation (a
read-only transaction: export never blocks other readers).

--local-fs-dir DIR rebuilds the legacy folder: metadata/ holds exactly the live
files and metadata_backup/ the moved ones, byte-identical to the catalog. Each
file is written to a staging folder beside metadata/, fsynced and renamed into
place; every new file is written before any old one is moved, so an Aptos
reader of DIR never sees a partial file or a gap. Re-running writes nothing.
Symlinks planted in DIR are refused.

The storage is live: the backup coordinator keeps adding files. A file the
catalog does not know is never removed or overwritten. A valid metadata file
is reported as "new in the storage, not in the catalog: run import"
('metactl compact --local-fs-dir DIR' imports it first); anything else is
left alone and listed. --prune removes only the copies of files that
'metactl cleanup' deleted from the catalog (and metactl's own leftovers,
which are always removed). --dry-run prints what would be written, moved and
removed, and changes nothing.

--command-adapter-config FILE does the same through the adapter's
save_metadata_line and backup_metadata_file commands.

Export refuses another chain's storage: before changing anything it reads
the target's identity.meta and every file at a name the catalog owns that
it would replace or move (through an adapter: the files it would move), and
if one holds another identity, or content the catalog never held under that
name, it exits 3 naming each file and changes nothing (--dry-run too). A
truncated or unparsable copy is not someone else's data: it is repaired.
--force publishes anyway and lists what it replaced.

--archive FILE writes one zstd file with the whole catalog (format version,
files, states, provenance and a SHA-256 trailer); the same generation always
gives the same plaintext. 'metactl import --archive FILE' restores it, and
read-only commands accept it as --catalog.

DIR must be a storage folder (holding metadata/), or missing or empty (a new
storage is created there). A non-empty folder without metadata/, or a path
naming the metadata/ or metadata_backup/ folder itself, is refused (exit 3)
before anything is written.

Examples:
  metactl export --local-fs-dir /backups/storage --dry-run
  metactl export --local-fs-dir /backups/storage --prune
  metactl export --archive catalog.mcar`
}

func (c *exportCmd) Validate() error {
	if err := c.storageFlags.validate(); err != nil {
		return err
	}
	n := 0
	if c.given() {
		n++
	}
	if c.Archive != "" {
		n++
	}
	if n != 1 {
		return usagef("give exactly one target: --local-fs-dir, --command-adapter-config or --archive")
	}
	if c.Gzip && c.LocalFsDir == "" {
		return usagef("--gzip goes with --local-fs-dir")
	}
	if (c.Prune || c.DryRun) && c.Archive != "" {
		return usagef("--prune and --dry-run go with --local-fs-dir or --command-adapter-config")
	}
	return nil
}

func (c *exportCmd) Run(a *app) error {
	if c.Archive != "" {
		return c.runArchive(a)
	}
	// The target first: a wrong path is refused before the catalog is read.
	t, err := c.target(c.Gzip, 0, false)
	if err != nil {
		return withOp("export", err)
	}
	db, done, err := a.openRead("export")
	if err != nil {
		return err
	}
	// Copy one generation out, then release the catalog before the slow
	// file writes, so writers in other processes are not held up.
	snap, err := export.TakeSnapshot(a.ctx, db)
	done()
	if err != nil {
		return withOp("export", err)
	}
	return c.writeSnapshot(a, t, snap)
}

// runArchive streams the archive from inside one read transaction to a
// temporary file beside FILE, then renames it into place.
func (c *exportCmd) runArchive(a *app) error {
	db, done, err := a.openRead("export")
	if err != nil {
		return err
	}
	defer done()
	if c.Archive == stdinName {
		return c.archiveToStdout(a, db)
	}
	dir := filepath.Dir(c.Archive)
	// Name the folder, not the temporary file that could not be made in it.
	if st, err := os.Stat(dir); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("export: archive %s: folder %s: %w", c.Archive, dir, err)
	} else if !st.IsDir() {
		return fmt.Errorf("export: archive %s: %s is not a directory", c.Archive, dir)
	}
	// Named after this process; those of killed exports go first.
	tmp, err := scratch.CreateTemp(dir, "."+filepath.Base(c.Archive)+".tmp-", "")
	if err != nil {
		return withOp("export", err)
	}
	defer os.Remove(tmp.Name())
	h, err := export.WriteArchive(a.ctx, tmp, db)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), c.Archive)
	}
	if err != nil {
		// The temporary file's name says nothing the archive's does not,
		// and "write archive: write <tmp>: ..." names the write twice.
		msg := strings.Replace(err.Error(), "write "+tmp.Name()+": ", "", 1)
		return retitled{fmt.Sprintf("export %s: %s", c.Archive, msg), err}
	}
	if a.cli.JSON {
		return a.printJSON(h)
	}
	_, err = fmt.Fprintf(a.stdout, "wrote %s: generation %d, %s, %s, view digest %s\n",
		c.Archive, h.Generation, count(h.Files, "file"), count(h.Entries, "entry"), h.ViewDigest.Short())
	return err
}

func (c *exportCmd) writeSnapshot(a *app, t export.Target, snap *export.Snapshot) error {
	res, err := snap.Publish(a.ctx, t, export.Options{Prune: c.Prune, DryRun: c.DryRun, Force: c.Force, Progress: a.progress("export")})
	if err != nil {
		return withOp("export", err)
	}
	warnNew(a, res)
	if a.cli.JSON {
		return a.printJSON(res)
	}
	renderPublish(a, res, c.Verbose)
	if res.DryRun {
		fmt.Fprintf(a.stdout, "dry run of generation %d to %s: would write %d, move %d, remove %d; %d unchanged, %d kept; nothing changed\n",
			res.Generation, res.Target, len(res.Written), len(res.Moved), len(res.Removed), res.Unchanged, len(res.Kept))
		return nil
	}
	fmt.Fprintf(a.stdout, "exported generation %d to %s: %d written, %d moved, %d unchanged, %d removed, %d kept\n",
		res.Generation, res.Target, len(res.Written), len(res.Moved), res.Unchanged, len(res.Removed), len(res.Kept))
	return nil
}

// renderPublish prints the lines of a publish (export, or the drop-in
// compaction's last step) that name files: with a dry run or verbose, every
// write and move; always every removal and every entry kept, so the output
// says which files were removed and which were left alone.
func renderPublish(a *app, res *export.Result, verbose bool) {
	would := func(now, then string) string {
		if res.DryRun {
			return "would " + now
		}
		return then
	}
	if res.DryRun || verbose {
		for _, p := range res.Written {
			fmt.Fprintf(a.stdout, "%s %s\n", would("write", "wrote"), p)
		}
		for _, p := range res.Moved {
			if strings.HasPrefix(p, aptos.MetadataBackupDir+"/") {
				fmt.Fprintf(a.stdout, "%s %s: live again in %s/\n", would("remove", "removed"), p, aptos.MetadataDir)
			} else {
				fmt.Fprintf(a.stdout, "%s %s to %s/\n", would("move", "moved"), p, aptos.MetadataBackupDir)
			}
		}
	}
	for _, f := range res.Overridden {
		fmt.Fprintf(a.stdout, "%s %s (--force): %s\n", would("override", "overrode"), f.Path, f.Reason)
	}
	for _, p := range res.Removed {
		fmt.Fprintf(a.stdout, "%s %s: deleted from the catalog\n", would("remove", "removed"), p)
	}
	for _, k := range res.Kept {
		fmt.Fprintf(a.stdout, "kept %s: %s\n", aptos.Quote(k.Path), k.Message())
	}
}

// warnNew tells stderr about valid metadata files the catalog does not
// know yet: a backup the catalog cannot see until it is imported.
func warnNew(a *app, res *export.Result) {
	if n := res.NewCount(); n > 0 {
		verb := "are"
		if n == 1 {
			verb = "is"
		}
		a.warnf("%s in %s %s not in the catalog: run 'metactl import' (the drop-in compaction imports them first)",
			count(n, "metadata file"), res.Target, verb)
	}
}

// archiveToStdout writes the archive to standard output ('export --archive
// -'), for a pipe (ssh, kubectl exec, aws s3 cp - ...). stdout carries the
// archive only: the summary goes to stderr, and --json is refused (it
// would need stdout too).
func (c *exportCmd) archiveToStdout(a *app, db catalog.DB) error {
	if a.cli.JSON {
		return usagef("--json with --archive -: standard output carries the archive")
	}
	h, err := export.WriteArchive(a.ctx, a.stdout, db)
	if err != nil {
		return fmt.Errorf("export archive to standard output: %w", err)
	}
	a.logf("wrote the archive to standard output: generation %d, %s, %s, view digest %s",
		h.Generation, count(h.Files, "file"), count(h.Entries, "entry"), h.ViewDigest.Short())
	return nil
}
