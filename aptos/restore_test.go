package aptos_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/metactl/metactl/aptos"
)

func txn(first, last uint64) aptos.Metadata {
	return aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: first, LastVersion: last,
		Manifest: fmt.Sprintf("transaction_%d-.m/transaction.manifest", first)})
}

func snap(epoch, version uint64) aptos.Metadata {
	return aptos.NewStateSnapshot(aptos.StateSnapshotBackup{Epoch: epoch, Version: version,
		Manifest: fmt.Sprintf("state_epoch_%d_ver_%d.m/state.manifest", epoch, version)})
}

func epochs(first, last, firstVersion, lastVersion uint64) aptos.Metadata {
	return aptos.NewEpochEnding(aptos.EpochEndingBackup{FirstEpoch: first, LastEpoch: last,
		FirstVersion: firstVersion, LastVersion: lastVersion,
		Manifest: fmt.Sprintf("epoch_ending_%d-.m/epoch_ending.manifest", first)})
}

func u(v uint64) *uint64 { return &v }

// summary renders a plan in one line, for tables and for comparing with
// the reference implementation.
func summary(p *aptos.RestorePlan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "target=%d", p.TargetVersion)
	if p.Capped {
		fmt.Fprintf(&b, "(capped from %d)", p.RequestedTargetVersion)
	}
	fmt.Fprintf(&b, " lhs=%s", num(p.LedgerHistoryStartVersion))
	if p.KVSnapshot != nil {
		fmt.Fprintf(&b, " kv=%d/%d", p.KVSnapshot.Epoch, p.KVSnapshot.Version)
	} else {
		b.WriteString(" kv=none")
	}
	fmt.Fprintf(&b, " tree=%d/%d", p.TreeSnapshot.Epoch, p.TreeSnapshot.Version)
	if p.KVReplayFromVersion != nil {
		fmt.Fprintf(&b, " phase1(restore_kv=%v,kv_replay=%d)", p.RestoreKVSnapshot, *p.KVReplayFromVersion)
	}
	fmt.Fprintf(&b, " start=%d txns=[", p.TransactionStartVersion)
	for i, t := range p.Transactions {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%d-%d", t.FirstVersion, t.LastVersion)
	}
	b.WriteString("] epochs=[")
	for i, e := range p.EpochEndings {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%d-%d", e.FirstEpoch, e.LastEpoch)
	}
	fmt.Fprintf(&b, "] replay=%d", p.ReplayFromVersion)
	for _, m := range p.Missing {
		fmt.Fprintf(&b, " missing %s %s %v", m.What, m.Range, m.MovedFiles)
	}
	return b.String()
}

func num(v uint64) string {
	if v == math.MaxUint64 {
		return "max"
	}
	return strconv.FormatUint(v, 10)
}

func moved(handle string, entries ...aptos.Metadata) []aptos.Located {
	var out []aptos.Located
	for i, m := range entries {
		out = append(out, aptos.Located{Handle: handle, Line: i + 1, Entry: m})
	}
	return out
}

