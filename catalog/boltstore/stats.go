package boltstore

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

// Stats kept in the meta bucket (keyStats) so that status answers without
// walking the entry index or the files: the largest epoch-ending
// last_epoch, the largest transaction last_version, and the live and moved
// file counts. They are updated in the same transaction as the files and
// the index, like the digest and the entry count.
//
// Catalogs written before the key existed still open: a read falls back to
// the walk, and the first write computes the stats and stores them.
//
// Layout, 34 bytes:
//
//	0   1  version (1)
//	1   1  flags: 1 = an epoch-ending entry exists, 2 = a transaction entry exists
//	2   8  largest epoch-ending last_epoch, u64 BE
//	10  8  largest transaction last_version, u64 BE
//	18  8  live files, u64 BE
//	26  8  moved files, u64 BE
const (
	statsVersion = 1
	statsLen     = 34
	statsHasEE   = 1
	statsHasTxn  = 2
)

type stats struct {
	known       bool // false: an old catalog without the key (read: walk)
	flags       byte
	eeLast      uint64
	txnLast     uint64
	live, moved uint64
	eeDirty     bool // a removed entry held the maximum: recompute at flush
	txnDirty    bool
	changed     bool // must be stored at commit
}

func decodeStats(v []byte) (stats, bool) {
	if len(v) != statsLen || v[0] != statsVersion {
		return stats{}, false
	}
	return stats{
		known:   true,
		flags:   v[1],
		eeLast:  binary.BigEndian.Uint64(v[2:]),
		txnLast: binary.BigEndian.Uint64(v[10:]),
		live:    binary.BigEndian.Uint64(v[18:]),
		moved:   binary.BigEndian.Uint64(v[26:]),
	}, true
}

func (s *stats) encode() []byte {
	b := make([]byte, 2, statsLen)
	b[0], b[1] = statsVersion, s.flags
	b = binary.BigEndian.AppendUint64(b, s.eeLast)
	b = binary.BigEndian.AppendUint64(b, s.txnLast)
	b = binary.BigEndian.AppendUint64(b, s.live)
	return binary.BigEndian.AppendUint64(b, s.moved)
}

// entryLast returns the number that the storage state takes the maximum
// of, for an epoch-ending key (last_epoch) or a transaction key
// (last_version): bytes 9..17 of both layouts.
func entryLast(k []byte) (uint64, bool) {
	if len(k) < 17 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[9:17]), true
}

// noteEntry updates the maxima for an entry key that appeared (delta +1)
// or disappeared (delta -1).
func (s *stats) noteEntry(k []byte, delta int) {
	if !s.known || len(k) == 0 {
		return
	}
	v, ok := entryLast(k)
	if !ok {
		return
	}
	switch aptos.Kind(k[0]) {
	case aptos.KindEpochEnding:
		if delta > 0 && (s.flags&statsHasEE == 0 || v > s.eeLast) {
			s.flags |= statsHasEE
			s.eeLast = v
		} else if delta < 0 && v == s.eeLast {
			s.eeDirty = true
		}
	case aptos.KindTransaction:
		if delta > 0 && (s.flags&statsHasTxn == 0 || v > s.txnLast) {
			s.flags |= statsHasTxn
			s.txnLast = v
		} else if delta < 0 && v == s.txnLast {
			s.txnDirty = true
		}
	default:
		return
	}
	s.changed = true
}

// noteFile counts a file that appeared in (delta +1) or left (delta -1)
// state st.
func (s *stats) noteFile(st catalog.State, delta int) {
	if !s.known {
		return
	}
	c := &s.live
	if st == catalog.Moved {
		c = &s.moved
	}
	*c = uint64(int64(*c) + int64(delta))
	s.changed = true
}

// maxLast walks the entries of one kind and returns the largest last
// field, for the rare write that removed the entry holding the maximum.
func maxLast(entries *bolt.Bucket, kind aptos.Kind) (uint64, bool, error) {
	var best uint64
	found := false
	c := entries.Cursor()
	for k, _ := c.Seek([]byte{byte(kind)}); k != nil && k[0] == byte(kind); k, _ = c.Next() {
		v, ok := entryLast(k)
		if !ok {
			return 0, false, fmt.Errorf("read view: %w: entry key of %d bytes", catalog.ErrCorrupt, len(k))
		}
		if !found || v > best {
			best, found = v, true
		}
	}
	return best, found, nil
}

// settle recomputes maxima that a removal may have lowered.
func (s *stats) settle(entries *bolt.Bucket) error {
	if s.eeDirty {
		v, ok, err := maxLast(entries, aptos.KindEpochEnding)
		if err != nil {
			return err
		}
		s.eeLast, s.flags = v, s.flags&^statsHasEE
		if ok {
			s.flags |= statsHasEE
		}
		s.eeDirty = false
	}
	if s.txnDirty {
		v, ok, err := maxLast(entries, aptos.KindTransaction)
		if err != nil {
			return err
		}
		s.txnLast, s.flags = v, s.flags&^statsHasTxn
		if ok {
			s.flags |= statsHasTxn
		}
		s.txnDirty = false
	}
	return nil
}

// computeStats walks the index and the files: the stats of a catalog
// written before they were kept.
func computeStats(btx *bolt.Tx) (stats, error) {
	s := stats{known: true, changed: true}
	entries := btx.Bucket(bucketEntries)
	var err error
	var ok bool
	if s.eeLast, ok, err = maxLast(entries, aptos.KindEpochEnding); err != nil {
		return s, err
	} else if ok {
		s.flags |= statsHasEE
	}
	if s.txnLast, ok, err = maxLast(entries, aptos.KindTransaction); err != nil {
		return s, err
	} else if ok {
		s.flags |= statsHasTxn
	}
	live, moved, err := countFiles(btx)
	s.live, s.moved = uint64(live), uint64(moved)
	return s, err
}

// latestSnapshot returns the greatest state-snapshot entry: the last key
// of its kind, as keys sort by (epoch, version, manifest).
func latestSnapshot(entries *bolt.Bucket) (*aptos.StateSnapshotBackup, error) {
	c := entries.Cursor()
	k, _ := c.Seek([]byte{byte(aptos.KindStateSnapshot) + 1})
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || k[0] != byte(aptos.KindStateSnapshot) {
		return nil, nil
	}
	m, err := aptos.DecodeEntryKey(k)
	if err != nil {
		return nil, fmt.Errorf("read view: %w: %w", catalog.ErrCorrupt, err)
	}
	return &m.StateSnapshot, nil
}

func countFiles(btx *bolt.Tx) (live, moved int, err error) {
	c := btx.Bucket(bucketFiles).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v) < fileRecFixedLen {
			return 0, 0, fmt.Errorf("file %q: malformed record: %w", k, catalog.ErrCorrupt)
		}
		switch catalog.State(v[1]) {
		case catalog.Live:
			live++
		case catalog.Moved:
			moved++
		default:
			return 0, 0, fmt.Errorf("file %q: unknown state %d: %w", k, v[1], catalog.ErrCorrupt)
		}
	}
	return live, moved, nil
}
