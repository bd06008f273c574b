package aptos

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// RestoreOptions are the flags of `aptos-db-tool restore bootstrap-db` that
// decide which backups a restore reads (docs/restore-planning.md). The
// restore is planned for a fresh database, as bootstrap-db into an empty
// folder does.
type RestoreOptions struct {
	// TargetVersion is --target-version; nil means unset (u64::MAX, "recover
	// everything in the backups").
	TargetVersion *uint64
	// LedgerHistoryStartVersion is --ledger-history-start-version; nil means
	// unset, which Aptos reads as the requested target version.
	LedgerHistoryStartVersion *uint64
	// ReplayAll is --replay-all: skip restoring the KV snapshot (phase 1).
	ReplayAll bool
}

// VersionRange is an inclusive range of transaction versions (or epochs,
// where a field says so).
type VersionRange struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

// String returns "first-last", or "first" for a one-version range.
func (r VersionRange) String() string {
	if r.First == r.Last {
		return strconv.FormatUint(r.First, 10)
	}
	return strconv.FormatUint(r.First, 10) + "-" + strconv.FormatUint(r.Last, 10)
}

// Located is an entry together with the file and the 1-based line that hold
// it: the handle:line an operator opens to find it.
type Located struct {
	Handle string
	Line   int
	Entry  Metadata
}

// Where returns "handle:line".
func (l Located) Where() string { return l.Handle + ":" + strconv.Itoa(l.Line) }

// Missing is a range the restore needs but the live files do not cover.
// MovedFiles names the moved files (metadata_backup/) whose entries cover
// part of it, sorted: importing them back (or undoing the move) would close
// the hole.
type Missing struct {
	// What is "transactions" (versions) or "epoch endings" (epochs).
	What       string       `json:"what"`
	Range      VersionRange `json:"range"`
	MovedFiles []string     `json:"moved_files"`
}

// String describes the hole for an operator.
func (m Missing) String() string {
	unit := "versions"
	if m.What == MissingEpochEndings {
		unit = "epochs"
	}
	s := fmt.Sprintf("%s %s are not covered by any live file", unit, m.Range)
	if m.What == MissingEpochEndings {
		s = "epoch-ending " + s
	}
	if len(m.MovedFiles) > 0 {
		s += "; moved file(s) that would cover them: " + strings.Join(m.MovedFiles, ", ")
	}
	return s
}

// The values of Missing.What.
const (
	MissingTransactions = "transactions"
	MissingEpochEndings = "epoch endings"
)

// RestorePlan is what Aptos's restore coordinator would read for a fresh
// database, and what it would silently leave out (Missing).
type RestorePlan struct {
	// RequestedTargetVersion is the --target-version asked for
	// (u64::MAX when unset).
	RequestedTargetVersion uint64 `json:"requested_target_version"`
	// MaxTransactionVersion is the view's max_transaction_version: the
	// last_version of the greatest transaction entry in sorted order.
	MaxTransactionVersion uint64 `json:"max_transaction_version"`
	// TargetVersion is min(requested, max transaction version): the
	// version the restore ends at.
	TargetVersion uint64 `json:"target_version"`
	// Capped is true when TargetVersion is less than requested.
	Capped bool `json:"capped"`
	// LedgerHistoryStartVersion is the effective value (the requested
	// target when the flag is unset).
	LedgerHistoryStartVersion uint64 `json:"ledger_history_start_version"`
	ReplayAll                 bool   `json:"replay_all"`
	// KVSnapshot is the snapshot at or below min(ledger history start, max
	// transaction version), or nil. The transaction backups start at its
	// version.
	KVSnapshot *StateSnapshotBackup `json:"kv_snapshot"`
	// RestoreKVSnapshot is true when phase 1 runs with a KV snapshot: it
	// is restored (values only) before the transactions up to the tree
	// snapshot are replayed for their values.
	RestoreKVSnapshot bool `json:"restore_kv_snapshot"`
	// KVReplayFromVersion is set when phase 1 runs (the tree snapshot lies
	// above the KV snapshot, or above version 0 without one; never with
	// --replay-all): the first version whose transactions are replayed for
	// their state values only, up to the tree snapshot.
	KVReplayFromVersion *uint64 `json:"kv_replay_from_version"`
	// TreeSnapshot is the snapshot at or below the target version.
	TreeSnapshot StateSnapshotBackup `json:"tree_snapshot"`
	// TransactionStartVersion is the KV snapshot's version, or 0 without
	// one: transaction backups ending before it are not read.
	TransactionStartVersion uint64              `json:"transaction_start_version"`
	Transactions            []TransactionBackup `json:"transactions"`
	EpochEndings            []EpochEndingBackup `json:"epoch_endings"`
	// ReplayFromVersion is the first version replayed in full (the tree
	// snapshot's version + 1); the versions before it are saved, not run.
	ReplayFromVersion uint64 `json:"replay_from_version"`
	// Missing lists what the restore needs and the live files lack. Aptos
	// says nothing about a hole at the end of the selected range (it
	// restores less than asked); a plan with Missing entries is not a
	// plan that reaches its target.
	Missing []Missing `json:"-"`
}

