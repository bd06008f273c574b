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
	var k []byte
	switch m.Kind {
	case KindEpochEnding:
		e := &m.EpochEnding
		k = make([]byte, 0, 1+4*entryNumLen+len(e.Manifest))
		k = append(k, byte(KindEpochEnding))
		k = binary.BigEndian.AppendUint64(k, e.FirstEpoch)
		k = binary.BigEndian.AppendUint64(k, e.LastEpoch)
		k = binary.BigEndian.AppendUint64(k, e.FirstVersion)
		k = binary.BigEndian.AppendUint64(k, e.LastVersion)
		k = append(k, e.Manifest...)
	case KindStateSnapshot:
		s := &m.StateSnapshot
		k = make([]byte, 0, 1+2*entryNumLen+len(s.Manifest))
		k = append(k, byte(KindStateSnapshot))
		k = binary.BigEndian.AppendUint64(k, s.Epoch)
		k = binary.BigEndian.AppendUint64(k, s.Version)
		k = append(k, s.Manifest...)
	case KindTransaction:
		t := &m.Transaction
		k = make([]byte, 0, 1+2*entryNumLen+len(t.Manifest))
		k = append(k, byte(KindTransaction))
		k = binary.BigEndian.AppendUint64(k, t.FirstVersion)
		k = binary.BigEndian.AppendUint64(k, t.LastVersion)
		k = append(k, t.Manifest...)
	}
	return k
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
