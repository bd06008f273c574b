package verify

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/metactl/metactl/aptos"
)

// The codes of findings. They are stable: scripts and runbooks match them.
const (
	// Problems of the catalog file itself.
	CodeCatalogDamaged = "catalog-damaged" // bbolt's consistency check failed
	CodeIndexMismatch  = "index-mismatch"  // entry index or view digest disagrees with the live files
	CodeUnparsableFile = "unparsable-file" // a stored file's lines do not parse
	CodeQuarantined    = "quarantined"     // a storage file import --quarantine set aside

	// Problems of the view: what a restore would trip over.
	CodeTxnGap              = "txn-gap"               // versions in no backup
	CodeTxnMovedOnly        = "txn-moved-only"        // versions only in moved files
	CodeTxnOverlap          = "txn-overlap"           // two transaction ranges overlap
	CodeTxnManifestConflict = "txn-manifest-conflict" // one range, different manifests
	CodeEpochGap            = "epoch-gap"             // epochs in no epoch-ending backup
	CodeEpochMovedOnly      = "epoch-moved-only"      // epochs only in moved files
	CodeEpochOverlap        = "epoch-overlap"         // two epoch-ending ranges share epochs
	CodeEpochConflict       = "epoch-conflict"        // one epoch range, different versions or manifests
	CodeEpochBackwards      = "epoch-backwards"       // a later epoch range at earlier versions
	CodeSnapshotConflict    = "snapshot-conflict"     // two snapshots at one version disagree
	CodeSnapshotEpoch       = "snapshot-epoch"        // a snapshot's epoch contradicts the epoch endings
	CodeManifestReused      = "manifest-reused"       // one manifest for different backups
	CodeIdentityConflict    = "identity-conflict"     // identity lines that name different storages

	// Warnings: worth knowing, not wrong.
	CodeNoIdentity        = "no-identity"        // no identity line was ever seen
	CodeTimestampsUnknown = "timestamps-unknown" // latest compaction timestamps name a file the catalog lacks
)

// Finding is one problem or warning: a stable code, a sentence for an
// operator, and every handle:line that holds an entry involved.
type Finding struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Where   []string `json:"where"`
}

func (f Finding) String() string {
	if len(f.Where) == 0 {
		return f.Code + ": " + f.Message
	}
	return f.Code + ": " + f.Message + " (" + strings.Join(f.Where, ", ") + ")"
}

// group is one distinct entry of the view and every place that holds it.
type group struct {
	m     aptos.Metadata
	where []string
}

// groupBy buckets gs by key, keeping their order inside each bucket, and
// returns the keys sorted.
func groupBy[K cmp.Ordered](gs []*group, key func(*group) K) ([]K, map[K][]*group) {
	by := map[K][]*group{}
	var keys []K
	for _, g := range gs {
		k := key(g)
		if by[k] == nil {
			keys = append(keys, k)
		}
		by[k] = append(by[k], g)
	}
	slices.Sort(keys)
	return keys, by
}

// groups collects the distinct entries of kind k (exact duplicates, in
// one file or several, are one entry, as in Aptos's view), in view order.
func groups(entries []aptos.Located, k aptos.Kind) []*group {
	byKey := map[string]*group{}
	var out []*group
	for _, l := range entries {
		if l.Entry.Kind != k {
			continue
		}
		key := string(aptos.EntryKey(&l.Entry))
		g := byKey[key]
		if g == nil {
			g = &group{m: l.Entry}
			byKey[key] = g
			out = append(out, g)
		}
		g.where = append(g.where, l.Where())
	}
	slices.SortFunc(out, func(a, b *group) int {
		return strings.Compare(string(aptos.EntryKey(&a.m)), string(aptos.EntryKey(&b.m)))
	})
	return out
}

func wheres(gs ...*group) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.where...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// span is a range of versions or epochs and the entries that make it up.
type span struct {
	first, last uint64
	gs          []*group
}