// Complete reports whether the plan reaches its target with live files.
func (p *RestorePlan) Complete() bool { return len(p.Missing) == 0 }

// ErrNoTreeSnapshot is returned (wrapped, with ErrInvalid) when no state
// snapshot lies at or below the target version: Aptos's coordinator stops
// there ("Cannot find tree snapshot before target version").
var ErrNoTreeSnapshot = errors.New("Cannot find tree snapshot before target version")

// ErrNoTransactionBackup is Aptos's error for a view without transaction
// backups.
var ErrNoTransactionBackup = errors.New("No transaction backup found.")

// PlanError is a restore that Aptos would refuse or that would not reach
// its target: the message, and the holes with the moved files that would
// cover them. It wraps ErrInvalid.
type PlanError struct {
	// Err is the reason, often one of Aptos's own messages.
	Err error
	// Missing names the holes behind Err, if any.
	Missing []Missing
}

func (e *PlanError) Error() string {
	s := e.Err.Error()
	for _, m := range e.Missing {
		s += "; " + m.String()
	}
	return s
}

// Unwrap returns the reason and ErrInvalid.
func (e *PlanError) Unwrap() []error { return []error{e.Err, ErrInvalid} }

// PlanRestore plans a restore of a fresh database as Aptos's restore
// coordinator (coordinators/restore.rs, RestoreCoordinator::run_impl) does;
// every rule and its source is written down in docs/restore-planning.md.
// moved holds the entries of moved files, used only to name the files that
// would cover a hole.
//
// It returns a *PlanError when Aptos would refuse (no transaction backup,
// no tree snapshot, a continuity error). A plan that Aptos would carry out
// but that stops short of its target is returned with Missing set and a
// nil error: the caller decides (metactl plan exits 3).
func (v *View) PlanRestore(opts RestoreOptions, moved []Located) (*RestorePlan, error) {
	p := &RestorePlan{
		RequestedTargetVersion: math.MaxUint64,
		ReplayAll:              opts.ReplayAll,
		Transactions:           []TransactionBackup{},
		EpochEndings:           []EpochEndingBackup{},
		Missing:                []Missing{},
	}
	if opts.TargetVersion != nil {
		p.RequestedTargetVersion = *opts.TargetVersion
	}
	maxTxn, ok := v.MaxTransactionVersion()
	if !ok {
		return nil, &PlanError{Err: ErrNoTransactionBackup}
	}
	p.MaxTransactionVersion = maxTxn
	p.TargetVersion = min(p.RequestedTargetVersion, maxTxn)
	p.Capped = p.TargetVersion < p.RequestedTargetVersion
	// Unset, the ledger history start is the user's target, uncapped.
	p.LedgerHistoryStartVersion = p.RequestedTargetVersion
	if opts.LedgerHistoryStartVersion != nil {
		p.LedgerHistoryStartVersion = *opts.LedgerHistoryStartVersion
	}
	if s, ok := v.SelectStateSnapshot(min(p.LedgerHistoryStartVersion, maxTxn)); ok {
		p.KVSnapshot = &s
	}
	tree, ok := v.SelectStateSnapshot(p.TargetVersion)
	if !ok {
		return nil, &PlanError{Err: fmt.Errorf("no state snapshot at or below target version %d: %w", p.TargetVersion, ErrNoTreeSnapshot)}
	}
	p.TreeSnapshot = tree
	// Phase 1 (values between the KV and the tree snapshot) runs when the
	// tree snapshot lies above the KV snapshot, or above the fresh
	// database's next version 0 when there is no KV snapshot.
	phase1 := tree.Version > 0
	var kvReplay uint64
	if kv := p.KVSnapshot; kv != nil {
		p.TransactionStartVersion = kv.Version
		phase1 = kv.Version < tree.Version
		kvReplay = kv.Version + 1 // kv.Version < tree.Version: no overflow
	}
	if phase1 && !opts.ReplayAll {
		p.RestoreKVSnapshot = p.KVSnapshot != nil
		p.KVReplayFromVersion = &kvReplay
	}
	txns, err := v.SelectTransactionBackups(p.TransactionStartVersion, p.TargetVersion)
	if err != nil {
		return nil, v.explainTransactionGap(err, moved)
	}
	p.Transactions = append(p.Transactions, txns...)
	eps, err := v.SelectEpochEndingBackups(p.TargetVersion)
	if err != nil {
		return nil, v.explainEpochGap(err, moved)
	}
	p.EpochEndings = append(p.EpochEndings, eps...)
	p.ReplayFromVersion = tree.Version
	if tree.Version < math.MaxUint64 {
		p.ReplayFromVersion = tree.Version + 1
	}

	// What Aptos does not say: versions the restore must replay that no
	// selected backup holds. Replay (values only in phase 1, then in
	// full) runs from the KV replay version, or from the tree snapshot's
	// version + 1, to the target; the selected backups are continuous, so
	// they hold one interval, and the holes are before or after it.
	needFrom := p.ReplayFromVersion
	if p.KVReplayFromVersion != nil {
		needFrom = *p.KVReplayFromVersion
	}
	if needFrom <= p.TargetVersion && tree.Version < math.MaxUint64 {
		for _, r := range uncovered(VersionRange{needFrom, p.TargetVersion}, p.Transactions) {
			p.Missing = append(p.Missing, Missing{What: MissingTransactions, Range: r, MovedFiles: movedCovering(moved, KindTransaction, r)})
		}
	}
	// A capped target is a hole too if moved files hold versions beyond
	// the live ones: the range exists only in metadata_backup/.
	if p.Capped && maxTxn < math.MaxUint64 {
		r := VersionRange{maxTxn + 1, p.RequestedTargetVersion}
		if files := movedCovering(moved, KindTransaction, r); len(files) > 0 {
			r.Last = min(r.Last, movedMaxLast(moved, r))
			p.Missing = append(p.Missing, Missing{What: MissingTransactions, Range: r, MovedFiles: files})
		}
	}
	return p, nil
}

