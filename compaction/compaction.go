package compaction

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

// DefaultRemoveCompactedFileAfter is Aptos's default grace period
// (--remove-compacted-file-after 86400).
const DefaultRemoveCompactedFileAfter = 86400 * time.Second

// Source is the provenance recorded on every file compaction writes.
const Source = "compaction"

// ErrFactor is returned when Options holds a value out of range: a factor
// below 1 (Rust's slice::chunks(0) panics) or a negative
// RemoveCompactedFileAfter. Nothing is opened or changed. The CLI maps it to
// a usage error.
var ErrFactor = errors.New("invalid compaction option")

// Options are the knobs of `backup-maintenance compact`. The zero value is
// invalid: use DefaultOptions for Aptos's defaults.
type Options struct {
	// EpochEndingFactor, StateSnapshotFactor and TransactionFactor are the
	// number of entries per compacted file (Aptos's
	// --*-file-compact-factor, default 1). Below 1 is an error wrapping
	// ErrFactor.
	EpochEndingFactor   int
	StateSnapshotFactor int
	TransactionFactor   int
	// RemoveCompactedFileAfter is the grace period R: a file timestamped t
	// is moved by the first run at a time now with now > t + R. It is
	// compared in whole seconds (truncated). Negative is an error wrapping
	// ErrFactor; zero moves a superseded file on the first run a second or
	// more after it was timestamped.
	RemoveCompactedFileAfter time.Duration
	// BulkEntries is the view size from which Run builds its result on a
	// scratch copy of the catalog, committing as it goes
	// (catalog.BulkUpdater; a backend without it always uses one
	// Update); zero means DefaultBulkEntries, negative never. Not one of
	// Aptos's knobs: the result is the same either way.
	BulkEntries int
}

// DefaultOptions returns Aptos's defaults: factors 1, R = 86400 s.
func DefaultOptions() Options {
	return Options{EpochEndingFactor: 1, StateSnapshotFactor: 1, TransactionFactor: 1,
		RemoveCompactedFileAfter: DefaultRemoveCompactedFileAfter}
}

// Validate returns an error wrapping ErrFactor if o is out of range.
func (o Options) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"epoch-ending", o.EpochEndingFactor}, {"state-snapshot", o.StateSnapshotFactor}, {"transaction", o.TransactionFactor}} {
		if f.v < 1 {
			return fmt.Errorf("%s compaction factor is %d, must be at least 1: %w", f.name, f.v, ErrFactor)
		}
	}
	if o.RemoveCompactedFileAfter < 0 {
		return fmt.Errorf("remove-compacted-file-after is negative (%s): %w", o.RemoveCompactedFileAfter, ErrFactor)
	}
	return nil
}

// graceSecs returns R in whole seconds.
func (o Options) graceSecs() uint64 { return uint64(o.RemoveCompactedFileAfter / time.Second) }

// inputs returns the options as the journal records them.
func (o Options) inputs() []string {
	return []string{
		"epoch_ending_factor=" + strconv.Itoa(o.EpochEndingFactor),
		"state_snapshot_factor=" + strconv.Itoa(o.StateSnapshotFactor),
		"transaction_factor=" + strconv.Itoa(o.TransactionFactor),
		"remove_compacted_file_after_secs=" + strconv.FormatUint(o.graceSecs(), 10),
	}
}

