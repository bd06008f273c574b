package coverage

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

// MaxListed caps the holes of each sort (gaps, overlaps) that a Summary
// lists; GapCount and OverlapCount are always exact.
const MaxListed = 1000

// DefaultSegments is the number of bins of the version axis when
// Options.Segments is zero: one per pixel of the drawing's plot (865 px
// wide at 100%), so a row has at most 866 shapes.
const DefaultSegments = plotRight - plotLeft

// Row names the kind of entries a Hole or a timeline row is about.
type Row string

const (
	Transactions   Row = "transactions"
	EpochEndings   Row = "epoch_endings"
	StateSnapshots Row = "state_snapshots"
)

// Hole is a gap or an overlap of one row, with its exact inclusive
// version range; for epoch endings also its epochs.
type Hole struct {
	Row          Row    `json:"row"`
	FirstVersion uint64 `json:"first_version"`
	LastVersion  uint64 `json:"last_version"`
	// FirstEpoch and LastEpoch are set for epoch endings only.
	FirstEpoch *uint64 `json:"first_epoch,omitempty"`
	LastEpoch  *uint64 `json:"last_epoch,omitempty"`
	// Entries counts the entries that cover an overlap (0 for a gap).
	Entries int `json:"entries,omitempty"`
}

// Text returns the hole's range as an operator reads it:
// "versions 1000-1999", "epochs 5-6 (versions 1000-1999)".
func (h Hole) Text() string {
	s := "versions " + rangeText(h.FirstVersion, h.LastVersion)
	if h.FirstEpoch != nil && h.LastEpoch != nil {
		s = "epochs " + rangeText(*h.FirstEpoch, *h.LastEpoch) + " (" + s + ")"
	}
	return s
}

func rangeText(first, last uint64) string {
	if first == last {
		return fmt.Sprint(first)
	}
	return fmt.Sprintf("%d-%d", first, last)
}

// Summary is what a view says about restoring: the frontier and the holes.
type Summary struct {
	// Restorable is false when no restore can start (no transactions
	// from version 0, or no state snapshot below the first gap);
	// FrontierVersion is then 0.
	Restorable      bool   `json:"restorable"`
	FrontierVersion uint64 `json:"frontier_version"`
	// Gaps and Overlaps list at most MaxListed holes each, in row order
	// (transactions, then epoch endings) and version order within a row.
	Gaps         []Hole `json:"gaps"`
	GapCount     int    `json:"gap_count"`
	Overlaps     []Hole `json:"overlaps"`
	OverlapCount int    `json:"overlap_count"`
}

// Segment is one drawn shape of a timeline row: contiguous entries, or
// entries merged because they fall into the same bin of the axis.
type Segment struct {
	FirstVersion uint64 `json:"first_version"`
	LastVersion  uint64 `json:"last_version"`
	Entries      int    `json:"entries"`
}

// Timeline is the drawing's data: the axis from version 0 to End, and
// each row's segments in version order.
type Timeline struct {
	End            uint64    `json:"end"`
	Bins           int       `json:"bins"`
	Transactions   []Segment `json:"transactions"`
	EpochEndings   []Segment `json:"epoch_endings"`
	StateSnapshots []Segment `json:"state_snapshots"`
}

// Report is the coverage of one catalog generation.
type Report struct {
	Generation uint64             `json:"generation"`
	ViewDigest aptos.Digest       `json:"view_digest"`
	State      aptos.StorageState `json:"state"`
	// StateLine is State as aptos-db-tool prints it (status's line).
	StateLine  string `json:"state_line"`
	Entries    int    `json:"entries"`
	LiveFiles  int    `json:"live_files"`
	MovedFiles int    `json:"moved_files"`
	Summary
	// Quarantined lists at most MaxListed of the files import set aside
	// (--quarantine) because they failed to parse or validate;
	// QuarantinedCount counts them all.
	Quarantined      []Quarantined `json:"quarantined"`
	QuarantinedCount int           `json:"quarantined_count"`
	Timeline         Timeline      `json:"timeline"`
}