// Check finds every inconsistency of the view that the live entries make
// up, with moved entries used to tell a hole from a range that exists only
// in metadata_backup/. It returns problems and warnings, each sorted by
// code and, within a code, in version (or epoch) order. It does not look at the catalog file (see Catalog).
func Check(live, moved []aptos.Located) (problems, warnings []Finding) {
	add := func(code, msg string, where []string) {
		problems = append(problems, Finding{Code: code, Message: msg, Where: where})
	}
	checkTransactions(live, moved, add)
	checkEpochs(live, moved, add)
	checkSnapshots(live, add)
	checkManifests(live, add)
	checkIdentity(live, moved, add)
	if !hasKind(live, aptos.KindIdentity) && !hasKind(moved, aptos.KindIdentity) {
		warnings = append(warnings, Finding{Code: CodeNoIdentity,
			Message: "no identity.meta: the catalog has never seen this storage's identity", Where: []string{}})
	}
	sortFindings(problems)
	return problems, warnings
}

func hasKind(entries []aptos.Located, k aptos.Kind) bool {
	return slices.ContainsFunc(entries, func(l aptos.Located) bool { return l.Entry.Kind == k })
}

func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return strings.Compare(a.Code, b.Code)
	})
}

func rangeText(first, last uint64) string {
	return aptos.VersionRange{First: first, Last: last}.String()
}

// spansOf merges groups with the same (first, last) into one span.
func spansOf(gs []*group, bounds func(aptos.Metadata) (uint64, uint64)) []*span {
	var out []*span
	for _, g := range gs {
		f, l := bounds(g.m)
		if n := len(out); n > 0 && out[n-1].first == f && out[n-1].last == l {
			out[n-1].gs = append(out[n-1].gs, g)
			continue
		}
		out = append(out, &span{first: f, last: l, gs: []*group{g}})
	}
	slices.SortStableFunc(out, func(a, b *span) int { return cmp.Or(cmp.Compare(a.first, b.first), cmp.Compare(a.last, b.last)) })
	return out
}

func txnBounds(m aptos.Metadata) (uint64, uint64) {
	return m.Transaction.FirstVersion, m.Transaction.LastVersion
}

func epochBounds(m aptos.Metadata) (uint64, uint64) {
	return m.EpochEnding.FirstEpoch, m.EpochEnding.LastEpoch
}

