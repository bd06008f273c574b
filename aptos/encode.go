package aptos

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AppendLine appends the serde_json compact encoding of m to dst, without
// the trailing newline, and returns the extended slice. The bytes are
// identical to what Aptos's Rust tools write (docs/aptos-format.md §2.4):
// fields in declaration order, no spaces, serde_json's string escaping. The
// keys of a CompactionTimestamps map are written in byte order (Rust writes
// them in random order; any order parses).
func AppendLine(dst []byte, m *Metadata) []byte {
	dst = append(dst, `{"`...)
	dst = append(dst, m.Kind.String()...)
	dst = append(dst, `":{`...)
	switch m.Kind {
	case KindEpochEnding:
		e := &m.EpochEnding
		dst = appendUintField(dst, `"first_epoch":`, e.FirstEpoch)
		dst = appendUintField(dst, `,"last_epoch":`, e.LastEpoch)
		dst = appendUintField(dst, `,"first_version":`, e.FirstVersion)
		dst = appendUintField(dst, `,"last_version":`, e.LastVersion)
		dst = append(dst, `,"manifest":`...)
		dst = AppendString(dst, e.Manifest)
	case KindStateSnapshot:
		s := &m.StateSnapshot
		dst = appendUintField(dst, `"epoch":`, s.Epoch)
		dst = appendUintField(dst, `,"version":`, s.Version)
		dst = append(dst, `,"manifest":`...)
		dst = AppendString(dst, s.Manifest)
	case KindTransaction:
		t := &m.Transaction
		dst = appendUintField(dst, `"first_version":`, t.FirstVersion)
		dst = appendUintField(dst, `,"last_version":`, t.LastVersion)
		dst = append(dst, `,"manifest":`...)
		dst = AppendString(dst, t.Manifest)
	case KindIdentity:
		dst = append(dst, `"id":"`...)
		dst = append(dst, m.Identity.ID.String()...)
		dst = append(dst, '"')
	case KindCompactionTimestamps:
		return appendTimestamps(dst, &m.Timestamps, m.Timestamps.encodedPairs())
	}
	return append(dst, "}}"...)
}

// appendTimestamps appends the payload of c's line from after `{"CompactionTimestamps":{`
// to its end, its map written as pairs (encodedPairs').
func appendTimestamps(dst []byte, c *CompactionTimestamps, pairs []tsPair) []byte {
	dst = appendUintField(dst, `"file_compacted_at":`, c.FileCompactedAt)
	dst = append(dst, `,"compaction_timestamps":{`...)
	for i, p := range pairs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, p.key)
		dst = append(dst, ':')
		if v := p.val; v != nil {
			dst = strconv.AppendUint(dst, *v, 10)
		} else {
			dst = append(dst, "null"...)
		}
	}
	return append(dst, "}}}"...)
}

// AppendTimestampsLine appends what AppendLine appends for
// NewCompactionTimestamps(*c), given c's keys in sorted (byte) order:
// a caller that built the map from a sorted list (compaction, whose
// timestamps map has a key per file: 40k at Aptos mainnet's scale) saves
// AppendLine's sort of the keys. The output is AppendLine's whatever
// sorted holds: if it is not exactly c's keys, strictly ascending and
// valid UTF-8 (the rare key AppendLine sanitizes), AppendLine does the
// work.
func AppendTimestampsLine(dst []byte, c *CompactionTimestamps, sorted []string) []byte {
	m := Metadata{Kind: KindCompactionTimestamps, Timestamps: *c}
	if len(sorted) != len(c.Timestamps) {
		return AppendLine(dst, &m)
	}
	pairs := make([]tsPair, len(sorted))
	for i, k := range sorted {
		v, ok := c.Timestamps[k]
		if !ok || (i > 0 && sorted[i-1] >= k) || !utf8.ValidString(k) {
			return AppendLine(dst, &m)
		}
		pairs[i] = tsPair{k, v}
	}
	dst = append(dst, `{"CompactionTimestamps":{`...)
	return appendTimestamps(dst, c, pairs)
}

// EncodeLine returns the serde_json line for m followed by "\n": the bytes
// one Aptos TextLine holds.
func EncodeLine(m *Metadata) []byte {
	return append(AppendLine(nil, m), '\n')
}

type tsPair struct {
	key string
	val *uint64
}

// encodedPairs returns the timestamps map as it will be written: keys as
// serde_json would hold them (a Rust String cannot hold invalid UTF-8, so
// each bad byte becomes U+FFFD), sorted by those written bytes, and keys
// that become equal merged, the raw key that sorts last winning. So the
// output is canonical and never holds a duplicate key.
func (c *CompactionTimestamps) encodedPairs() []tsPair {
	pairs := make([]tsPair, 0, len(c.Timestamps))
	sanitized := false
	for _, raw := range c.SortedHandles() {
		k := raw
		if !utf8.ValidString(raw) {
			k, sanitized = sanitizeUTF8(raw), true
		}
		pairs = append(pairs, tsPair{k, c.Timestamps[raw]})
	}
	if sanitized { // rare: only then can the written order differ from the raw one
		sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].key < pairs[j].key })
	}
	out := pairs[:0]
	for _, p := range pairs {
		if n := len(out); n > 0 && out[n-1].key == p.key {
			out[n-1] = p
			continue
		}
		out = append(out, p)
	}
	return out
}

// sanitizeUTF8 replaces each invalid byte with U+FFFD, as AppendString
// writes it.
func sanitizeUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\ufffd")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func appendUintField(dst []byte, key string, v uint64) []byte {
	dst = append(dst, key...)
	return strconv.AppendUint(dst, v, 10)
}

const hexLower = "0123456789abcdef"

// AppendString appends s as a JSON string escaped exactly as serde_json
// escapes it: `"` and `\` backslash-escaped; \b \t \n \f \r short forms;
// other bytes below 0x20 as \u00xx with lowercase hex; everything else,
// including '/', '<', '>', '&', DEL, U+2028 and U+2029, written raw.
// Invalid UTF-8 in s is written as U+FFFD (a Rust String cannot hold it).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\ufffd"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, `\"`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\b':
			dst = append(dst, `\b`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\f':
			dst = append(dst, `\f`...)
		case '\r':
			dst = append(dst, `\r`...)
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexLower[c>>4], hexLower[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