// Quarantined is a file set aside by import, and why.
type Quarantined struct {
	Handle string        `json:"handle"`
	State  catalog.State `json:"state"`
	Error  string        `json:"error"`
}

// Options tune Compute and Read. The zero value is ready to use.
type Options struct {
	// Segments is the number of bins of the version axis (at most that
	// many segments per row, plus one); 0 means DefaultSegments.
	Segments int
}

// Read computes the Report of tx's generation from the view's entry
// index (tx.View), the kept storage state and file counts; it lists no
// file.
func Read(tx catalog.Tx, opts *Options) (*Report, error) {
	r := &Report{Generation: tx.Generation(), ViewDigest: tx.ViewDigest(), Entries: tx.EntryCount()}
	var err error
	if r.State, err = tx.StorageState(); err != nil {
		return nil, fmt.Errorf("coverage: %w", err)
	}
	r.StateLine = r.State.String()
	if r.LiveFiles, r.MovedFiles, err = tx.CountFiles(); err != nil {
		return nil, fmt.Errorf("coverage: %w", err)
	}
	r.Quarantined = []Quarantined{}
	err = tx.QuarantinedFiles(func(q *catalog.QuarantinedFile) error {
		r.QuarantinedCount++
		if len(r.Quarantined) < MaxListed {
			r.Quarantined = append(r.Quarantined, Quarantined{Handle: q.Handle, State: q.State, Error: q.Error})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("coverage: %w", err)
	}
	v, err := tx.View()
	if err != nil {
		return nil, fmt.Errorf("coverage: %w", err)
	}
	r.Summary, r.Timeline = Compute(v, opts)
	return r, nil
}

// Compute derives the summary and the timeline of v. It keeps no
// reference to v.
func Compute(v *aptos.View, opts *Options) (Summary, Timeline) {
	var s Summary
	s.FrontierVersion, s.Restorable = v.RestorableFrontier()
	s.Gaps, s.Overlaps = []Hole{}, []Hole{}
	txnHoles(v.Transactions, &s)
	epochHoles(v.EpochEndings, &s)

	bins := DefaultSegments
	if opts != nil && opts.Segments > 0 {
		bins = opts.Segments
	}
	t := Timeline{Bins: bins, Transactions: []Segment{}, EpochEndings: []Segment{}, StateSnapshots: []Segment{}}
	if n := len(v.Transactions); n > 0 {
		t.End = maxTxnLast(v.Transactions)
	}
	if n := len(v.EpochEndings); n > 0 {
		t.End = max(t.End, v.EpochEndings[n-1].LastVersion) // sorted by epoch, and versions grow with epochs
	}
	for _, ss := range v.StateSnapshots {
		t.End = max(t.End, ss.Version)
	}
	ax := axis{end: t.End, bins: uint64(bins)}
	for _, e := range v.Transactions {
		t.Transactions = ax.add(t.Transactions, e.FirstVersion, e.LastVersion)
	}
	for _, e := range v.EpochEndings {
		t.EpochEndings = ax.add(t.EpochEndings, e.FirstVersion, e.LastVersion)
	}
	// Snapshots are sorted by epoch, then version: versions grow with
	// epochs on a chain, and a snapshot out of order merges no less.
	for _, e := range v.StateSnapshots {
		t.StateSnapshots = ax.add(t.StateSnapshots, e.Version, e.Version)
	}
	return s, t
}

func maxTxnLast(ts []aptos.TransactionBackup) uint64 {
	var m uint64
	for _, t := range ts {
		m = max(m, t.LastVersion)
	}
	return m
}

// axis maps versions 0..end to bins 0..bins-1.
type axis struct{ end, bins uint64 }

// bin returns v*bins/(end+1), without overflow.
func (a axis) bin(v uint64) uint64 {
	if a.end == math.MaxUint64 {
		return v / (math.MaxUint64/a.bins + 1)
	}
	hi, lo := bits.Mul64(v, a.bins)
	q, _ := bits.Div64(hi, lo, a.end+1)
	return q
}

// add appends the entry first..last to segs, merged into the last segment
// when it continues or overlaps it, or starts in the bin where it ends.
func (a axis) add(segs []Segment, first, last uint64) []Segment {
	if n := len(segs); n > 0 {
		s := &segs[n-1]
		if (s.LastVersion == math.MaxUint64 || first <= s.LastVersion+1 || a.bin(first) == a.bin(s.LastVersion)) && first >= s.FirstVersion {
			s.LastVersion = max(s.LastVersion, last)
			s.Entries++
			return segs
		}
	}
	return append(segs, Segment{FirstVersion: first, LastVersion: last, Entries: 1})
}

func (s *Summary) gap(h Hole) {
	s.GapCount++
	if len(s.Gaps) < MaxListed {
		s.Gaps = append(s.Gaps, h)
	}
}

func (s *Summary) overlap(h Hole) {
	// Overlaps that touch are one: the same versions backed up three
	// times, or a chain of overlapping entries, read as one hole.
	if n := len(s.Overlaps); n > 0 && s.OverlapCount == n {
		o := &s.Overlaps[n-1]
		if o.Row == h.Row && h.FirstVersion <= o.LastVersion+1 && h.FirstVersion >= o.FirstVersion && o.LastVersion != math.MaxUint64 {
			o.LastVersion = max(o.LastVersion, h.LastVersion)
			if h.LastEpoch != nil && o.LastEpoch != nil && *h.LastEpoch > *o.LastEpoch {
				o.LastEpoch = h.LastEpoch
			}
			o.Entries++
			return
		}
	}
	s.OverlapCount++
	if len(s.Overlaps) < MaxListed {
		s.Overlaps = append(s.Overlaps, h)
	}
}

// txnHoles finds the transaction gaps and overlaps: ts is sorted by first
// version, then last version.
func txnHoles(ts []aptos.TransactionBackup, s *Summary) {
	var next uint64 // the first version no entry so far covers
	done := false   // an entry reached u64::MAX
	for i, t := range ts {
		switch {
		case done || (i > 0 && t.FirstVersion < next):
			end := next - 1
			if done {
				end = math.MaxUint64
			}
			s.overlap(Hole{Row: Transactions, FirstVersion: t.FirstVersion, LastVersion: min(t.LastVersion, end), Entries: 2})
		case t.FirstVersion > next:
			s.gap(Hole{Row: Transactions, FirstVersion: next, LastVersion: t.FirstVersion - 1})
		}
		if done {
			continue
		}
		if t.LastVersion == math.MaxUint64 {
			done = true
		} else {
			next = max(next, t.LastVersion+1)
		}
	}
}

// epochHoles finds the epoch-ending gaps and overlaps: es is sorted by
// first epoch, then last epoch.
func epochHoles(es []aptos.EpochEndingBackup, s *Summary) {
	var nextEpoch uint64 // the first epoch no entry so far covers
	var prevLast uint64  // the highest last version so far
	for i, e := range es {
		switch {
		case i > 0 && e.FirstEpoch < nextEpoch:
			fe, le := e.FirstEpoch, min(e.LastEpoch, nextEpoch-1)
			s.overlap(Hole{Row: EpochEndings, FirstVersion: min(e.FirstVersion, prevLast), LastVersion: min(e.LastVersion, prevLast),
				FirstEpoch: &fe, LastEpoch: &le, Entries: 2})
		case e.FirstEpoch > nextEpoch:
			fe, le := nextEpoch, e.FirstEpoch-1
			h := Hole{Row: EpochEndings, FirstEpoch: &fe, LastEpoch: &le}
			// The missing epochs ended after the previous entry's last
			// version and before this entry's first.
			if i > 0 {
				h.FirstVersion = prevLast + 1
			}
			h.LastVersion = max(h.FirstVersion, e.FirstVersion-min(e.FirstVersion, 1))
			s.gap(h)
		}
		if e.LastEpoch != math.MaxUint64 {
			nextEpoch = max(nextEpoch, e.LastEpoch+1)
		}
		prevLast = max(prevLast, e.LastVersion)
	}
}