// TestPlanRestore pins each rule of the restore coordinator: each flag,
// the two slips of the old `metactl plan`, and where older Aptos (the
// coordinator before the two-phase restore, whose ledger history start
// defaulted to 0 and which replayed from genesis without a snapshot)
// would have planned differently.
func TestPlanRestore(t *testing.T) {
	base := []aptos.Metadata{
		snap(1, 100), snap(2, 200),
		txn(0, 99), txn(100, 199), txn(200, 299),
		epochs(0, 0, 0, 0), epochs(1, 1, 100, 100), epochs(2, 2, 200, 200), epochs(3, 3, 300, 300),
	}
	rows := []struct {
		name    string
		entries []aptos.Metadata
		moved   []aptos.Located
		opts    aptos.RestoreOptions
		want    string // summary, or "error: <message>"
		// older is what older Aptos (legacyPlan below) planned, where it
		// differs; "" where it agrees or the row does not apply.
		older string
	}{
		{
			name:    "slip 1: a genesis snapshot at 0 reads transaction_0-0 beside 1-100",
			entries: []aptos.Metadata{snap(0, 0), txn(0, 0), txn(1, 100), epochs(0, 0, 0, 0)},
			opts:    aptos.RestoreOptions{TargetVersion: u(50)},
			want:    "target=50 lhs=50 kv=0/0 tree=0/0 start=0 txns=[0-0 1-100] epochs=[0-0] replay=1",
		},
		{
			name:    "slip 2: no snapshot at or below the target is refused as Aptos refuses it",
			entries: []aptos.Metadata{snap(2, 200), txn(0, 99), txn(100, 299)},
			opts:    aptos.RestoreOptions{TargetVersion: u(50)},
			want:    "error: no state snapshot at or below target version 50: Cannot find tree snapshot before target version",
			older:   "target=50 snapshot=none start=0 txns=[0-99] epochs=[] replay=0",
		},
		{
			name:    "a transaction backup ending exactly at the KV snapshot's version is read",
			entries: []aptos.Metadata{snap(1, 100), txn(0, 100), txn(101, 200)},
			want:    "target=200(capped from 18446744073709551615) lhs=max kv=1/100 tree=1/100 start=100 txns=[0-100 101-200] epochs=[] replay=101",
			older:   "target=200 snapshot=1/100 start=0 txns=[0-100 101-200] epochs=[] replay=101",
		},
		{
			name:    "defaults: target = latest version, history from the latest snapshot",
			entries: base,
			want:    "target=299(capped from 18446744073709551615) lhs=max kv=2/200 tree=2/200 start=200 txns=[200-299] epochs=[0-0 1-1 2-2] replay=201",
			older:   "target=299 snapshot=2/200 start=0 txns=[0-99 100-199 200-299] epochs=[0-0 1-1 2-2] replay=201",
		},
		{
			name:    "--target-version picks the tree snapshot at or below it",
			entries: base,
			opts:    aptos.RestoreOptions{TargetVersion: u(150)},
			want:    "target=150 lhs=150 kv=1/100 tree=1/100 start=100 txns=[100-199] epochs=[0-0 1-1] replay=101",
		},
		{
			name:    "--target-version on a snapshot's version replays nothing after it",
			entries: base,
			opts:    aptos.RestoreOptions{TargetVersion: u(200)},
			want:    "target=200 lhs=200 kv=2/200 tree=2/200 start=200 txns=[200-299] epochs=[0-0 1-1 2-2] replay=201",
		},
		{
			name:    "--target-version beyond the backups is capped at the latest version",
			entries: base,
			opts:    aptos.RestoreOptions{TargetVersion: u(1000)},
			want:    "target=299(capped from 1000) lhs=1000 kv=2/200 tree=2/200 start=200 txns=[200-299] epochs=[0-0 1-1 2-2] replay=201",
		},
		{
			name:    "--ledger-history-start-version 0 without a snapshot at 0: full history, values replayed from 0",
			entries: base,
			opts:    aptos.RestoreOptions{LedgerHistoryStartVersion: u(0)},
			want:    "target=299(capped from 18446744073709551615) lhs=0 kv=none tree=2/200 phase1(restore_kv=false,kv_replay=0) start=0 txns=[0-99 100-199 200-299] epochs=[0-0 1-1 2-2] replay=201",
		},
		{
			name:    "--ledger-history-start-version between snapshots: KV snapshot below it, tree snapshot at the target",
			entries: base,
			opts:    aptos.RestoreOptions{LedgerHistoryStartVersion: u(150)},
			want:    "target=299(capped from 18446744073709551615) lhs=150 kv=1/100 tree=2/200 phase1(restore_kv=true,kv_replay=101) start=100 txns=[100-199 200-299] epochs=[0-0 1-1 2-2] replay=201",
			older:   "target=299 snapshot=2/200 start=150 txns=[100-199 200-299] epochs=[0-0 1-1 2-2] replay=201",
		},
		{
			name:    "--ledger-history-start-version above the target: no backup holds the replay, and the plan says so",
			entries: base,
			opts:    aptos.RestoreOptions{TargetVersion: u(150), LedgerHistoryStartVersion: u(5000)},
			want:    "target=150 lhs=5000 kv=2/200 tree=1/100 start=200 txns=[] epochs=[0-0 1-1] replay=101 missing transactions 101-150 []",
		},
		{
			name:    "--replay-all skips phase 1 but reads the same backups",
			entries: base,
			opts:    aptos.RestoreOptions{LedgerHistoryStartVersion: u(150), ReplayAll: true},
			want:    "target=299(capped from 18446744073709551615) lhs=150 kv=1/100 tree=2/200 start=100 txns=[100-199 200-299] epochs=[0-0 1-1 2-2] replay=201",
			older:   "target=299 snapshot=none start=0 txns=[0-99 100-199 200-299] epochs=[0-0 1-1 2-2] replay=0",
		},
		{
			name:    "--replay-all still needs a tree snapshot",
			entries: []aptos.Metadata{txn(0, 99)},
			opts:    aptos.RestoreOptions{ReplayAll: true},
			want:    "error: no state snapshot at or below target version 99: Cannot find tree snapshot before target version",
			older:   "target=99 snapshot=none start=0 txns=[0-99] epochs=[] replay=0",
		},
		{
			name:    "the greatest snapshot in (epoch, version, manifest) order wins, not the largest version",
			entries: []aptos.Metadata{snap(2, 100), snap(1, 150), txn(0, 199)},
			want:    "target=199(capped from 18446744073709551615) lhs=max kv=2/100 tree=2/100 start=100 txns=[0-199] epochs=[] replay=101",
			older:   "target=199 snapshot=2/100 start=0 txns=[0-199] epochs=[] replay=101",
		},
		{
			name:    "no transaction backup",
			entries: []aptos.Metadata{snap(0, 0)},
			want:    "error: No transaction backup found.",
		},
		{
			name:    "a hole between the last backup visited and the target, covered by a moved file",
			entries: []aptos.Metadata{snap(0, 0), txn(0, 99), txn(200, 299)},
			moved:   moved("metadata_backup/transaction_100-199.meta", txn(100, 199)),
			opts:    aptos.RestoreOptions{TargetVersion: u(150)},
			want:    "target=150 lhs=150 kv=0/0 tree=0/0 start=0 txns=[0-99] epochs=[] replay=1 missing transactions 100-150 [metadata_backup/transaction_100-199.meta]",
		},
		{
			name:    "a hole inside the range: Aptos's continuity error, the missing range and the moved file",
			entries: []aptos.Metadata{snap(0, 0), txn(0, 99), txn(200, 299)},
			moved: append(moved("metadata_backup/transaction_compacted_100-199.meta", txn(100, 149), txn(150, 199)),
				moved("metadata_backup/transaction_0-99.meta", txn(0, 99))...),
			want: "error: Transaction backup ranges not continuous, expecting version 100, got 200.; versions 100-199 are not covered by any live file; moved file(s) that would cover them: metadata_backup/transaction_compacted_100-199.meta",
		},
		{
			name:    "a hole with nothing moved to cover it",
			entries: []aptos.Metadata{snap(0, 0), txn(0, 99), txn(200, 299)},
			want:    "error: Transaction backup ranges not continuous, expecting version 100, got 200.; versions 100-199 are not covered by any live file",
		},
		{
			name:    "overlapping ranges: Aptos's continuity error, no hole",
			entries: []aptos.Metadata{snap(0, 0), txn(0, 99), txn(50, 199)},
			want:    "error: Transaction backup ranges not continuous, expecting version 100, got 50.",
		},
		{
			name:    "versions that exist only in metadata_backup/ beyond the live ones",
			entries: []aptos.Metadata{snap(0, 0), txn(0, 99)},
			moved:   moved("metadata_backup/transaction_100-199.meta", txn(100, 199)),
			opts:    aptos.RestoreOptions{TargetVersion: u(500)},
			want:    "target=99(capped from 500) lhs=500 kv=0/0 tree=0/0 start=0 txns=[0-99] epochs=[] replay=1 missing transactions 100-199 [metadata_backup/transaction_100-199.meta]",
		},
		{
			name:    "an epoch-ending hole names the moved file",
			entries: []aptos.Metadata{snap(0, 0), txn(0, 99), epochs(0, 0, 0, 0), epochs(2, 2, 50, 50)},
			moved:   moved("metadata_backup/epoch_ending_1-1.meta", epochs(1, 1, 20, 20)),
			want:    "error: Epoch ending backup ranges not continuous, expecting epoch 1, got 2.; epoch-ending epochs 1 are not covered by any live file; moved file(s) that would cover them: metadata_backup/epoch_ending_1-1.meta",
		},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			v := aptos.NewView(r.entries)
			p, err := v.PlanRestore(r.opts, r.moved)
			got := ""
			if err != nil {
				got = "error: " + err.Error()
				if !errors.Is(err, aptos.ErrInvalid) {
					t.Errorf("error does not wrap ErrInvalid: %v", err)
				}
			} else {
				got = summary(p)
			}
			if got != r.want {
				t.Errorf("plan\n got %s\nwant %s", got, r.want)
			}
			// The independent reference agrees on every row.
			if ref := refPlanLocated(r.entries, r.moved, r.opts); ref != got {
				t.Errorf("reference disagrees\n  ref %s\n plan %s", ref, got)
			}
			if r.older != "" {
				if old := legacyPlan(r.entries, r.opts); old != r.older {
					t.Errorf("older Aptos\n got %s\nwant %s", old, r.older)
				}
			}
		})
	}
}

