package importer

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/metactl/metactl/aptos"
)

// Warning codes: what a Warning is about.
const (
	// WarnSkipped: a stray entry was not imported (the message says why:
	// a dotfile, a name not ending in ".meta", not a ShellSafeName, a
	// symbolic link, a sub-folder, a named pipe, ...).
	WarnSkipped = "skipped"
	// WarnInProgress: a live file still being written in place (empty, or
	// cut mid-line, and fresh: Options.InProgress) was not imported; the
	// next run reads it.
	WarnInProgress = "in-progress"
	// WarnEmptyFile: a zero-byte file. Aptos accepts it and it holds no
	// entry, but no Aptos tool writes one: usually a failed upload.
	WarnEmptyFile = "empty-file"
	// WarnCRLF: a file with CRLF line ends. Aptos reads them; no Aptos
	// tool writes them (an edit on Windows?). The bytes are kept as they are.
	WarnCRLF = "crlf"
	// WarnNameMismatch: a file named as Aptos names a file of one entry
	// or of a compacted chunk whose content says otherwise (another kind,
	// other numbers). Aptos never reads names, so the import goes on; but
	// a compaction that writes the name the content implies would find a
	// file there.
	WarnNameMismatch = "name-mismatch"
	// WarnFutureTimestamps: a CompactionTimestamps line whose
	// file_compacted_at, or a timestamp in its map, is more than
	// FutureSlack after the importer's clock: a compaction on a host with
	// a wrong clock. Files it stamps are not moved until then.
	WarnFutureTimestamps = "future-timestamps"
	// WarnGap: after the import, a range of transaction versions (or of
	// epochs) inside the restorable range is covered by no backup that was
	// covered before: a restore across it would fail.
	WarnGap = "gap"
)

// FutureSlack is how far after the importer's clock a compaction
// timestamp may be before it is reported: hosts' clocks differ a little.
const FutureSlack = 5 * time.Minute

// Warning is something an operator should know about an import that is
// not wrong enough to refuse it. The importer never prints: the caller
// shows warnings (the CLI on stderr and in its --json document).
type Warning struct {
	// Handle names the file as the storage does ("metadata/x.meta"), or is
	// "" for a warning about the whole view (WarnGap).
	Handle string `json:"handle,omitempty"`
	// Code is one of the Warn* constants.
	Code string `json:"code"`
	// Message says what was found, in a sentence.
	Message string `json:"message"`
}

// String returns "<handle>: <message>", or the message alone.
func (w Warning) String() string {
	if w.Handle == "" {
		return w.Message
	}
	return aptos.Quote(w.Handle) + ": " + w.Message
}

func sortWarnings(ws []Warning) {
	slices.SortStableFunc(ws, func(a, b Warning) int {
		return cmp.Or(cmp.Compare(a.Handle, b.Handle), cmp.Compare(a.Code, b.Code), cmp.Compare(a.Message, b.Message))
	})
}

// fileWarnings returns the warnings about the files read and the stray
// entries skipped, sorted. now is the importer's clock.
func fileWarnings(items []*item, skipped []stray, now time.Time) []Warning {
	var ws []Warning
	for _, s := range skipped {
		code := WarnSkipped
		if s.reason.inProgress {
			code = WarnInProgress
		}
		ws = append(ws, Warning{Handle: s.handle, Code: code, Message: "skipped, " + s.reason.reason})
	}
	for _, it := range items {
		if it.known {
			continue // not read: warned about when it was
		}
		if it.spool != nil {
			ws = append(ws, it.warns...) // found before it was spooled
			continue
		}
		if len(it.Content) == 0 {
			ws = append(ws, Warning{Handle: it.shown, Code: WarnEmptyFile, Message: "empty file (0 bytes): it holds no entry; Aptos never writes one (a failed upload?)"})
		}
		if bytes.Contains(it.Content, []byte("\r\n")) {
			ws = append(ws, Warning{Handle: it.shown, Code: WarnCRLF, Message: "CRLF line ends: Aptos reads them but never writes them (edited on Windows?); the bytes are kept as they are"})
		}
		if msg := nameMismatch(aptos.BaseName(it.Handle), it); msg != "" {
			ws = append(ws, Warning{Handle: it.shown, Code: WarnNameMismatch, Message: msg})
		}
		lines := it.lines
		if it.sum != nil {
			lines = it.sum.stamps
		}
		for i := range lines {
			if msg := futureTimestamps(&lines[i], now); msg != "" {
				ws = append(ws, Warning{Handle: it.shown, Code: WarnFutureTimestamps, Message: msg})
			}
		}
	}
	sortWarnings(ws)
	return ws
}