// Plan is what one compaction run does (or, from DryRun, would do).
type Plan struct {
	// Now is the run's clock reading in Unix seconds (Tx.Now): the value
	// given to new timestamps and the file_compacted_at of the new
	// timestamps file.
	Now uint64
	// Write lists the compacted files, in Aptos's order: epoch endings,
	// then transactions, then state snapshots, each in chunk order.
	Write []PlannedFile
	// Timestamped lists, sorted by handle, every handle in the new
	// timestamps map: kept timestamps (New false) and handles stamped Now
	// by this run (New true).
	Timestamped []Stamp
	// Move lists, sorted, the expired handles that are live files: they
	// become Moved (metadata_backup/).
	Move []string
	// Skipped lists, sorted, the expired handles that are not live files
	// (a stale key of the timestamps map, or a file already moved). Aptos
	// ignores the failed move; so does metactl. They are left out of the
	// new map either way.
	Skipped []string
	// TimestampsFile is the handle of the new timestamps file,
	// "metadata/compaction_timestamps_<Now>.meta", or "" when there are
	// no live files and no entries: then there is nothing to compact or
	// timestamp, and the plan writes nothing at all.
	TimestampsFile string
	// TimestampsLine is its content: the CompactionTimestamps line (map
	// keys sorted) and "\n".
	TimestampsLine []byte
	// TimestampsResult says what writing TimestampsFile did (Run) or
	// would do (DryRun): Added; Unchanged (a run in the same second found
	// the identical file); Replaced (a run in the same second found other
	// content, see the package documentation). Compute leaves it zero.
	TimestampsResult catalog.PutResult

	stamps aptos.Metadata // the parsed TimestampsLine, for apply
	view   *aptos.View    // the view planned from, for apply (PlannedFile.lo)
}

// PlannedFile is one compacted file.
type PlannedFile struct {
	// Handle is "metadata/<name>" with Aptos's compacted name.
	Handle string
	// Kind is KindEpochEnding, KindTransaction or KindStateSnapshot.
	Kind aptos.Kind
	// Lines is the number of entries (lines) in the file.
	Lines int
	// Chunks is the number of Aptos's chunks the file holds: 1, or more
	// where Aptos would write several chunks under this one name (several
	// state snapshots of one epoch, or one range with several manifests,
	// across a chunk boundary); their entries are merged here.
	Chunks int
	// First and Last are the numbers in the name: first_epoch of the first
	// entry and last_epoch of the last (epoch endings), first_version and
	// last_version (transactions), epoch of the first and of the last
	// (state snapshots).
	First, Last uint64
	// Content is the file: each entry's serde_json line, in sorted order.
	// Compute and DryRun fill it in; Run leaves it nil (it builds each
	// file's content only while writing it; read the file from the
	// catalog).
	Content []byte
	// Exists is true if an identical live file was already in the catalog
	// (writing it changed nothing). Set by Run and DryRun, not by Compute.
	Exists bool
	// Result says what writing it did (Run) or would do (DryRun): Added,
	// Unchanged (Exists), StateChanged (an identical moved file revived) or
	// Replaced (the handle held other content: its chunk changed).
	// Compute leaves it zero.
	Result catalog.PutResult

	// lo is the index of the file's first entry in its kind's list of
	// Plan.view: its Lines entries follow from there (merged chunks are
	// consecutive runs of the list).
	lo int
	// lines, if set (by tests that tamper with a plan), replaces the
	// entries apply indexes for the file.
	lines []aptos.Metadata
}

// Stamp is one entry of the new timestamps map.
type Stamp struct {
	Handle string
	At     uint64 // Unix seconds
	New    bool   // stamped by this run (the handle was null or absent in the previous map)
}

// Summary returns a one-line account of the plan, as recorded in the
// journal: "wrote 3 compacted files, timestamped 6, moved 0", with the
// counts of unchanged files and skipped handles appended when non-zero.
func (p *Plan) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wrote %s, timestamped %d, moved %d", plural(len(p.Write), "compacted file"), len(p.Timestamped), len(p.Move))
	unchanged := 0
	for i := range p.Write {
		if p.Write[i].Exists {
			unchanged++
		}
	}
	if unchanged > 0 {
		fmt.Fprintf(&b, " (%s already present)", plural(unchanged, "compacted file"))
	}
	if len(p.Skipped) > 0 {
		if len(p.Skipped) == 1 {
			b.WriteString(", skipped 1 expired handle that is not a live file")
		} else {
			fmt.Fprintf(&b, ", skipped %d expired handles that are not live files", len(p.Skipped))
		}
	}
	return b.String()
}