// legacyPlan is the older Aptos coordinator (before the two-phase restore,
// aptos-core 06127a0 coordinators/restore.rs, run_impl), kept to show
// where today's rules differ: the target is capped by the transaction
// backups selected from 0; without --replay-all the snapshot at or below
// it is used if there is one, else everything is replayed from genesis;
// --ledger-history-start-version defaulted to 0, so transaction backups
// were read from min(that, snapshot + 1).
func legacyPlan(entries []aptos.Metadata, opts aptos.RestoreOptions) string {
	v := aptos.NewView(entries)
	target := uint64(math.MaxUint64)
	if opts.TargetVersion != nil {
		target = *opts.TargetVersion
	}
	txns, err := v.SelectTransactionBackups(0, target)
	if err != nil {
		return "error: " + err.Error()
	}
	if len(txns) == 0 {
		return "error: No transaction backup found."
	}
	if last := txns[len(txns)-1].LastVersion; last <= target {
		target = last
	}
	eps, err := v.SelectEpochEndingBackups(target)
	if err != nil {
		return "error: " + err.Error()
	}
	snapshot, replay, snapText := uint64(0), uint64(0), "none"
	if s, ok := v.SelectStateSnapshot(target); ok && !opts.ReplayAll {
		snapshot, replay, snapText = s.Version, s.Version+1, fmt.Sprintf("%d/%d", s.Epoch, s.Version)
	}
	_ = snapshot
	lhs := uint64(0)
	if opts.LedgerHistoryStartVersion != nil {
		lhs = *opts.LedgerHistoryStartVersion
	}
	start := min(lhs, replay)
	var kept []string
	for _, t := range txns {
		if t.LastVersion >= start {
			kept = append(kept, fmt.Sprintf("%d-%d", t.FirstVersion, t.LastVersion))
		}
	}
	var es []string
	for _, e := range eps {
		es = append(es, fmt.Sprintf("%d-%d", e.FirstEpoch, e.LastEpoch))
	}
	return fmt.Sprintf("target=%d snapshot=%s start=%d txns=[%s] epochs=[%s] replay=%d",
		target, snapText, start, strings.Join(kept, " "), strings.Join(es, " "), replay)
}

