//go:build unix

package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/metrics"
	"github.com/metactl/metactl/remote"
	"github.com/metactl/metactl/verify"
)

type verifyCmd struct {
	queryFlags
}

func (c *verifyCmd) Help() string {
	return `Finds every inconsistency at once, in one read-only transaction, and names
the files: each finding has a stable code, a sentence, and every handle:line
that holds an entry involved (moved files as metadata_backup/<name>).

Problems (exit 4):
  catalog-damaged        the bbolt file fails its consistency check
  index-mismatch         entry index or view digest disagrees with the files
  unparsable-file        a stored line does not parse
  quarantined            a storage file import --quarantine set aside, with
                         its error (replace or remove it, then sync again)
  txn-gap                transaction versions in no backup
  txn-moved-only         transaction versions only in moved files
  txn-overlap            overlapping transaction ranges
  txn-manifest-conflict  one transaction range with different manifests
  epoch-gap              epochs in no epoch-ending backup
  epoch-moved-only       epochs only in moved files
  epoch-overlap          epoch-ending ranges sharing epochs
  epoch-conflict         one epoch range with different versions or manifests
  epoch-backwards        a later epoch range at earlier versions
  snapshot-conflict      state snapshots at one version that disagree
  snapshot-epoch         a snapshot's epoch contradicts the epoch endings
  manifest-reused        one manifest for different backups
  identity-conflict      identity lines naming different storages
  storage-content-changed  (with a storage flag, when the catalog exists) a
                         storage file whose content differs from the
                         catalog's file of that name
Warnings (exit code unchanged):
  no-identity            no identity line was ever seen
  timestamps-unknown     the latest compaction timestamps name an unknown file

Examples:
  metactl verify
  metactl verify --json | jq -r '.problems[] | .code + " " + (.where | join(" "))'
  metactl verify --local-fs-dir /mnt/backup    # straight from a storage`
}

func (c *verifyCmd) Run(a *app) error {
	doc, err := query(a, c.given(), func(r *remote.Client) (*api.Verify, error) { return r.Verify(a.ctx) }, func() (*api.Verify, error) {
		db, done, err := c.open(a, "verify")
		if err != nil {
			return nil, err
		}
		defer done()
		working := a.working("verify")
		defer working()
		doc, err := api.VerifyOf(a.ctx, db)
		if err == nil && c.given() && a.catalogExists() {
			// A storage and a catalog: names both hold must agree (an
			// incremental import never reads a known name again).
			err = c.againstCatalog(a, db, doc.Report)
			doc.OK = doc.Report.OK()
		}
		return doc, err
	})
	if err != nil {
		return err
	}
	r := doc.Report
	a.verified = &metrics.Verify{Problems: len(r.Problems), At: a.now()}
	if a.cli.JSON {
		if err := a.printJSON(doc); err != nil {
			return err
		}
	} else {
		for _, p := range r.Problems {
			printFinding(a, "FAIL", p)
		}
		for _, w := range r.Warnings {
			printFinding(a, "warn", w)
		}
		fmt.Fprintf(a.stdout, "generation %d, %s, %s, view digest %s: %s, %s\n",
			r.Generation, count(r.Files, "file"), count(r.Entries, "entry"), r.ViewDigest.Short(), count(len(r.Problems), "problem"), count(len(r.Warnings), "warning"))
	}
	for _, w := range r.Warnings {
		a.warnf("%s: %s", w.Code, w.Message)
	}
	if !r.OK() {
		return errVerifyFailed
	}
	return nil
}

func printFinding(a *app, tag string, f verify.Finding) {
	fmt.Fprintf(a.stdout, "%s %s: %s\n", tag, f.Code, f.Message)
	if len(f.Where) > 0 {
		fmt.Fprintf(a.stdout, "     at %s\n", strings.Join(f.Where, "\n        "))
	}
}

// againstCatalog adds to r a problem for each file of the storage (read
// whole into db) whose content differs from the catalog's of that name.
func (c *verifyCmd) againstCatalog(a *app, db catalog.DB, r *verify.Report) error {
	cat, done, err := a.openRead("verify")
	if errors.Is(err, catalog.ErrNoCatalog) {
		return nil // a URL names no catalog yet (a file path was checked before): nothing to compare
	}
	if err != nil {
		return err
	}
	defer done()
	found, err := verify.AgainstCatalog(a.ctx, db, cat)
	if err != nil {
		return err
	}
	r.Problems = append(r.Problems, found...)
	return nil
}