// uncovered returns the parts of need that the continuous run of
// backups txns does not hold, in order.
func uncovered(need VersionRange, txns []TransactionBackup) []VersionRange {
	if len(txns) == 0 {
		return []VersionRange{need}
	}
	lo, hi := txns[0].FirstVersion, txns[len(txns)-1].LastVersion
	var out []VersionRange
	if need.First < lo {
		out = append(out, VersionRange{need.First, min(lo-1, need.Last)})
	}
	if hi < need.Last {
		out = append(out, VersionRange{max(hi+1, need.First), need.Last})
	}
	return out
}

// ContinuityError is Aptos's continuity error of select_transaction_backups
// or select_epoch_ending_backups: Expected is the version (or epoch) the
// walk expected, Got the first_version (or first_epoch) it found.
type ContinuityError struct {
	What     string // MissingTransactions or MissingEpochEndings
	Expected uint64
	Got      uint64
}

// Error returns Aptos's message verbatim (capital and full stop included),
// so operators can match it against Aptos's output and runbooks.
func (e *ContinuityError) Error() string {
	if e.What == MissingEpochEndings {
		return fmt.Sprintf("Epoch ending backup ranges not continuous, expecting epoch %d, got %d.", e.Expected, e.Got)
	}
	return fmt.Sprintf("Transaction backup ranges not continuous, expecting version %d, got %d.", e.Expected, e.Got)
}

func (v *View) explainTransactionGap(err error, moved []Located) error {
	pe := &PlanError{Err: err}
	var ce *ContinuityError
	if errors.As(err, &ce) && ce.Got > ce.Expected {
		r := VersionRange{ce.Expected, ce.Got - 1}
		pe.Missing = []Missing{{What: MissingTransactions, Range: r, MovedFiles: movedCovering(moved, KindTransaction, r)}}
	}
	return pe
}

func (v *View) explainEpochGap(err error, moved []Located) error {
	pe := &PlanError{Err: err}
	var ce *ContinuityError
	if errors.As(err, &ce) && ce.Got > ce.Expected {
		r := VersionRange{ce.Expected, ce.Got - 1}
		pe.Missing = []Missing{{What: MissingEpochEndings, Range: r, MovedFiles: movedCovering(moved, KindEpochEnding, r)}}
	}
	return pe
}

// movedCovering returns the sorted, distinct handles of moved entries of
// kind k that overlap r (versions for transactions, epochs for epoch
// endings).
func movedCovering(moved []Located, k Kind, r VersionRange) []string {
	var out []string
	for _, l := range moved {
		if l.Entry.Kind != k {
			continue
		}
		first, last := l.Entry.Transaction.FirstVersion, l.Entry.Transaction.LastVersion
		if k == KindEpochEnding {
			first, last = l.Entry.EpochEnding.FirstEpoch, l.Entry.EpochEnding.LastEpoch
		}
		if first <= r.Last && last >= r.First {
			out = append(out, l.Handle)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// movedMaxLast returns the largest last_version of moved transaction
// entries overlapping r.
func movedMaxLast(moved []Located, r VersionRange) uint64 {
	var m uint64
	for _, l := range moved {
		t := l.Entry.Transaction
		if l.Entry.Kind == KindTransaction && t.FirstVersion <= r.Last && t.LastVersion >= r.First {
			m = max(m, t.LastVersion)
		}
	}
	return m
}
