package aptos

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/bits"
)

// Digest is the view digest: a canonical, order-independent hash of the set
// of entries in the view (epoch-ending, state-snapshot and transaction
// entries, deduplicated). Identity and CompactionTimestamps lines are not
// part of it, so compaction, which rewrites and moves files, leaves it
// unchanged while any lost or added entry changes it.
//
// It is the sum, modulo 2^256, of SHA-256 over each entry's key (keys.go),
// read as four little-endian 64-bit limbs: an additive multiset hash. The
// sum can be kept up to date entry by entry inside a transaction (add when
// an entry first appears, subtract when its last live copy goes), so no
// write has to rescan the whole view; View.Digest recomputes it from
// scratch and `metactl verify` compares the two. It detects accidents, not
// adversaries: do not use it as a cryptographic commitment.
type Digest [32]byte

// String returns the digest as 64 lowercase hex digits.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Short returns the first 12 hex digits, for logs and tables.
func (d Digest) Short() string { return d.String()[:12] }

// ParseDigest parses 64 hex digits.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(d) {
		return d, ErrInvalid
	}
	copy(d[:], b)
	return d, nil
}

// MarshalText implements encoding.TextMarshaler (hex).
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex).
func (d *Digest) UnmarshalText(b []byte) error {
	v, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Add adds the entry whose [EntryKey] is key to the digest.
func (d *Digest) Add(key []byte) { d.combine(key, false) }

// Subtract removes the entry whose [EntryKey] is key from the digest.
func (d *Digest) Subtract(key []byte) { d.combine(key, true) }

func (d *Digest) combine(key []byte, sub bool) {
	h := sha256.Sum256(key)
	var carry uint64
	for i := 0; i < 4; i++ {
		a := binary.LittleEndian.Uint64(d[i*8:])
		b := binary.LittleEndian.Uint64(h[i*8:])
		var r uint64
		if sub {
			r, carry = bits.Sub64(a, b, carry)
		} else {
			r, carry = bits.Add64(a, b, carry)
		}
		binary.LittleEndian.PutUint64(d[i*8:], r)
	}
}

// Plus returns d + o: the digest of the union of two disjoint entry sets.
func (d Digest) Plus(o Digest) Digest {
	var carry uint64
	for i := 0; i < 4; i++ {
		var r uint64
		r, carry = bits.Add64(binary.LittleEndian.Uint64(d[i*8:]), binary.LittleEndian.Uint64(o[i*8:]), carry)
		binary.LittleEndian.PutUint64(d[i*8:], r)
	}
	return d
}

// Minus returns d - o: the digest of d's entries without o's, where o's
// entries are a subset of d's.
func (d Digest) Minus(o Digest) Digest {
	var borrow uint64
	for i := 0; i < 4; i++ {
		var r uint64
		r, borrow = bits.Sub64(binary.LittleEndian.Uint64(d[i*8:]), binary.LittleEndian.Uint64(o[i*8:]), borrow)
		binary.LittleEndian.PutUint64(d[i*8:], r)
	}
	return d
}