// movedCover returns the handle:line of moved entries of kind k whose
// range (by bounds) overlaps first..last.
func movedCover(moved []aptos.Located, k aptos.Kind, bounds func(aptos.Metadata) (uint64, uint64), first, last uint64) []string {
	var out []string
	for _, l := range moved {
		if l.Entry.Kind != k {
			continue
		}
		if f, e := bounds(l.Entry); f <= last && e >= first {
			out = append(out, l.Where())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// walkSpans checks a sorted list of spans for holes from 0 and overlaps,
// and the moved entries beyond the last span. unit is "versions" or
// "epochs", what names the backups.
func walkSpans(spans []*span, moved []aptos.Located, k aptos.Kind, bounds func(aptos.Metadata) (uint64, uint64),
	gapCode, movedCode, overlapCode, unit, what string, add func(code, msg string, where []string)) {
	var next uint64
	var prev *span
	aptosKind := aptos.MissingTransactions
	if k == aptos.KindEpochEnding {
		aptosKind = aptos.MissingEpochEndings
	}
	// aptosSays is the continuity error Aptos's restore stops with at the
	// first break; later breaks it never reaches.
	firstBreak := true
	aptosSays := func(got uint64) string {
		if !firstBreak {
			return "a restore cannot cross it"
		}
		firstBreak = false
		return fmt.Sprintf("Aptos's restore stops with %q", (&aptos.ContinuityError{What: aptosKind, Expected: next, Got: got}).Error())
	}
	hole := func(first, last uint64, around []string) {
		if cover := movedCover(moved, k, bounds, first, last); len(cover) > 0 {
			add(movedCode, fmt.Sprintf("%s %s are in no live %s backup, only in moved files (metadata_backup/); %s",
				unit, rangeText(first, last), what, aptosSays(last+1)), slices.Concat(cover, around))
			return
		}
		add(gapCode, fmt.Sprintf("%s %s are in no %s backup; %s", unit, rangeText(first, last), what, aptosSays(last+1)), around)
	}
	for _, s := range spans {
		switch {
		case s.first > next:
			around := wheres(s.gs...)
			if prev != nil {
				around = wheres(slices.Concat(prev.gs, s.gs)...)
			}
			hole(next, s.first-1, around)
		case s.first < next && prev != nil:
			add(overlapCode, fmt.Sprintf("%s backups %s and %s overlap (%s %s); %s",
				what, rangeText(prev.first, prev.last), rangeText(s.first, s.last), unit, rangeText(s.first, min(prev.last, s.last)), aptosSays(s.first)),
				wheres(slices.Concat(prev.gs, s.gs)...))
		}
		if prev == nil || s.last >= prev.last {
			prev = s
		}
		next = max(next, s.last+1)
	}
	// Moved entries beyond the last live one.
	var beyond uint64
	found := false
	for _, l := range moved {
		if l.Entry.Kind != k {
			continue
		}
		if _, e := bounds(l.Entry); e >= next {
			beyond, found = max(beyond, e), true
		}
	}
	if found {
		var around []string
		if prev != nil {
			around = wheres(prev.gs...)
		}
		cover := movedCover(moved, k, bounds, next, beyond)
		add(movedCode, fmt.Sprintf("%s %s are in no live %s backup, only in moved files (metadata_backup/); a restore stops before them without an error",
			unit, rangeText(next, beyond), what), slices.Concat(cover, around))
	}
}

func checkTransactions(live, moved []aptos.Located, add func(code, msg string, where []string)) {
	gs := groups(live, aptos.KindTransaction)
	spans := spansOf(gs, txnBounds)
	for _, s := range spans {
		if len(s.gs) > 1 {
			var ms []string
			for _, g := range s.gs {
				ms = append(ms, g.m.Transaction.Manifest)
			}
			add(CodeTxnManifestConflict, fmt.Sprintf("transaction versions %s are backed up %d times with different manifests (%s): Aptos keeps all of them and its restore refuses the range",
				rangeText(s.first, s.last), len(s.gs), strings.Join(ms, ", ")), wheres(s.gs...))
		}
	}
	walkSpans(spans, moved, aptos.KindTransaction, txnBounds, CodeTxnGap, CodeTxnMovedOnly, CodeTxnOverlap, "versions", "transaction", add)
}

func checkEpochs(live, moved []aptos.Located, add func(code, msg string, where []string)) {
	gs := groups(live, aptos.KindEpochEnding)
	spans := spansOf(gs, epochBounds)
	for _, s := range spans {
		if len(s.gs) > 1 {
			var ds []string
			for _, g := range s.gs {
				e := g.m.EpochEnding
				ds = append(ds, fmt.Sprintf("versions %s %s", rangeText(e.FirstVersion, e.LastVersion), e.Manifest))
			}
			add(CodeEpochConflict, fmt.Sprintf("epochs %s are backed up %d times with different contents (%s): Aptos keeps all of them and its restore refuses the range",
				rangeText(s.first, s.last), len(s.gs), strings.Join(ds, "; ")), wheres(s.gs...))
		}
	}
	walkSpans(spans, moved, aptos.KindEpochEnding, epochBounds, CodeEpochGap, CodeEpochMovedOnly, CodeEpochOverlap, "epochs", "epoch-ending", add)
	// Versions must grow with epochs.
	for i := 1; i < len(gs); i++ {
		a, b := gs[i-1].m.EpochEnding, gs[i].m.EpochEnding
		if b.FirstEpoch > a.LastEpoch && b.FirstVersion <= a.LastVersion {
			add(CodeEpochBackwards, fmt.Sprintf("epochs %s end at versions %s, not after epochs %s (versions %s): versions must grow with epochs",
				rangeText(b.FirstEpoch, b.LastEpoch), rangeText(b.FirstVersion, b.LastVersion),
				rangeText(a.FirstEpoch, a.LastEpoch), rangeText(a.FirstVersion, a.LastVersion)), wheres(gs[i-1], gs[i]))
		}
	}
}

// epochEnd is the version at which an epoch's ending ledger info lies,
// as an epoch-ending backup states it, and the entry that says so.
type epochEnd struct {
	version uint64
	g       *group
}

// epochEnds maps an epoch to its end, for the first and last epoch of
// every epoch-ending backup (the versions of the epochs between are not in
// the metadata).
func epochEnds(live []aptos.Located) map[uint64]epochEnd {
	ends := map[uint64]epochEnd{}
	for _, g := range groups(live, aptos.KindEpochEnding) {
		e := g.m.EpochEnding
		for _, p := range [][2]uint64{{e.FirstEpoch, e.FirstVersion}, {e.LastEpoch, e.LastVersion}} {
			if _, ok := ends[p[0]]; !ok {
				ends[p[0]] = epochEnd{p[1], g}
			}
		}
	}
	return ends
}

func checkSnapshots(live []aptos.Located, add func(code, msg string, where []string)) {
	gs := groups(live, aptos.KindStateSnapshot)
	versions, byVersion := groupBy(gs, func(g *group) uint64 { return g.m.StateSnapshot.Version })
	for _, v := range versions {
		if same := byVersion[v]; len(same) > 1 {
			var ds []string
			for _, g := range same {
				ds = append(ds, fmt.Sprintf("epoch %d %s", g.m.StateSnapshot.Epoch, g.m.StateSnapshot.Manifest))
			}
			add(CodeSnapshotConflict, fmt.Sprintf("%d state snapshots at version %d disagree (%s): a restore picks one by epoch and manifest order",
				len(same), v, strings.Join(ds, "; ")), wheres(same...))
		}
	}
	// Epoch E spans the versions after the end of epoch E-1 up to the end
	// of epoch E.
	ends := epochEnds(live)
	for _, g := range gs {
		s := g.m.StateSnapshot
		if end, ok := ends[s.Epoch]; ok && s.Version > end.version {
			add(CodeSnapshotEpoch, fmt.Sprintf("state snapshot at version %d says epoch %d, but epoch %d ends at version %d",
				s.Version, s.Epoch, s.Epoch, end.version), wheres(g, end.g))
			continue
		}
		if s.Epoch > 0 {
			if end, ok := ends[s.Epoch-1]; ok && s.Version <= end.version {
				add(CodeSnapshotEpoch, fmt.Sprintf("state snapshot at version %d says epoch %d, but epoch %d ends only at version %d",
					s.Version, s.Epoch, s.Epoch-1, end.version), wheres(g, end.g))
			}
		}
	}
}

func describe(m aptos.Metadata) string {
	switch m.Kind {
	case aptos.KindTransaction:
		return "transaction backup " + rangeText(m.Transaction.FirstVersion, m.Transaction.LastVersion)
	case aptos.KindEpochEnding:
		return "epoch-ending backup of epochs " + rangeText(m.EpochEnding.FirstEpoch, m.EpochEnding.LastEpoch)
	case aptos.KindStateSnapshot:
		return fmt.Sprintf("state snapshot at version %d (epoch %d)", m.StateSnapshot.Version, m.StateSnapshot.Epoch)
	}
	return m.Kind.String()
}

func manifestOf(m aptos.Metadata) string {
	switch m.Kind {
	case aptos.KindTransaction:
		return m.Transaction.Manifest
	case aptos.KindEpochEnding:
		return m.EpochEnding.Manifest
	case aptos.KindStateSnapshot:
		return m.StateSnapshot.Manifest
	}
	return ""
}

func checkManifests(live []aptos.Located, add func(code, msg string, where []string)) {
	var all []*group
	for _, k := range []aptos.Kind{aptos.KindEpochEnding, aptos.KindStateSnapshot, aptos.KindTransaction} {
		all = append(all, groups(live, k)...)
	}
	names, byManifest := groupBy(all, func(g *group) string { return manifestOf(g.m) })
	for _, name := range names {
		if gs := byManifest[name]; len(gs) > 1 {
			var ds []string
			for _, g := range gs {
				ds = append(ds, describe(g.m))
			}
			add(CodeManifestReused, fmt.Sprintf("manifest %s is used by %d different backups (%s): at most one of them can be what it holds",
				name, len(gs), strings.Join(ds, "; ")), wheres(gs...))
		}
	}
}

func checkIdentity(live, moved []aptos.Located, add func(code, msg string, where []string)) {
	ids := map[aptos.HashValue][]string{}
	var order []aptos.HashValue
	for _, l := range slices.Concat(live, moved) {
		if l.Entry.Kind != aptos.KindIdentity {
			continue
		}
		id := l.Entry.Identity.ID
		if ids[id] == nil {
			order = append(order, id)
		}
		ids[id] = append(ids[id], l.Where())
	}
	if len(order) < 2 {
		return
	}
	slices.SortFunc(order, func(a, b aptos.HashValue) int { return strings.Compare(a.String(), b.String()) })
	var ds, where []string
	for _, id := range order {
		ds = append(ds, id.String())
		where = append(where, ids[id]...)
	}
	slices.Sort(where)
	add(CodeIdentityConflict, fmt.Sprintf("%d different identities (%s): these files come from different backup storages", len(order), strings.Join(ds, ", ")), where)
}
