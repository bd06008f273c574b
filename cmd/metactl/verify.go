package main

import (
	"fmt"
	"math"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

type verifyCmd struct {
	queryFlags
}

func (c *verifyCmd) Help() string {
	return `Checks, in one read-only transaction:
  - the bbolt file: every page reachable once, freelist consistent;
  - the derived index and view digest: recomputed from the live files' lines,
    they must equal what is stored;
  - the view as a restore sees it: transaction ranges continuous from version 0
    and epoch-ending ranges continuous from epoch 0 (Aptos's messages);
  - warnings (not failures): no identity, timestamps naming unknown files.
Exits 4 if any check fails, 0 otherwise.`
}

type verifyJSON struct {
	Generation uint64       `json:"generation"`
	ViewDigest aptos.Digest `json:"view_digest"`
	Entries    int          `json:"entries"`
	Files      int          `json:"files"`
	Problems   []string     `json:"problems"`
	Warnings   []string     `json:"warnings"`
	OK         bool         `json:"ok"`
}

func (c *verifyCmd) Run(a *app) error {
	db, done, err := c.open(a, "verify")
	if err != nil {
		return err
	}
	defer done()
	out := verifyJSON{Problems: []string{}, Warnings: []string{}}
	if err := db.Check(); err != nil {
		out.Problems = append(out.Problems, err.Error())
	}
	err = db.View(func(tx *catalog.Tx) error {
		out.Generation, out.ViewDigest = tx.Generation(), tx.ViewDigest()
		if err := tx.StoredEntriesMatch(); err != nil {
			out.Problems = append(out.Problems, err.Error())
		}
		v, err := tx.View()
		if err != nil {
			return err
		}
		out.Entries = v.Len()
		if _, err := v.SelectTransactionBackups(0, math.MaxUint64); err != nil {
			out.Problems = append(out.Problems, "transactions: "+err.Error())
		}
		if _, err := v.SelectEpochEndingBackups(math.MaxUint64); err != nil {
			out.Problems = append(out.Problems, "epoch endings: "+err.Error())
		}
		if v.Identity == nil {
			out.Warnings = append(out.Warnings, "no identity: the catalog has never seen an identity.meta")
		}
		known := map[string]bool{}
		if err := tx.ForEachFile(false, func(f *catalog.File) error {
			known[f.Handle] = true
			out.Files++
			return nil
		}); err != nil {
			return err
		}
		if v.Timestamps != nil {
			for _, h := range v.Timestamps.SortedHandles() {
				if !known[h] {
					out.Warnings = append(out.Warnings, fmt.Sprintf("latest compaction timestamps name %s, which the catalog does not hold", h))
				}
			}
		}
		return nil
	})
	if err != nil {
		out.Problems = append(out.Problems, err.Error())
	}
	out.OK = len(out.Problems) == 0
	if a.cli.JSON {
		if err := a.printJSON(out); err != nil {
			return err
		}
	} else {
		for _, p := range out.Problems {
			fmt.Fprintf(a.stdout, "FAIL %s\n", p)
		}
		for _, w := range out.Warnings {
			fmt.Fprintf(a.stdout, "warn %s\n", w)
		}
		fmt.Fprintf(a.stdout, "generation %d, %d files, %d entries, view digest %s: %d problems, %d warnings\n",
			out.Generation, out.Files, out.Entries, out.ViewDigest.Short(), len(out.Problems), len(out.Warnings))
	}
	if !out.OK {
		return errVerifyFailed
	}
	return nil
}