// nameMismatch returns why a file's name disagrees with its lines, or ""
// if it agrees or is not named in one of Aptos's patterns.
func nameMismatch(name string, it *item) string {
	stem, ok := strings.CutSuffix(name, ".meta")
	if !ok {
		return ""
	}
	var kind aptos.Kind
	compacted := false
	switch {
	case strings.HasPrefix(stem, "epoch_ending_compacted_"):
		kind, compacted = aptos.KindEpochEnding, true
	case strings.HasPrefix(stem, "epoch_ending_"):
		kind = aptos.KindEpochEnding
	case strings.HasPrefix(stem, "transaction_compacted_"):
		kind, compacted = aptos.KindTransaction, true
	case strings.HasPrefix(stem, "transaction_"):
		kind = aptos.KindTransaction
	case strings.HasPrefix(stem, "state_snapshot_compacted_epoch_"):
		kind, compacted = aptos.KindStateSnapshot, true
	case strings.HasPrefix(stem, "state_snapshot_ver_"):
		kind = aptos.KindStateSnapshot
	case strings.HasPrefix(stem, "compaction_timestamps_"):
		kind = aptos.KindCompactionTimestamps
	case stem == "identity":
		kind = aptos.KindIdentity
	default:
		return ""
	}
	var first, last aptos.Metadata
	n, other := 0, 0 // lines, and the first of another kind
	var otherKind aptos.Kind
	if sum := it.sum; sum != nil {
		n, first, last = sum.n, sum.first, sum.last
		for k, line := range sum.firstOf {
			if k != kind && (other == 0 || line < other) {
				other, otherKind = line, k
			}
		}
	} else {
		for i := range it.lines {
			m := &it.lines[i]
			if m.Kind != kind && other == 0 {
				other, otherKind = i+1, m.Kind
			}
		}
		if n = len(it.lines); n > 0 {
			first, last = it.lines[0], it.lines[n-1]
		}
	}
	switch {
	case n == 0:
		return ""
	case other > 0:
		return fmt.Sprintf("name disagrees with its content: line %d is a %s line, the name says %s", other, otherKind, kind)
	}
	// The names Aptos gives (aptos.Metadata.Name, aptos.CompactedName).
	var want string
	switch {
	case !compacted && n != 1:
		return fmt.Sprintf("name disagrees with its content: it holds %d lines, the name is that of a file of one entry", n)
	case !compacted:
		// Compared without an allocation: almost every name agrees.
		var buf [96]byte
		if w := first.AppendName(buf[:0]); string(w) != name {
			want = string(w)
		} else {
			return ""
		}
	case kind == aptos.KindEpochEnding:
		want = aptos.CompactedName(kind, first.EpochEnding.FirstEpoch, last.EpochEnding.LastEpoch)
	case kind == aptos.KindTransaction:
		want = aptos.CompactedName(kind, first.Transaction.FirstVersion, last.Transaction.LastVersion)
	default:
		want = aptos.CompactedName(kind, first.StateSnapshot.Epoch, last.StateSnapshot.Epoch)
	}
	if name != want {
		return fmt.Sprintf("name disagrees with its content, which Aptos would name %s", want)
	}
	return ""
}

// futureTimestamps returns why a CompactionTimestamps line lies in the
// future, or "".
func futureTimestamps(m *aptos.Metadata, now time.Time) string {
	if m.Kind != aptos.KindCompactionTimestamps {
		return ""
	}
	limit := uint64(max(now.Add(FutureSlack).Unix(), 0))
	if at := m.Timestamps.FileCompactedAt; at > limit {
		return fmt.Sprintf("compaction timestamps from the future: file_compacted_at %d is after now (%d); check the compacting host's clock", at, now.Unix())
	}
	latest, n := uint64(0), 0
	for _, t := range m.Timestamps.Timestamps {
		if t != nil && *t > limit {
			n++
			latest = max(latest, *t)
		}
	}
	if n > 0 {
		return fmt.Sprintf("compaction timestamps from the future: %d files stamped after now (%d), the latest at %d; they are not moved until then", n, now.Unix(), latest)
	}
	return ""
}

// span is an inclusive range of versions or epochs.
type span struct{ first, last uint64 }

// holes returns the uncovered spans between the first and the last of the
// given sorted inclusive ranges.
func holes(ranges []span) []span {
	var out []span
	var next uint64 // first number not covered yet
	for i, r := range ranges {
		if i > 0 && r.first > next {
			out = append(out, span{next, r.first - 1})
		}
		if i == 0 || r.last >= next {
			next = r.last + 1 // validated: last < u64::MAX
		}
	}
	return out
}

// newHoles returns the holes of after that lie in no hole of before.
func newHoles(before, after []span) []span {
	var out []span
	for _, h := range holes(after) {
		if !slices.ContainsFunc(holes(before), func(g span) bool { return g.first <= h.first && h.last <= g.last }) {
			out = append(out, h)
		}
	}
	return out
}

// gapWarnings returns a WarnGap warning for every hole in the restorable
// range (transaction versions, epoch endings) that the import opened.
func gapWarnings(before, after *aptos.View) []Warning {
	txns := func(v *aptos.View) []span {
		out := make([]span, len(v.Transactions))
		for i, t := range v.Transactions {
			out[i] = span{t.FirstVersion, t.LastVersion}
		}
		return out
	}
	epochs := func(v *aptos.View) []span {
		out := make([]span, len(v.EpochEndings))
		for i, e := range v.EpochEndings {
			out[i] = span{e.FirstEpoch, e.LastEpoch}
		}
		return out
	}
	return spanGapWarnings(txns(before), epochs(before), txns(after), epochs(after))
}

// spanGapWarnings is gapWarnings from the transaction and epoch-ending
// ranges before and after, in any order (it sorts them).
func spanGapWarnings(txnsBefore, epochsBefore, txnsAfter, epochsAfter []span) []Warning {
	for _, s := range [][]span{txnsBefore, epochsBefore, txnsAfter, epochsAfter} {
		slices.SortFunc(s, func(a, b span) int { return cmp.Compare(a.first, b.first) })
	}
	var ws []Warning
	for _, h := range newHoles(txnsBefore, txnsAfter) {
		ws = append(ws, Warning{Code: WarnGap, Message: fmt.Sprintf("the import opens a gap in the restorable range: no transaction backup covers versions %d-%d, so a restore across them fails", h.first, h.last)})
	}
	for _, h := range newHoles(epochsBefore, epochsAfter) {
		ws = append(ws, Warning{Code: WarnGap, Message: fmt.Sprintf("the import opens a gap in the restorable range: no epoch-ending backup covers epochs %d-%d, so a restore across them fails", h.first, h.last)})
	}
	return ws
}
