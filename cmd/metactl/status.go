//go:build unix

package main

import (
	"fmt"

	"github.com/metactl/metactl/aptos"
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
generation, view digest and file counts. Runs in one read-only transaction.`
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
	if a.cli.JSON {
		return a.printJSON(out)
	}
	_, err = fmt.Fprintln(a.stdout, out.StorageState.String())
	return err
}