// refPlanLocated is a second, deliberately plain implementation of the
// rules in docs/restore-planning.md, written from the document rather
// than from PlanRestore: sort with package sort, walk with indexes, find
// holes version by version, and render the same summary. It shares no
// code with aptos's view queries.
func locate(ms []aptos.Metadata) []aptos.Located {
	out := make([]aptos.Located, len(ms))
	for i, m := range ms {
		out[i] = aptos.Located{Handle: "metadata_backup/m" + strconv.Itoa(i) + ".meta", Line: 1, Entry: m}
	}
	return out
}

type refTxn struct {
	first, last uint64
	manifest    string
}
type refSnap struct {
	epoch, version uint64
	manifest       string
}
type refEpoch struct {
	firstEpoch, lastEpoch, firstVersion, lastVersion uint64
	manifest                                         string
}

func refPlanLocated(entries []aptos.Metadata, movedFiles []aptos.Located, opts aptos.RestoreOptions) string {
	var txns []refTxn
	var snaps []refSnap
	var eps []refEpoch
	seen := map[string]bool{}
	for _, m := range entries {
		key := fmt.Sprintf("%d %+v %+v %+v", m.Kind, m.Transaction, m.StateSnapshot, m.EpochEnding)
		if seen[key] {
			continue // exact duplicates count once
		}
		seen[key] = true
		switch m.Kind {
		case aptos.KindTransaction:
			txns = append(txns, refTxn{m.Transaction.FirstVersion, m.Transaction.LastVersion, m.Transaction.Manifest})
		case aptos.KindStateSnapshot:
			snaps = append(snaps, refSnap{m.StateSnapshot.Epoch, m.StateSnapshot.Version, m.StateSnapshot.Manifest})
		case aptos.KindEpochEnding:
			e := m.EpochEnding
			eps = append(eps, refEpoch{e.FirstEpoch, e.LastEpoch, e.FirstVersion, e.LastVersion, e.Manifest})
		}
	}
	sort.Slice(txns, func(i, j int) bool {
		a, b := txns[i], txns[j]
		if a.first != b.first {
			return a.first < b.first
		}
		if a.last != b.last {
			return a.last < b.last
		}
		return a.manifest < b.manifest
	})
	sort.Slice(snaps, func(i, j int) bool {
		a, b := snaps[i], snaps[j]
		if a.epoch != b.epoch {
			return a.epoch < b.epoch
		}
		if a.version != b.version {
			return a.version < b.version
		}
		return a.manifest < b.manifest
	})
	sort.Slice(eps, func(i, j int) bool {
		a, b := eps[i], eps[j]
		if a.firstEpoch != b.firstEpoch {
			return a.firstEpoch < b.firstEpoch
		}
		if a.lastEpoch != b.lastEpoch {
			return a.lastEpoch < b.lastEpoch
		}
		if a.firstVersion != b.firstVersion {
			return a.firstVersion < b.firstVersion
		}
		if a.lastVersion != b.lastVersion {
			return a.lastVersion < b.lastVersion
		}
		return a.manifest < b.manifest
	})
	// Snapshot at or below v: the last one in sorted order with version <= v.
	snapAtOrBelow := func(v uint64) int {
		found := -1
		for i := range snaps {
			if snaps[i].version <= v {
				found = i
			}
		}
		return found
	}
	movedNames := func(transactions bool, first, last uint64) string {
		names := map[string]bool{}
		for _, l := range movedFiles {
			lo, hi := l.Entry.Transaction.FirstVersion, l.Entry.Transaction.LastVersion
			if !transactions {
				lo, hi = l.Entry.EpochEnding.FirstEpoch, l.Entry.EpochEnding.LastEpoch
			}
			wantKind := aptos.KindEpochEnding
			if transactions {
				wantKind = aptos.KindTransaction
			}
			if l.Entry.Kind == wantKind && !(hi < first || lo > last) {
				names[l.Handle] = true
			}
		}
		var list []string
		for n := range names {
			list = append(list, n)
		}
		sort.Strings(list)
		return strings.Join(list, ", ")
	}
	rangeText := func(a, b uint64) string {
		if a == b {
			return strconv.FormatUint(a, 10)
		}
		return fmt.Sprintf("%d-%d", a, b)
	}

	if len(txns) == 0 {
		return "error: No transaction backup found."
	}
	requested := uint64(math.MaxUint64)
	if opts.TargetVersion != nil {
		requested = *opts.TargetVersion
	}
	maxTxn := txns[len(txns)-1].last
	target := requested
	if maxTxn < target {
		target = maxTxn
	}
	lhs := requested
	if opts.LedgerHistoryStartVersion != nil {
		lhs = *opts.LedgerHistoryStartVersion
	}
	kvAt := lhs
	if maxTxn < kvAt {
		kvAt = maxTxn
	}
	kv := snapAtOrBelow(kvAt)
	tree := snapAtOrBelow(target)
	if tree < 0 {
		return fmt.Sprintf("error: no state snapshot at or below target version %d: Cannot find tree snapshot before target version", target)
	}
	start := uint64(0)
	if kv >= 0 {
		start = snaps[kv].version
	}
	// Transactions: walk all entries starting at or below the target,
	// each must begin where the previous ended.
	var picked []string
	var pickedRanges [][2]uint64
	expect := uint64(0)
	for _, t := range txns {
		if t.first > target {
			break
		}
		if t.first != expect {
			msg := fmt.Sprintf("error: Transaction backup ranges not continuous, expecting version %d, got %d.", expect, t.first)
			if t.first > expect {
				msg += fmt.Sprintf("; versions %s are not covered by any live file", rangeText(expect, t.first-1))
				if n := movedNames(true, expect, t.first-1); n != "" {
					msg += "; moved file(s) that would cover them: " + n
				}
			}
			return msg
		}
		if t.last >= start {
			picked = append(picked, fmt.Sprintf("%d-%d", t.first, t.last))
			pickedRanges = append(pickedRanges, [2]uint64{t.first, t.last})
		}
		expect = t.last + 1
	}
	var pickedEpochs []string
	nextEpoch := uint64(0)
	for _, e := range eps {
		if e.firstVersion > target {
			break
		}
		if e.firstEpoch != nextEpoch {
			msg := fmt.Sprintf("error: Epoch ending backup ranges not continuous, expecting epoch %d, got %d.", nextEpoch, e.firstEpoch)
			if e.firstEpoch > nextEpoch {
				msg += fmt.Sprintf("; epoch-ending epochs %s are not covered by any live file", rangeText(nextEpoch, e.firstEpoch-1))
				if n := movedNames(false, nextEpoch, e.firstEpoch-1); n != "" {
					msg += "; moved file(s) that would cover them: " + n
				}
			}
			return msg
		}
		pickedEpochs = append(pickedEpochs, fmt.Sprintf("%d-%d", e.firstEpoch, e.lastEpoch))
		nextEpoch = e.lastEpoch + 1
	}

	var b strings.Builder
	fmt.Fprintf(&b, "target=%d", target)
	if target < requested {
		fmt.Fprintf(&b, "(capped from %d)", requested)
	}
	fmt.Fprintf(&b, " lhs=%s", num(lhs))
	if kv >= 0 {
		fmt.Fprintf(&b, " kv=%d/%d", snaps[kv].epoch, snaps[kv].version)
	} else {
		b.WriteString(" kv=none")
	}
	ts := snaps[tree]
	fmt.Fprintf(&b, " tree=%d/%d", ts.epoch, ts.version)
	if !opts.ReplayAll {
		if kv >= 0 && snaps[kv].version < ts.version {
			fmt.Fprintf(&b, " phase1(restore_kv=true,kv_replay=%d)", snaps[kv].version+1)
		} else if kv < 0 && ts.version > 0 {
			b.WriteString(" phase1(restore_kv=false,kv_replay=0)")
		}
	}
	fmt.Fprintf(&b, " start=%d txns=[%s] epochs=[%s] replay=%d", start, strings.Join(picked, " "), strings.Join(pickedEpochs, " "), ts.version+1)
	// Holes: every version the replay needs, checked one by one against
	// the picked ranges.
	needFrom := ts.version + 1
	if !opts.ReplayAll && kv >= 0 && snaps[kv].version < ts.version {
		needFrom = snaps[kv].version + 1
	} else if !opts.ReplayAll && kv < 0 && ts.version > 0 {
		needFrom = 0
	}
	holeStart, inHole := uint64(0), false
	for ver := needFrom; ver <= target; ver++ {
		held := false
		for _, r := range pickedRanges {
			if r[0] <= ver && ver <= r[1] {
				held = true
			}
		}
		if !held && !inHole {
			holeStart, inHole = ver, true
		}
		if (held || ver == target) && inHole {
			end := ver - 1
			if !held {
				end = ver
			}
			fmt.Fprintf(&b, " missing transactions %s [%s]", rangeText(holeStart, end), strings.Join(strings.Split(movedNames(true, holeStart, end), ", "), " "))
			inHole = false
		}
	}
	if target < requested {
		// Moved entries beyond the live ones: the hole ends where they end.
		var end uint64
		for _, l := range movedFiles {
			if l.Entry.Kind == aptos.KindTransaction && l.Entry.Transaction.LastVersion > maxTxn && l.Entry.Transaction.FirstVersion <= requested {
				end = max(end, l.Entry.Transaction.LastVersion)
			}
		}
		if end > maxTxn {
			end = min(end, requested)
			fmt.Fprintf(&b, " missing transactions %s [%s]", rangeText(maxTxn+1, end), strings.Join(strings.Split(movedNames(true, maxTxn+1, requested), ", "), " "))
		}
	}
	return b.String()
}