// plural returns "1 noun" or "n nouns".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// strip drops the parsed copies that only apply needs.
func (p *Plan) strip() {
	for i := range p.Write {
		p.Write[i].lines = nil
	}
	p.stamps = aptos.Metadata{}
	p.view = nil
}

// ContinuityError is returned when a chunk of epoch-ending or transaction
// entries is not continuous. Its text is Aptos's, verbatim (including the
// missing full stop after the epoch message and the one after the version
// message), so operators can match it against Aptos's logs and runbooks.
// It wraps [aptos.ErrInvalid]: the catalog is unchanged.
type ContinuityError struct {
	Kind     aptos.Kind // KindEpochEnding or KindTransaction
	Expected uint64     // previous entry's last epoch (version) + 1
	Got      uint64     // this entry's first epoch (version)
	// Prev and Next are the two adjacent entries of the chunk.
	Prev, Next aptos.Metadata
}

func (e *ContinuityError) Error() string {
	if e.Kind == aptos.KindEpochEnding {
		return fmt.Sprintf("Epoch ending backup ranges is not continuous expecting epoch %d, got %d", e.Expected, e.Got)
	}
	return fmt.Sprintf("txn backup ranges is not continuous expecting version %d, got %d.", e.Expected, e.Got)
}

// Unwrap returns [aptos.ErrInvalid].
func (e *ContinuityError) Unwrap() error { return aptos.ErrInvalid }

// Compute plans one compaction run (docs/aptos-format.md §6) from the view v
// (as Tx.View or [aptos.NewView] returns it: each list sorted, exact
// duplicates dropped), the handles of the live files, the latest timestamps
// entry (nil if there is none) and the clock reading now in Unix seconds. It
// does no I/O. PlannedFile.Exists/Result and Plan.TimestampsResult are left
// zero: they depend on what the catalog already holds (Run and DryRun fill
// them in).
//
// It returns an error wrapping ErrFactor for bad options, a
// *ContinuityError for a gap or overlap inside an epoch-ending or
// transaction chunk. Chunks that Aptos would write under one name are
// merged into that one file (PlannedFile.Chunks > 1).
func Compute(v *aptos.View, live []string, prev *aptos.CompactionTimestamps, now uint64, opts Options) (*Plan, error) {
	return compute(v, live, prev, now, opts, true)
}

