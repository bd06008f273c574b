package aptos

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
)

// Kind names one variant of the Aptos Metadata enum (docs/aptos-format.md §2.2).
type Kind uint8

// The Metadata variants, in the order the Rust enum declares them. The
// numeric values are part of the catalog's key layout (see keys.go): never
// renumber them.
const (
	KindEpochEnding          Kind = 1
	KindStateSnapshot        Kind = 2
	KindTransaction          Kind = 3
	KindIdentity             Kind = 4
	KindCompactionTimestamps Kind = 5
)

// String returns the serde variant name of k, such as "EpochEndingBackup".
func (k Kind) String() string {
	switch k {
	case KindEpochEnding:
		return "EpochEndingBackup"
	case KindStateSnapshot:
		return "StateSnapshotBackup"
	case KindTransaction:
		return "TransactionBackup"
	case KindIdentity:
		return "Identity"
	case KindCompactionTimestamps:
		return "CompactionTimestamps"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// EpochEndingBackup is the payload of an EpochEndingBackup line. Epochs and
// versions are inclusive.
type EpochEndingBackup struct {
	FirstEpoch   uint64 `json:"first_epoch"`
	LastEpoch    uint64 `json:"last_epoch"`
	FirstVersion uint64 `json:"first_version"`
	LastVersion  uint64 `json:"last_version"`
	Manifest     string `json:"manifest"`
}

// StateSnapshotBackup is the payload of a StateSnapshotBackup line.
type StateSnapshotBackup struct {
	Epoch    uint64 `json:"epoch"`
	Version  uint64 `json:"version"`
	Manifest string `json:"manifest"`
}

// TransactionBackup is the payload of a TransactionBackup line. Versions are
// inclusive.
type TransactionBackup struct {
	FirstVersion uint64 `json:"first_version"`
	LastVersion  uint64 `json:"last_version"`
	Manifest     string `json:"manifest"`
}

// HashValue is a 32-byte Aptos HashValue. It serializes as 64 lowercase hex
// digits.
type HashValue [32]byte

// String returns the 64 lowercase hex digits of h.
func (h HashValue) String() string { return hex.EncodeToString(h[:]) }

// Identity is the payload of an Identity line: the random id of one backup
// storage (one chain).
type Identity struct {
	ID HashValue `json:"id"`
}

// CompactionTimestamps is the payload of a CompactionTimestamps line.
// A nil value in Timestamps is JSON null ("not yet timestamped").
type CompactionTimestamps struct {
	FileCompactedAt uint64             `json:"file_compacted_at"`
	Timestamps      map[string]*uint64 `json:"compaction_timestamps"`
}

// SortedHandles returns the keys of c.Timestamps in byte order.
func (c *CompactionTimestamps) SortedHandles() []string {
	keys := make([]string, 0, len(c.Timestamps))
	for k := range c.Timestamps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Metadata is one line of a metadata file: exactly one variant, named by
// Kind, whose payload is the field of the same name. The other payload
// fields are zero.
type Metadata struct {
	Kind          Kind
	EpochEnding   EpochEndingBackup
	StateSnapshot StateSnapshotBackup
	Transaction   TransactionBackup
	Identity      Identity
	Timestamps    CompactionTimestamps
}

// Name returns the per-entry file name Aptos gives a file holding only m
// (docs/aptos-format.md §3.1), such as "transaction_0-14.meta".
func (m *Metadata) Name() string { return string(m.AppendName(nil)) }

// AppendName appends [Metadata.Name] to dst: a caller comparing many names
// needs no allocation per name.
func (m *Metadata) AppendName(dst []byte) []byte {
	switch m.Kind {
	case KindEpochEnding:
		dst = append(dst, "epoch_ending_"...)
		dst = strconv.AppendUint(dst, m.EpochEnding.FirstEpoch, 10)
		dst = append(dst, '-')
		dst = strconv.AppendUint(dst, m.EpochEnding.LastEpoch, 10)
	case KindStateSnapshot:
		dst = append(dst, "state_snapshot_ver_"...)
		dst = strconv.AppendUint(dst, m.StateSnapshot.Version, 10)
	case KindTransaction:
		dst = append(dst, "transaction_"...)
		dst = strconv.AppendUint(dst, m.Transaction.FirstVersion, 10)
		dst = append(dst, '-')
		dst = strconv.AppendUint(dst, m.Transaction.LastVersion, 10)
	case KindIdentity:
		dst = append(dst, "identity"...)
	case KindCompactionTimestamps:
		dst = append(dst, "compaction_timestamps_"...)
		dst = strconv.AppendUint(dst, m.Timestamps.FileCompactedAt, 10)
	default:
		return dst
	}
	return append(dst, ".meta"...)
}

// CompactedName returns the name Aptos's compaction gives a compacted file
// of kind (docs/aptos-format.md §3.2), from the first and last value of its
// chunk: epochs for epoch endings and state snapshots, versions for
// transactions, such as "transaction_compacted_0-29.meta". Other kinds have
// no compacted files: "".
func CompactedName(kind Kind, first, last uint64) string {
	switch kind {
	case KindEpochEnding:
		return fmt.Sprintf("epoch_ending_compacted_%d-%d.meta", first, last)
	case KindTransaction:
		return fmt.Sprintf("transaction_compacted_%d-%d.meta", first, last)
	case KindStateSnapshot:
		return fmt.Sprintf("state_snapshot_compacted_epoch_%d_%d.meta", first, last)
	}
	return ""
}

// NewEpochEnding returns an EpochEndingBackup line.
func NewEpochEnding(e EpochEndingBackup) Metadata {
	return Metadata{Kind: KindEpochEnding, EpochEnding: e}
}

// NewStateSnapshot returns a StateSnapshotBackup line.
func NewStateSnapshot(s StateSnapshotBackup) Metadata {
	return Metadata{Kind: KindStateSnapshot, StateSnapshot: s}
}

// NewTransaction returns a TransactionBackup line.
func NewTransaction(t TransactionBackup) Metadata {
	return Metadata{Kind: KindTransaction, Transaction: t}
}

// NewIdentity returns an Identity line.
func NewIdentity(id HashValue) Metadata {
	return Metadata{Kind: KindIdentity, Identity: Identity{ID: id}}
}

// NewCompactionTimestamps returns a CompactionTimestamps line.
func NewCompactionTimestamps(c CompactionTimestamps) Metadata {
	return Metadata{Kind: KindCompactionTimestamps, Timestamps: c}
}