// TestPlanRestoreRandomized compares PlanRestore with refPlan over
// generated storages: ranges with holes, overlaps and duplicate ranges,
// snapshots whose epochs disagree with their versions, moved files, and
// every combination of the flags. Seeds are fixed; METACTL_PLAN_SEEDS
// runs more.
func TestPlanRestoreRandomized(t *testing.T) {
	seeds := 500
	if s := os.Getenv("METACTL_PLAN_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		seeds = n
	}
	outcomes := map[string]int{}
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 0x706c616e))
		entries, movedEntries := genStorage(rng)
		v := aptos.NewView(entries)
		located := locate(movedEntries)
		for _, opts := range genOptions(rng) {
			p, err := v.PlanRestore(opts, located)
			got := ""
			switch {
			case err != nil:
				got = "error: " + err.Error()
				outcomes["error"]++
			default:
				got = summary(p)
				if len(p.Missing) > 0 {
					outcomes["missing"]++
				} else {
					outcomes["complete"]++
				}
			}
			if ref := refPlanLocated(entries, located, opts); ref != got {
				t.Fatalf("seed %d, options %s:\n  ref %s\n plan %s\nentries %v\nmoved %v", seed, optText(opts), ref, got, entries, movedEntries)
			}
		}
	}
	// The generator must exercise every outcome, or the comparison proves little.
	for _, k := range []string{"error", "missing", "complete"} {
		if outcomes[k] == 0 {
			t.Errorf("no generated case ended in %q: %v", k, outcomes)
		}
	}
	t.Logf("%d seeds: %v", seeds, outcomes)
}

