package aptos

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Entry keys: the canonical byte encoding of a view entry. Numbers are
// fixed-width big-endian so that byte order equals numeric order, which
// makes a sorted walk over keys produce Aptos's sorted view, and the view
// digest is defined over these bytes ([Digest]).
//
//	EpochEndingBackup   0x01 | first_epoch | last_epoch | first_version | last_version | manifest
//	StateSnapshotBackup 0x02 | epoch | version | manifest
//	TransactionBackup   0x03 | first_version | last_version | manifest
//
// Every number is 8 bytes; the manifest is the raw UTF-8 string (it sorts
// last, by bytes, as Rust's derived Ord compares Strings).
const entryNumLen = 8

// EntryKey returns the entries-bucket key of m, or nil for kinds that are
// not part of the view (Identity, CompactionTimestamps).
func EntryKey(m *Metadata) []byte {
	n := entryKeyLen(m)
	if n == 0 {
		return nil
	}
	return AppendEntryKey(make([]byte, 0, n), m)
}

// AppendEntryKey appends m's entries-bucket key to dst and returns the
// extended slice; for kinds that are not part of the view it returns dst
// unchanged. It lets a caller encode many keys into one reused buffer.
func AppendEntryKey(dst []byte, m *Metadata) []byte {
	switch m.Kind {
	case KindEpochEnding:
		e := &m.EpochEnding
		dst = append(dst, byte(KindEpochEnding))
		dst = binary.BigEndian.AppendUint64(dst, e.FirstEpoch)
		dst = binary.BigEndian.AppendUint64(dst, e.LastEpoch)
		dst = binary.BigEndian.AppendUint64(dst, e.FirstVersion)
		dst = binary.BigEndian.AppendUint64(dst, e.LastVersion)
		dst = append(dst, e.Manifest...)
	case KindStateSnapshot:
		s := &m.StateSnapshot
		dst = append(dst, byte(KindStateSnapshot))
		dst = binary.BigEndian.AppendUint64(dst, s.Epoch)
		dst = binary.BigEndian.AppendUint64(dst, s.Version)
		dst = append(dst, s.Manifest...)
	case KindTransaction:
		t := &m.Transaction
		dst = append(dst, byte(KindTransaction))
		dst = binary.BigEndian.AppendUint64(dst, t.FirstVersion)
		dst = binary.BigEndian.AppendUint64(dst, t.LastVersion)
		dst = append(dst, t.Manifest...)
	}
	return dst
}

// entryKeyLen returns the length of m's entry key, 0 if it has none.
func entryKeyLen(m *Metadata) int {
	switch m.Kind {
	case KindEpochEnding:
		return 1 + 4*entryNumLen + len(m.EpochEnding.Manifest)
	case KindStateSnapshot:
		return 1 + 2*entryNumLen + len(m.StateSnapshot.Manifest)
	case KindTransaction:
		return 1 + 2*entryNumLen + len(m.Transaction.Manifest)
	}
	return 0
}

var ErrBadEntryKey = errors.New("malformed entry key")

// DecodeEntryKey is the inverse of EntryKey.
func DecodeEntryKey(k []byte) (Metadata, error) {
	if len(k) < 1 {
		return Metadata{}, ErrBadEntryKey
	}
	num := func(i int) uint64 { return binary.BigEndian.Uint64(k[1+i*entryNumLen:]) }
	switch Kind(k[0]) {
	case KindEpochEnding:
		if len(k) < 1+4*entryNumLen {
			return Metadata{}, ErrBadEntryKey
		}
		return NewEpochEnding(EpochEndingBackup{num(0), num(1), num(2), num(3), string(k[1+4*entryNumLen:])}), nil
	case KindStateSnapshot:
		if len(k) < 1+2*entryNumLen {
			return Metadata{}, ErrBadEntryKey
		}
		return NewStateSnapshot(StateSnapshotBackup{num(0), num(1), string(k[1+2*entryNumLen:])}), nil
	case KindTransaction:
		if len(k) < 1+2*entryNumLen {
			return Metadata{}, ErrBadEntryKey
		}
		return NewTransaction(TransactionBackup{num(0), num(1), string(k[1+2*entryNumLen:])}), nil
	}
	return Metadata{}, fmt.Errorf("%w: kind %d", ErrBadEntryKey, k[0])
}
