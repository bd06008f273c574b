package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/storage"
)

type exportCmd struct {
	storageFlags
	Archive string `help:"Write one zstd archive of the whole catalog to FILE (atomically: a temp file, then rename)." placeholder:"FILE"`
	Gzip    bool   `help:"With --local-fs-dir: write files gzip-compressed, as bucket copies are."`
	Prune   bool   `help:"With --local-fs-dir: remove files the catalog does not know (they are only reported otherwise)."`
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

--command-adapter-config FILE does the same through the adapter's
save_metadata_line and backup_metadata_file commands.

--archive FILE writes one zstd file with the whole catalog (format version,
files, states, provenance and a SHA-256 trailer); the same generation always
gives the same plaintext. 'metactl import --archive FILE' restores it, and
read-only commands accept it as --catalog.`
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
	if (c.Gzip || c.Prune) && c.LocalFsDir == "" {
		return usagef("--gzip and --prune go with --local-fs-dir")
	}
	return nil
}

// exportJSON is the documented --json shape of export to a folder or a
// command adapter (an archive export prints the archive header).
type exportJSON struct {
	Generation       uint64   `json:"generation"`
	Written          int      `json:"written"`
	Moved            int      `json:"moved"`
	Unchanged        int      `json:"unchanged"`
	Removed          int      `json:"removed"`
	Unknown          []string `json:"unknown"`
	LeftoversRemoved int      `json:"leftovers_removed"`
}

func (c *exportCmd) Run(a *app) error {
	if c.Archive != "" {
		return c.runArchive(a)
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
		return fmt.Errorf("export: %w", err)
	}
	return c.writeSnapshot(a, snap)
}

// runArchive streams the archive from inside one read transaction to a
// temporary file beside FILE, then renames it into place.
func (c *exportCmd) runArchive(a *app) error {
	db, done, err := a.openRead("export")
	if err != nil {
		return err
	}
	defer done()
	tmp, err := os.CreateTemp(filepath.Dir(c.Archive), "."+filepath.Base(c.Archive)+".tmp-*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer os.Remove(tmp.Name())
	h, err := archive.Write(a.ctx, tmp, db)
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
		return fmt.Errorf("export %s: %w", c.Archive, err)
	}
	if a.cli.JSON {
		return a.printJSON(h)
	}
	_, err = fmt.Fprintf(a.stdout, "wrote %s: generation %d, %s, %s, view digest %s\n",
		c.Archive, h.Generation, count(h.Files, "file"), count(h.Entries, "entry"), h.ViewDigest.Short())
	return err
}

func (c *exportCmd) writeSnapshot(a *app, snap *export.Snapshot) error {
	switch {
	case c.LocalFsDir != "":
		res, err := snap.ToDir(a.ctx, c.LocalFsDir, export.DirOptions{Gzip: c.Gzip, Prune: c.Prune, Progress: a.progress("export")})
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if a.cli.JSON {
			return a.printJSON(exportJSON{res.Generation, res.Written, res.Moved, res.Unchanged, res.Removed, nonNil(res.Unknown), res.LeftoversRemoved})
		}
		fmt.Fprintf(a.stdout, "exported generation %d to %s: %d written, %d moved, %d unchanged, %d removed\n",
			res.Generation, c.LocalFsDir, res.Written, res.Moved, res.Unchanged, res.Removed)
		for _, u := range res.Unknown {
			fmt.Fprintf(a.stdout, "not in the catalog: %s\n", u)
		}
	default:
		ca, err := storage.LoadCommandAdapter(c.CommandAdapterConfig)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		res, err := snap.ToCommandAdapter(a.ctx, ca, export.AdapterOptions{Progress: a.progress("export")})
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if a.cli.JSON {
			return a.printJSON(exportJSON{Generation: res.Generation, Written: res.Saved, Moved: res.Moved, Unchanged: res.Unchanged, Unknown: nonNil(res.Unknown)})
		}
		fmt.Fprintf(a.stdout, "exported generation %d through %s: %d saved, %d moved, %d unchanged\n",
			res.Generation, c.CommandAdapterConfig, res.Saved, res.Moved, res.Unchanged)
		for _, u := range res.Unknown {
			fmt.Fprintf(a.stdout, "not in the catalog: %s\n", u)
		}
	}
	return nil
}