// compute is Compute; with content false it leaves every PlannedFile's
// Content nil, and apply builds each file's content when it writes that
// file (Run: the compacted files of a million entries are about the size
// of the view's lines, and holding them all until the commit doubled what
// the catalog itself holds of them).
func compute(v *aptos.View, live []string, prev *aptos.CompactionTimestamps, now uint64, opts Options, content bool) (*Plan, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	p := &Plan{Now: now}
	if len(live) == 0 && len(v.EpochEndings)+len(v.StateSnapshots)+len(v.Transactions) == 0 {
		// Nothing to compact or timestamp (an empty catalog, or every
		// file moved): no timestamps file either, so the run writes
		// nothing, into the catalog or into a storage.
		return p, nil
	}

	// Compacted files, in Aptos's order: epoch endings, transactions,
	// state snapshots. Only the content is built here (and for Run not
	// even that); apply rebuilds each file's parsed lines from the view
	// when it writes that file, so a run never holds every entry twice
	// over (see PlannedFile.lo).
	p.view = v
	var m aptos.Metadata
	lo := 0
	for _, chunk := range chunks(v.EpochEndings, opts.EpochEndingFactor) {
		for j := 1; j < len(chunk); j++ {
			if e := chunk[j]; e.FirstEpoch != chunk[j-1].LastEpoch+1 {
				return nil, &ContinuityError{Kind: aptos.KindEpochEnding, Expected: chunk[j-1].LastEpoch + 1,
					Got: e.FirstEpoch, Prev: aptos.NewEpochEnding(chunk[j-1]), Next: aptos.NewEpochEnding(e)}
			}
		}
		first, last := chunk[0].FirstEpoch, chunk[len(chunk)-1].LastEpoch
		w := p.add(aptos.KindEpochEnding, aptos.CompactedName(aptos.KindEpochEnding, first, last), first, last, lo, len(chunk), content)
		if content {
			for _, e := range chunk {
				m = aptos.NewEpochEnding(e)
				w.Content = append(aptos.AppendLine(w.Content, &m), '\n')
			}
		}
		lo += len(chunk)
	}
	lo = 0
	for _, chunk := range chunks(v.Transactions, opts.TransactionFactor) {
		for j := 1; j < len(chunk); j++ {
			if t := chunk[j]; t.FirstVersion != chunk[j-1].LastVersion+1 {
				return nil, &ContinuityError{Kind: aptos.KindTransaction, Expected: chunk[j-1].LastVersion + 1,
					Got: t.FirstVersion, Prev: aptos.NewTransaction(chunk[j-1]), Next: aptos.NewTransaction(t)}
			}
		}
		first, last := chunk[0].FirstVersion, chunk[len(chunk)-1].LastVersion
		w := p.add(aptos.KindTransaction, aptos.CompactedName(aptos.KindTransaction, first, last), first, last, lo, len(chunk), content)
		if content {
			for _, t := range chunk {
				m = aptos.NewTransaction(t)
				w.Content = append(aptos.AppendLine(w.Content, &m), '\n')
			}
		}
		lo += len(chunk)
	}
	lo = 0
	for _, chunk := range chunks(v.StateSnapshots, opts.StateSnapshotFactor) {
		first, last := chunk[0].Epoch, chunk[len(chunk)-1].Epoch
		w := p.add(aptos.KindStateSnapshot, aptos.CompactedName(aptos.KindStateSnapshot, first, last), first, last, lo, len(chunk), content)
		if content {
			for _, s := range chunk {
				m = aptos.NewStateSnapshot(s)
				w.Content = append(aptos.AppendLine(w.Content, &m), '\n')
			}
		}
		lo += len(chunk)
	}

	// new_files. Two chunks under one name were merged into one file by
	// add (see "Two chunks under one name" in the package documentation).
	newFiles := make(map[string]int, len(p.Write))
	for i := range p.Write {
		newFiles[p.Write[i].Handle] = i
	}

	// Timestamps (update_compaction_timestamps). files = every live handle
	// plus the previous map's other keys (stale: no live file). Aptos
	// visits them in HashMap order; the outcome does not depend on the
	// order, and visiting in sorted order keeps every list sorted.
	if !slices.IsSorted(live) {
		live = slices.Sorted(slices.Values(live))
	}
	grace := opts.graceSecs()
	p.Timestamped = make([]Stamp, 0, len(live)) // most live files keep or get a stamp
	matched := 0                                // live handles that are keys of prev
	visit := func(f string, isLive bool) {
		if _, ok := newFiles[f]; ok {
			return // rewritten by this run: left out of the map, never moved
		}
		var t *uint64
		if prev != nil {
			var ok bool
			if t, ok = prev.Timestamps[f]; ok && isLive {
				matched++
			}
		}
		switch {
		case t == nil: // null, or not a key
			p.Timestamped = append(p.Timestamped, Stamp{Handle: f, At: now, New: true})
		case expired(now, *t, grace):
			if isLive {
				p.Move = append(p.Move, f)
			} else {
				p.Skipped = append(p.Skipped, f)
			}
		default:
			p.Timestamped = append(p.Timestamped, Stamp{Handle: f, At: *t})
		}
	}
	for _, f := range live {
		visit(f, true)
	}
	// Stale keys. Usually there are none (every key is a live file), which
	// the count proves without sorting or searching the map's keys.
	if prev != nil && matched+countNew(prev, newFiles) < len(prev.Timestamps) {
		var stale []string
		for k := range prev.Timestamps {
			if _, ok := slices.BinarySearch(live, k); !ok {
				stale = append(stale, k)
			}
		}
		slices.Sort(stale)
		for _, f := range stale {
			visit(f, false)
		}
		slices.SortFunc(p.Timestamped, func(a, b Stamp) int { return strings.Compare(a.Handle, b.Handle) })
	}

	ts := aptos.CompactionTimestamps{FileCompactedAt: now, Timestamps: make(map[string]*uint64, len(p.Timestamped))}
	sorted := make([]string, len(p.Timestamped)) // p.Timestamped's handles: sorted, as the line writes them
	size := 64                                   // {"CompactionTimestamps":{"file_compacted_at":N,"compaction_timestamps":{}}}
	for i := range p.Timestamped {
		h := p.Timestamped[i].Handle
		ts.Timestamps[h] = &p.Timestamped[i].At
		sorted[i] = h
		size += len(h) + 24 // "handle":N,
	}
	p.stamps = aptos.NewCompactionTimestamps(ts)
	p.TimestampsFile = aptos.LiveHandle(p.stamps.Name())
	p.TimestampsLine = append(aptos.AppendTimestampsLine(make([]byte, 0, size), &ts, sorted), '\n')
	return p, nil
}

