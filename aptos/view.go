package aptos

import (
	"cmp"
	"slices"
	"strconv"
)

// View is the derived content of the live files, as Aptos's MetadataView
// builds it (docs/aptos-format.md §5.2): each list sorted by Rust's derived
// field-wise order with consecutive exact duplicates dropped; entries that
// differ only in their manifest are both kept.
type View struct {
	EpochEndings   []EpochEndingBackup
	StateSnapshots []StateSnapshotBackup
	Transactions   []TransactionBackup
	// Identity is the catalog's identity, or nil if none was ever seen.
	Identity *HashValue
	// Timestamps is the CompactionTimestamps entry with the largest
	// file_compacted_at among live files (ties: the one whose file handle
	// sorts last), or nil if there is none. Its map is not yet completed
	// with the listed handles; see Tx.CompactionTimestamps.
	Timestamps *CompactionTimestamps
}

func cmpEpochEnding(a, b EpochEndingBackup) int {
	return cmp.Or(cmp.Compare(a.FirstEpoch, b.FirstEpoch), cmp.Compare(a.LastEpoch, b.LastEpoch),
		cmp.Compare(a.FirstVersion, b.FirstVersion), cmp.Compare(a.LastVersion, b.LastVersion),
		cmp.Compare(a.Manifest, b.Manifest))
}

func cmpStateSnapshot(a, b StateSnapshotBackup) int {
	return cmp.Or(cmp.Compare(a.Epoch, b.Epoch), cmp.Compare(a.Version, b.Version), cmp.Compare(a.Manifest, b.Manifest))
}

func cmpTransaction(a, b TransactionBackup) int {
	return cmp.Or(cmp.Compare(a.FirstVersion, b.FirstVersion), cmp.Compare(a.LastVersion, b.LastVersion),
		cmp.Compare(a.Manifest, b.Manifest))
}

// NewView derives a View from entries the way Aptos's MetadataView::new
// does: split by variant, sort, drop consecutive exact duplicates. It is the
// from-scratch reference that the catalog's incrementally maintained index
// is checked against. Identity: the last one in entries wins.
// CompactionTimestamps: the largest file_compacted_at wins, the later one
// in entries on ties.
func NewView(entries []Metadata) *View {
	v := &View{}
	for i := range entries {
		v.Append(&entries[i])
	}
	slices.SortFunc(v.EpochEndings, cmpEpochEnding)
	v.EpochEndings = slices.Compact(v.EpochEndings)
	slices.SortFunc(v.StateSnapshots, cmpStateSnapshot)
	v.StateSnapshots = slices.Compact(v.StateSnapshots)
	slices.SortFunc(v.Transactions, cmpTransaction)
	v.Transactions = slices.Compact(v.Transactions)
	return v
}

// Append appends m to the list of its kind without sorting (a caller that
// appends in EntryKey order, without duplicates, keeps the view sorted); an
// Identity replaces the one held, a CompactionTimestamps is ignored.
func (v *View) Append(m *Metadata) {
	switch m.Kind {
	case KindEpochEnding:
		v.EpochEndings = append(v.EpochEndings, m.EpochEnding)
	case KindStateSnapshot:
		v.StateSnapshots = append(v.StateSnapshots, m.StateSnapshot)
	case KindTransaction:
		v.Transactions = append(v.Transactions, m.Transaction)
	case KindIdentity:
		id := m.Identity.ID
		v.Identity = &id
	case KindCompactionTimestamps:
		if v.Timestamps == nil || m.Timestamps.FileCompactedAt >= v.Timestamps.FileCompactedAt {
			ts := m.Timestamps
			v.Timestamps = &ts
		}
	}
}

// Len returns the number of entries in the view.
func (v *View) Len() int { return len(v.EpochEndings) + len(v.StateSnapshots) + len(v.Transactions) }

// Digest computes the view digest from scratch (see Digest).
func (v *View) Digest() Digest {
	var d Digest
	v.ForEachEntry(func(m *Metadata) { d.Add(EntryKey(m)) })
	return d
}

// ForEachEntry calls fn for every entry in canonical order: epoch endings,
// then state snapshots, then transactions, each sorted.
func (v *View) ForEachEntry(fn func(m *Metadata)) {
	for _, e := range v.EpochEndings {
		m := NewEpochEnding(e)
		fn(&m)
	}
	for _, s := range v.StateSnapshots {
		m := NewStateSnapshot(s)
		fn(&m)
	}
	for _, t := range v.Transactions {
		m := NewTransaction(t)
		fn(&m)
	}
}

