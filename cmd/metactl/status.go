//go:build unix

package main

import (
	"fmt"
	"os"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
)

type statusCmd struct {
	queryFlags
}

func (c *statusCmd) Help() string {
	return `Prints the line that 'aptos-db-tool backup query backup-storage-state' prints,
byte for byte, for example:

  latest_epoch_ending_epoch: 9, latest_state_snapshot_epoch: 8, latest_state_snapshot_version: 1234, latest_transaction_version: 2000000

with "none" for absent values. With --json it also gives the catalog
generation, view digest and file counts. Runs in one read-only transaction.

With --local-fs-dir or --command-adapter-config it answers straight from that
storage, as 'aptos-db-tool backup query backup-storage-state' does: the
storage is read into a private temporary catalog (in --metadata-cache-dir if
given), queried and removed; the --catalog catalog is not touched.

Examples:

    metactl status
    metactl status --json
    metactl status --local-fs-dir /mnt/backup
    metactl --catalog backup.mcar status`
}

// statusJSON is the documented --json shape of status.
type statusJSON struct {
	aptos.StorageState
	Generation uint64       `json:"generation"`
	ViewDigest aptos.Digest `json:"view_digest"`
	Entries    int          `json:"entries"`
	LiveFiles  int          `json:"live_files"`
	MovedFiles int          `json:"moved_files"`
	Identity   string       `json:"identity,omitempty"`
}

func (c *statusCmd) Run(a *app) error {
	if !c.given() && isArchiveFile(a.cli.Catalog) {
		return c.runArchive(a)
	}
	db, done, err := c.open(a, "status")
	if err != nil {
		return err
	}
	defer done()
	var out statusJSON
	err = db.View(a.ctx, func(tx catalog.Tx) error {
		out.StorageState, err = tx.StorageState()
		if err != nil {
			return err
		}
		out.Generation, out.ViewDigest, out.Entries = tx.Generation(), tx.ViewDigest(), tx.EntryCount()
		if id, ok := tx.Identity(); ok {
			out.Identity = id.String()
		}
		out.LiveFiles, out.MovedFiles, err = tx.CountFiles()
		return err
	})
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return c.print(a, &out)
}

func (c *statusCmd) print(a *app, out *statusJSON) error {
	if a.cli.JSON {
		return a.printJSON(out)
	}
	_, err := fmt.Fprintln(a.stdout, out.StorageState.String())
	return err
}

// runArchive answers from an archive in one streaming pass
// (archive.ReadState) instead of unpacking it into a temporary catalog:
// the same document, in bounded memory.
func (c *statusCmd) runArchive(a *app) error {
	path := a.cli.Catalog
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open archive %q: %w", path, err)
	}
	defer f.Close()
	st, err := archive.ReadState(f)
	if err != nil {
		return fmt.Errorf("open archive %q: %w", path, err)
	}
	h := &st.Header
	return c.print(a, &statusJSON{StorageState: st.StorageState, Generation: h.Generation, ViewDigest: h.ViewDigest,
		Entries: h.Entries, LiveFiles: st.LiveFiles, MovedFiles: st.MovedFiles, Identity: h.Identity})
}
