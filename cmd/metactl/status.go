//go:build unix

package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/coverage"
	"github.com/metactl/metactl/remote"
	"github.com/metactl/metactl/workflow"
)

type statusCmd struct {
	queryFlags
	Coverage bool   `help:"Also give the restorable frontier and every gap and overlap of the view (reads the whole view index: slower than the plain line on a large catalog)."`
	SVG      string `name:"svg" type:"path" placeholder:"FILE" help:"Write the coverage timeline (the picture of serve's page) to FILE as SVG, atomically, for a CronJob to publish beside its textfile metrics; implies --coverage."`
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

--coverage adds the restorable frontier (the highest version a restore can
reach) and every gap and overlap of the view, each with its exact version
range, after the line (and as "coverage" in --json); --svg FILE also draws
them as serve's page does, into FILE. Both read the whole view index, in the
same read-only transaction.

Examples:

    metactl status
    metactl status --json
    metactl status --coverage
    metactl status --svg /var/lib/node-exporter/metactl-coverage.svg
    metactl status --local-fs-dir /mnt/backup
    metactl --catalog backup.mcar status`
}

func (c *statusCmd) Run(a *app) error {
	withCoverage := c.Coverage || c.SVG != ""
	if !c.given() && workflow.Classify(a.cli.Catalog) == workflow.ArchiveFile && !withCoverage {
		return c.runArchive(a)
	}
	if c.SVG != "" {
		if r, err := a.remote(); r != nil || err != nil {
			return usagef("status --svg: not from a served catalog (use GET /coverage.svg)")
		}
	}
	var rep *coverage.Report
	out, err := query(a, c.given(), func(r *remote.Client) (*api.Status, error) { return r.Status(a.ctx, withCoverage) }, func() (*api.Status, error) {
		db, done, err := c.open(a, "status")
		if err != nil {
			return nil, err
		}
		defer done()
		var out *api.Status
		out, rep, err = api.StatusOf(a.ctx, db, withCoverage)
		return out, err
	})
	if err != nil {
		return err
	}
	if c.SVG != "" {
		if err := rep.WriteSVGFile(c.SVG); err != nil {
			return fmt.Errorf("status: %w", err)
		}
	}
	return c.print(a, out)
}

func (c *statusCmd) print(a *app, out *api.Status) error {
	if a.cli.JSON {
		return a.printJSON(out)
	}
	_, err := fmt.Fprintln(a.stdout, out.StorageState.String())
	if err != nil || out.Coverage == nil {
		return err
	}
	var b strings.Builder
	cv := out.Coverage
	if cv.Restorable {
		fmt.Fprintf(&b, "restorable frontier: %d\n", cv.FrontierVersion)
	} else {
		b.WriteString("restorable frontier: none (no continuous coverage from version 0 with a state snapshot)\n")
	}
	for _, h := range cv.Gaps {
		fmt.Fprintf(&b, "gap in %s: %s\n", rowWords(h.Row), h.Text())
	}
	if n := cv.GapCount - len(cv.Gaps); n > 0 {
		fmt.Fprintf(&b, "... and %s more\n", count(n, "gap"))
	}
	for _, h := range cv.Overlaps {
		fmt.Fprintf(&b, "overlap in %s: %s (%d entries)\n", rowWords(h.Row), h.Text(), h.Entries)
	}
	if n := cv.OverlapCount - len(cv.Overlaps); n > 0 {
		fmt.Fprintf(&b, "... and %s more\n", count(n, "overlap"))
	}
	_, err = io.WriteString(a.stdout, b.String())
	return err
}

// rowWords names a coverage row in text output.
func rowWords(r coverage.Row) string {
	return strings.ReplaceAll(string(r), "_", " ")
}

// runArchive answers from an archive in one streaming pass
// ([archive.ReadState]) instead of unpacking it into a temporary catalog:
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
	return c.print(a, &api.Status{StorageState: st.StorageState, Generation: h.Generation, ViewDigest: h.ViewDigest,
		Entries: h.Entries, LiveFiles: st.LiveFiles, MovedFiles: st.MovedFiles, Identity: h.Identity})
}