func optText(o aptos.RestoreOptions) string {
	s := ""
	if o.TargetVersion != nil {
		s += fmt.Sprintf(" --target-version %d", *o.TargetVersion)
	}
	if o.LedgerHistoryStartVersion != nil {
		s += fmt.Sprintf(" --ledger-history-start-version %d", *o.LedgerHistoryStartVersion)
	}
	if o.ReplayAll {
		s += " --replay-all"
	}
	return s
}

// genStorage makes a small storage: transaction ranges from 0 with
// occasional holes, overlaps and re-backups under another manifest;
// snapshots and epoch endings at random points; some entries moved.
func genStorage(rng *rand.Rand) (live, movedOut []aptos.Metadata) {
	var next uint64
	if rng.IntN(20) == 0 {
		next = uint64(1 + rng.IntN(5)) // no backup from version 0
	}
	n := 1 + rng.IntN(8)
	for range n {
		first := next
		switch rng.IntN(20) {
		case 0:
			first += uint64(1 + rng.IntN(20)) // hole
		case 1:
			if first > 0 {
				first -= uint64(1 + rng.IntN(int(min(first, 10)))) // overlap
			}
		}
		last := first + uint64(rng.IntN(40))
		m := txn(first, last)
		if rng.IntN(12) == 0 {
			movedOut = append(movedOut, m)
		} else {
			live = append(live, m)
		}
		if rng.IntN(40) == 0 { // the same range again, other manifest
			live = append(live, aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: first, LastVersion: last, Manifest: "retry/" + strconv.Itoa(rng.IntN(3))}))
		}
		if rng.IntN(15) == 0 { // an exact duplicate
			live = append(live, m)
		}
		next = last + 1
	}
	top := next + 20
	if rng.IntN(2) == 0 {
		live = append(live, snap(0, 0)) // genesis
	}
	if rng.IntN(3) == 0 {
		live = append(live, snap(0, uint64(1+rng.IntN(2)))) // just after genesis
	}
	for range rng.IntN(4) {
		version := uint64(rng.IntN(int(top) + 1))
		epoch := version / 30
		if rng.IntN(6) == 0 {
			epoch = uint64(rng.IntN(10)) // disagrees with the versions
		}
		live = append(live, snap(epoch, version))
	}
	var epoch, version uint64
	for range rng.IntN(6) {
		firstEpoch := epoch
		if rng.IntN(20) == 0 {
			firstEpoch += uint64(1 + rng.IntN(2))
		}
		lastEpoch := firstEpoch + uint64(rng.IntN(3))
		lastVersion := version + uint64(rng.IntN(40))
		m := epochs(firstEpoch, lastEpoch, version, lastVersion)
		if rng.IntN(12) == 0 {
			movedOut = append(movedOut, m)
		} else {
			live = append(live, m)
		}
		epoch, version = lastEpoch+1, lastVersion+1
	}
	rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	return live, movedOut
}

func genOptions(rng *rand.Rand) []aptos.RestoreOptions {
	pick := func() *uint64 {
		switch rng.IntN(4) {
		case 0:
			return nil
		case 1:
			return u(0)
		case 2:
			return u(math.MaxUint64 - 1)
		}
		return u(uint64(rng.IntN(250)))
	}
	var out []aptos.RestoreOptions
	for range 6 {
		out = append(out, aptos.RestoreOptions{TargetVersion: pick(), LedgerHistoryStartVersion: pick(), ReplayAll: rng.IntN(3) == 0})
	}
	return out
}