// expired reports now > t + grace, Aptos's strict test, without overflow:
// a t + grace beyond u64 never expires (Rust would wrap in a release
// build).
func expired(now, t, grace uint64) bool { return now > t && now-t > grace }

// add plans the next n entries of kind k's list of the view, from index
// lo, as the file name, and returns the file, whose Content the caller
// appends the entries to.
func (p *Plan) add(k aptos.Kind, name string, first, last uint64, lo, n int, content bool) *PlannedFile {
	h := aptos.LiveHandle(name)
	// A second chunk under the name just planned: its entries go into
	// that file, after the first chunk's (both are runs of the sorted
	// list, so the file stays sorted). Chunks that share a name are always
	// consecutive: a name is fixed by the first entry's first number and
	// the last entry's last, and the lists are sorted by those, so every
	// chunk between two chunks of one name has that name too.
	if i := len(p.Write) - 1; i >= 0 && p.Write[i].Handle == h {
		w := &p.Write[i]
		w.Lines += n
		w.Chunks++
		return w
	}
	w := PlannedFile{Handle: h, Kind: k, Lines: n, Chunks: 1, First: first, Last: last, lo: lo}
	if content {
		w.Content = make([]byte, 0, 160*n) // a typical line is under 160 bytes
	}
	p.Write = append(p.Write, w)
	return &p.Write[len(p.Write)-1]
}

// parsed returns w's entries as lines, built from the view into buf's
// storage (or w.lines, if a test set them).
func (p *Plan) parsed(w *PlannedFile, buf []aptos.Metadata) []aptos.Metadata {
	if w.lines != nil {
		return w.lines
	}
	buf = buf[:0]
	for j := w.lo; j < w.lo+w.Lines; j++ {
		switch w.Kind {
		case aptos.KindEpochEnding:
			buf = append(buf, aptos.NewEpochEnding(p.view.EpochEndings[j]))
		case aptos.KindTransaction:
			buf = append(buf, aptos.NewTransaction(p.view.Transactions[j]))
		case aptos.KindStateSnapshot:
			buf = append(buf, aptos.NewStateSnapshot(p.view.StateSnapshots[j]))
		}
	}
	return buf
}

// countNew returns how many keys of prev are handles of files this run
// writes and are not counted by visit (it returns before the lookup).
func countNew(prev *aptos.CompactionTimestamps, newFiles map[string]int) int {
	n := 0
	for h := range newFiles {
		if _, ok := prev.Timestamps[h]; ok {
			n++
		}
	}
	return n
}

// chunks cuts s into consecutive chunks of factor elements from index 0,
// the last one possibly shorter, as Rust's slice::chunks does. factor must
// be at least 1 (Options.Validate).
func chunks[T any](s []T, factor int) [][]T {
	var out [][]T
	for len(s) > 0 {
		n := min(factor, len(s))
		out = append(out, s[:n:n])
		s = s[n:]
	}
	return out
}
