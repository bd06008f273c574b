package aptos

import "strconv"

// AppendPretty appends m as serde_json's pretty printer writes it (what
// `aptos-db-tool backup-maintenance read-metadata` prints,
// docs/aptos-format.md §8): two spaces of indent per level, `"key": value`,
// strings escaped as by AppendString, compaction_timestamps keys in byte
// order, an empty map as `{}`, and no trailing newline.
func AppendPretty(dst []byte, m *Metadata) []byte {
	dst = append(dst, "{\n  "...)
	dst = AppendString(dst, m.Kind.String())
	dst = append(dst, ": {"...)
	const in = "\n    " // field indent
	switch m.Kind {
	case KindEpochEnding:
		e := &m.EpochEnding
		dst = appendPrettyUint(dst, in+`"first_epoch": `, e.FirstEpoch)
		dst = appendPrettyUint(dst, ","+in+`"last_epoch": `, e.LastEpoch)
		dst = appendPrettyUint(dst, ","+in+`"first_version": `, e.FirstVersion)
		dst = appendPrettyUint(dst, ","+in+`"last_version": `, e.LastVersion)
		dst = append(dst, ","+in+`"manifest": `...)
		dst = AppendString(dst, e.Manifest)
	case KindStateSnapshot:
		s := &m.StateSnapshot
		dst = appendPrettyUint(dst, in+`"epoch": `, s.Epoch)
		dst = appendPrettyUint(dst, ","+in+`"version": `, s.Version)
		dst = append(dst, ","+in+`"manifest": `...)
		dst = AppendString(dst, s.Manifest)
	case KindTransaction:
		t := &m.Transaction
		dst = appendPrettyUint(dst, in+`"first_version": `, t.FirstVersion)
		dst = appendPrettyUint(dst, ","+in+`"last_version": `, t.LastVersion)
		dst = append(dst, ","+in+`"manifest": `...)
		dst = AppendString(dst, t.Manifest)
	case KindIdentity:
		dst = append(dst, in+`"id": "`...)
		dst = append(dst, m.Identity.ID.String()...)
		dst = append(dst, '"')
	case KindCompactionTimestamps:
		c := &m.Timestamps
		dst = appendPrettyUint(dst, in+`"file_compacted_at": `, c.FileCompactedAt)
		dst = append(dst, ","+in+`"compaction_timestamps": {`...)
		keys := c.encodedPairs()
		for i, p := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, "\n      "...)
			dst = AppendString(dst, p.key)
			dst = append(dst, ": "...)
			if v := p.val; v != nil {
				dst = strconv.AppendUint(dst, *v, 10)
			} else {
				dst = append(dst, "null"...)
			}
		}
		if len(keys) > 0 {
			dst = append(dst, "\n    "...)
		}
		dst = append(dst, '}')
	default:
		// No fields: serde_json prints an empty struct as "{}".
		return append(dst, "}\n}"...)
	}
	return append(dst, "\n  }\n}"...)
}

func appendPrettyUint(dst []byte, prefix string, v uint64) []byte {
	dst = append(dst, prefix...)
	return strconv.AppendUint(dst, v, 10)
}