// StorageState is Aptos's BackupStorageState (docs/aptos-format.md §5.4).
type StorageState struct {
	LatestEpochEndingEpoch     *uint64 `json:"latest_epoch_ending_epoch"`
	LatestStateSnapshotEpoch   *uint64 `json:"latest_state_snapshot_epoch"`
	LatestStateSnapshotVersion *uint64 `json:"latest_state_snapshot_version"`
	LatestTransactionVersion   *uint64 `json:"latest_transaction_version"`
}

// String returns the Display text of aptos-db-tool's backup-storage-state
// query, byte for byte, with "none" for absent values.
func (s StorageState) String() string {
	f := func(p *uint64) string {
		if p == nil {
			return "none"
		}
		return strconv.FormatUint(*p, 10)
	}
	return "latest_epoch_ending_epoch: " + f(s.LatestEpochEndingEpoch) +
		", latest_state_snapshot_epoch: " + f(s.LatestStateSnapshotEpoch) +
		", latest_state_snapshot_version: " + f(s.LatestStateSnapshotVersion) +
		", latest_transaction_version: " + f(s.LatestTransactionVersion)
}

// StorageState returns the view's BackupStorageState: the largest
// last_epoch, the greatest (epoch, version, manifest) snapshot, the largest
// last_version.
func (v *View) StorageState() StorageState {
	var s StorageState
	for _, e := range v.EpochEndings {
		if s.LatestEpochEndingEpoch == nil || e.LastEpoch > *s.LatestEpochEndingEpoch {
			x := e.LastEpoch
			s.LatestEpochEndingEpoch = &x
		}
	}
	if ss, ok := v.SelectStateSnapshot(^uint64(0)); ok {
		e, ver := ss.Epoch, ss.Version
		s.LatestStateSnapshotEpoch, s.LatestStateSnapshotVersion = &e, &ver
	}
	for _, t := range v.Transactions {
		if s.LatestTransactionVersion == nil || t.LastVersion > *s.LatestTransactionVersion {
			x := t.LastVersion
			s.LatestTransactionVersion = &x
		}
	}
	return s
}

// SelectStateSnapshot returns the greatest snapshot (in (epoch, version,
// manifest) order) whose version is at most target, as Aptos's
// select_state_snapshot does.
func (v *View) SelectStateSnapshot(target uint64) (StateSnapshotBackup, bool) {
	for i := len(v.StateSnapshots) - 1; i >= 0; i-- {
		if v.StateSnapshots[i].Version <= target {
			return v.StateSnapshots[i], true
		}
	}
	return StateSnapshotBackup{}, false
}

// SelectTransactionBackups returns the transaction backups needed to
// restore versions start..=target, with Aptos's continuity check: from
// version 0, each visited entry must start right after the previous one.
func (v *View) SelectTransactionBackups(start, target uint64) ([]TransactionBackup, error) {
	var out []TransactionBackup
	var next uint64
	for _, t := range v.Transactions {
		if t.FirstVersion > target {
			break
		}
		if t.FirstVersion != next {
			return nil, &ContinuityError{What: MissingTransactions, Expected: next, Got: t.FirstVersion}
		}
		if t.LastVersion >= start {
			out = append(out, t)
		}
		next = t.LastVersion + 1
	}
	return out, nil
}

// SelectEpochEndingBackups returns the epoch-ending backups whose
// first_version is at most target, checking that epochs are continuous from
// epoch 0 (Aptos's select_epoch_ending_backups).
func (v *View) SelectEpochEndingBackups(target uint64) ([]EpochEndingBackup, error) {
	var out []EpochEndingBackup
	var next uint64
	for _, e := range v.EpochEndings {
		if e.FirstVersion > target {
			break
		}
		if e.FirstEpoch != next {
			return nil, &ContinuityError{What: MissingEpochEndings, Expected: next, Got: e.FirstEpoch}
		}
		out = append(out, e)
		next = e.LastEpoch + 1
	}
	return out, nil
}

// MaxTransactionVersion returns the last_version of the greatest
// transaction entry in sorted order.
func (v *View) MaxTransactionVersion() (uint64, bool) {
	if len(v.Transactions) == 0 {
		return 0, false
	}
	return v.Transactions[len(v.Transactions)-1].LastVersion, true
}
