package main

import (
	"fmt"
	"math"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

type planCmd struct {
	queryFlags
	TargetVersion uint64 `name:"target-version" help:"Restore up to this version (default: the latest backed-up version)." default:"18446744073709551615" placeholder:"V"`
}

func (c *planCmd) Help() string {
	return `Shows what a restore to --target-version would read, chosen as Aptos's
restore coordinator chooses it: the target is capped at the latest backed-up
transaction version; the state snapshot is the greatest one at or below it;
transaction backups cover from the snapshot's next version to the target and
must be continuous from version 0; epoch-ending backups are continuous from
epoch 0 up to the target. A gap exits 3 with Aptos's message.`
}

type planJSON struct {
	Generation    uint64                     `json:"generation"`
	TargetVersion uint64                     `json:"target_version"`
	StateSnapshot *aptos.StateSnapshotBackup `json:"state_snapshot"`
	Transactions  []aptos.TransactionBackup  `json:"transactions"`
	EpochEndings  []aptos.EpochEndingBackup  `json:"epoch_endings"`
}

func (c *planCmd) Run(a *app) error {
	db, done, err := c.open(a, "plan")
	if err != nil {
		return err
	}
	defer done()
	out := planJSON{Transactions: []aptos.TransactionBackup{}, EpochEndings: []aptos.EpochEndingBackup{}}
	err = db.View(func(tx *catalog.Tx) error {
		out.Generation = tx.Generation()
		v, err := tx.View()
		if err != nil {
			return err
		}
		maxTxn, ok := v.MaxTransactionVersion()
		if !ok {
			return fmt.Errorf("no transaction backups in the catalog: %w", aptos.ErrInvalid)
		}
		target := min(c.TargetVersion, maxTxn)
		out.TargetVersion = target
		start := uint64(0)
		if s, ok := v.SelectStateSnapshot(target); ok {
			out.StateSnapshot = &s
			if s.Version < math.MaxUint64 {
				start = s.Version + 1
			}
		}
		txns, err := v.SelectTransactionBackups(start, target)
		if err != nil {
			return fmt.Errorf("%w: %w", aptos.ErrInvalid, err)
		}
		out.Transactions = append(out.Transactions, txns...)
		eps, err := v.SelectEpochEndingBackups(target)
		if err != nil {
			return fmt.Errorf("%w: %w", aptos.ErrInvalid, err)
		}
		out.EpochEndings = append(out.EpochEndings, eps...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	if a.cli.JSON {
		return a.printJSON(out)
	}
	fmt.Fprintf(a.stdout, "restore to version %d (generation %d)\n", out.TargetVersion, out.Generation)
	if s := out.StateSnapshot; s != nil {
		fmt.Fprintf(a.stdout, "state snapshot: epoch %d version %d %s\n", s.Epoch, s.Version, s.Manifest)
	} else {
		fmt.Fprintln(a.stdout, "state snapshot: none (replay from genesis)")
	}
	fmt.Fprintf(a.stdout, "transaction backups: %d\n", len(out.Transactions))
	for _, t := range out.Transactions {
		fmt.Fprintf(a.stdout, "  %d-%d %s\n", t.FirstVersion, t.LastVersion, t.Manifest)
	}
	fmt.Fprintf(a.stdout, "epoch-ending backups: %d\n", len(out.EpochEndings))
	for _, e := range out.EpochEndings {
		fmt.Fprintf(a.stdout, "  epochs %d-%d %s\n", e.FirstEpoch, e.LastEpoch, e.Manifest)
	}
	return nil
}
