//go:build unix

package main

import (
	"fmt"
	"math"
	"strconv"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/remote"
)

// optVersion is a version flag that knows whether it was given, as
// Aptos's Option<Version> flags do.
type optVersion struct {
	v   uint64
	set bool
}

func (o *optVersion) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("want a version (0 to %d), got %q", uint64(math.MaxUint64), b)
	}
	o.v, o.set = v, true
	return nil
}

func (o optVersion) ptr() *uint64 {
	if !o.set {
		return nil
	}
	return &o.v
}

type planCmd struct {
	queryFlags
	TargetVersion             optVersion `name:"target-version" help:"Restore up to this version (unset: the latest backed-up transaction version)." placeholder:"V"`
	LedgerHistoryStartVersion optVersion `name:"ledger-history-start-version" help:"Keep the ledger history from this version if possible; 0 for the full history (unset: the target version, as Aptos)." placeholder:"V"`
	ReplayAll                 bool       `name:"replay-all" help:"As Aptos's --replay-all: do not restore the KV snapshot first."`
	Strict                    bool       `help:"Exit 3 when the target is beyond the latest backed-up version, instead of warning and planning to that version."`
}

func (c *planCmd) Help() string {
	return `Shows what 'aptos-db-tool restore bootstrap-db' into an empty database would
read, chosen exactly as its restore coordinator chooses it (the rules and their
sources are in docs/restore-planning.md):

  target        min(--target-version, latest backed-up transaction version)
  KV snapshot   the greatest state snapshot at or below
                min(ledger history start, latest transaction version)
  tree snapshot the greatest state snapshot at or below the target; with none,
                Aptos stops ("Cannot find tree snapshot before target version")
  transactions  backups ending at or after the KV snapshot's version (not its
                version + 1), or from 0 without one; continuous from version 0
  epoch endings continuous from epoch 0, up to the target
  replay        from the tree snapshot's version + 1; with a KV snapshot below
                the tree snapshot, state values are first replayed from the KV
                snapshot's version + 1 (unless --replay-all)

Aptos restores less than asked, silently, where a backup is missing at the
end of the range. plan exits 3 instead, naming the missing versions and any
moved file (metadata_backup/) that would cover them. A target beyond the
latest backed-up version is capped as Aptos caps it, with a warning naming
both numbers (--strict: exit 3).

Examples:
  metactl plan                              # restore everything, as bootstrap-db does
  metactl plan --target-version 5000000
  metactl plan --target-version 5000000 --ledger-history-start-version 0
  metactl plan --json --strict --target-version 5000000
  metactl plan --local-fs-dir /mnt/backup     # straight from a storage, no catalog`
}

func (c *planCmd) Run(a *app) error {
	req := api.PlanRequest{
		TargetVersion:             c.TargetVersion.ptr(),
		LedgerHistoryStartVersion: c.LedgerHistoryStartVersion.ptr(),
		ReplayAll:                 c.ReplayAll,
		Strict:                    c.Strict,
	}
	var err error
	out, qerr := query(a, c.given(), func(r *remote.Client) (*api.Plan, error) {
		doc, perr := r.Plan(a.ctx, req)
		err = perr
		if doc != nil {
			perr = nil
		}
		return doc, perr
	}, func() (*api.Plan, error) {
		db, done, oerr := c.open(a, "plan")
		if oerr != nil {
			return nil, oerr
		}
		defer done()
		doc, perr := api.PlanOf(a.ctx, db, req)
		err = perr
		if doc != nil {
			perr = nil
		}
		return doc, perr
	})
	if qerr != nil {
		return qerr
	}
	plan, gen := out.Plan, out.Generation
	for _, w := range out.Warnings {
		a.warnf("%s", w)
	}
	if a.cli.JSON {
		if jerr := a.printJSON(out); jerr != nil {
			return jerr
		}
		if err != nil {
			return documentedError{err}
		}
		return nil
	}
	if plan != nil {
		printPlan(a, plan, gen)
	}
	return err
}

func versionText(v uint64) string { return api.VersionText(v) }

func printPlan(a *app, p *aptos.RestorePlan, gen uint64) {
	w := a.stdout
	fmt.Fprintf(w, "restore to version %d (generation %d)\n", p.TargetVersion, gen)
	lhs := versionText(p.LedgerHistoryStartVersion)
	fmt.Fprintf(w, "requested target %s, latest backed-up transaction version %d, ledger history start %s\n",
		versionText(p.RequestedTargetVersion), p.MaxTransactionVersion, lhs)
	if s := p.KVSnapshot; s != nil {
		how := "restored first, values only"
		switch {
		case p.RestoreKVSnapshot:
		case s.Version == p.TreeSnapshot.Version:
			how = "not restored separately: the tree snapshot restores the values"
		case p.ReplayAll:
			how = "not restored: --replay-all"
		default:
			how = "not restored: it lies above the tree snapshot"
		}
		fmt.Fprintf(w, "kv snapshot: epoch %d version %d %s (%s)\n", s.Epoch, s.Version, s.Manifest, how)
	} else {
		fmt.Fprintln(w, "kv snapshot: none")
	}
	s := p.TreeSnapshot
	fmt.Fprintf(w, "tree snapshot: epoch %d version %d %s\n", s.Epoch, s.Version, s.Manifest)
	fmt.Fprintf(w, "transaction backups from version %d: %d\n", p.TransactionStartVersion, len(p.Transactions))
	for _, t := range p.Transactions {
		fmt.Fprintf(w, "  %d-%d %s\n", t.FirstVersion, t.LastVersion, t.Manifest)
	}
	fmt.Fprintf(w, "epoch-ending backups: %d\n", len(p.EpochEndings))
	for _, e := range p.EpochEndings {
		fmt.Fprintf(w, "  epochs %d-%d %s\n", e.FirstEpoch, e.LastEpoch, e.Manifest)
	}
	if p.KVReplayFromVersion != nil {
		fmt.Fprintf(w, "replay state values from version %d to %d, then everything from version %d\n",
			*p.KVReplayFromVersion, s.Version, p.ReplayFromVersion)
	} else {
		fmt.Fprintf(w, "replay from version %d\n", p.ReplayFromVersion)
	}
	for _, m := range p.Missing {
		fmt.Fprintf(w, "MISSING %s\n", m)
	}
}
