package compaction_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/compaction"
	"github.com/metactl/metactl/internal/catalogtest"
)

const t0 = 1_700_000_000 // a clock reading, Unix seconds

// workedExample returns the originals of docs/aptos-format.md §6's worked
// example: epochs 0..249, transactions [0-0], [1-1000000], ...,
// [199000001-200000000].
func workedExample() []aptos.Metadata {
	var ms []aptos.Metadata
	for e := uint64(0); e < 250; e++ {
		ms = append(ms, ep(e, e))
	}
	ms = append(ms, txn(0, 0))
	for v := uint64(1); v < 200_000_000; v += 1_000_000 {
		ms = append(ms, txn(v, v+999_999))
	}
	return ms
}

func TestComputeChunks(t *testing.T) {
	epochs := func(n uint64) []aptos.Metadata {
		var ms []aptos.Metadata
		for e := uint64(0); e < n; e++ {
			ms = append(ms, ep(e, e))
		}
		return ms
	}
	type want struct {
		name  string
		lines int
	}
	tests := []struct {
		name    string
		entries []aptos.Metadata
		opts    compaction.Options
		want    []want
	}{
		{"empty view", nil, compaction.DefaultOptions(), nil},
		{"E=3 over epochs 0..9 (spec 10.8)", epochs(10), opts(3, 1, 1, 0), []want{
			{"epoch_ending_compacted_0-2.meta", 3}, {"epoch_ending_compacted_3-5.meta", 3},
			{"epoch_ending_compacted_6-8.meta", 3}, {"epoch_ending_compacted_9-9.meta", 1}}},
		{"default factor 1 rewrites every entry", []aptos.Metadata{ep(0, 0), txn(0, 9), ss(0, 0)}, compaction.DefaultOptions(), []want{
			{"epoch_ending_compacted_0-0.meta", 1}, {"transaction_compacted_0-9.meta", 1}, {"state_snapshot_compacted_epoch_0_0.meta", 1}}},
		{"gap across a chunk boundary with E=1 (spec 10.8)", []aptos.Metadata{ep(0, 0), ep(2, 2)}, opts(1, 1, 1, 0), []want{
			{"epoch_ending_compacted_0-0.meta", 1}, {"epoch_ending_compacted_2-2.meta", 1}}},
		{"gap across a chunk boundary with E=2", []aptos.Metadata{ep(0, 0), ep(1, 1), ep(3, 3)}, opts(2, 1, 1, 0), []want{
			{"epoch_ending_compacted_0-1.meta", 2}, {"epoch_ending_compacted_3-3.meta", 1}}},
		{"exact duplicates are one entry (spec 10.8)", []aptos.Metadata{ep(0, 0), ep(1, 1), ep(1, 1), txn(0, 4), txn(0, 4)}, opts(10, 10, 10, 0), []want{
			{"epoch_ending_compacted_0-1.meta", 2}, {"transaction_compacted_0-4.meta", 1}}},
		{"multi-epoch ranges name first and last epoch", []aptos.Metadata{ep(0, 4), ep(5, 9), ep(10, 10)}, opts(2, 1, 1, 0), []want{
			{"epoch_ending_compacted_0-9.meta", 2}, {"epoch_ending_compacted_10-10.meta", 1}}},
		{"snapshots: no continuity check, named by epochs", []aptos.Metadata{ss(1, 10), ss(3, 30), ss(3, 31), ss(9, 90)}, opts(1, 2, 1, 0), []want{
			{"state_snapshot_compacted_epoch_1_3.meta", 2}, {"state_snapshot_compacted_epoch_3_9.meta", 2}}},
		{"order: epochs, transactions, snapshots", []aptos.Metadata{ss(0, 0), txn(0, 0), txn(1, 5), ep(0, 0)}, opts(5, 5, 5, 0), []want{
			{"epoch_ending_compacted_0-0.meta", 1}, {"transaction_compacted_0-5.meta", 2}, {"state_snapshot_compacted_epoch_0_0.meta", 1}}},
		{"factor far above the count", epochs(3), opts(math.MaxInt, math.MaxInt, math.MaxInt, 0), []want{
			{"epoch_ending_compacted_0-2.meta", 3}}},
		{"worked example (spec 6)", workedExample(), opts(100, 100, 100, 0), []want{
			{"epoch_ending_compacted_0-99.meta", 100}, {"epoch_ending_compacted_100-199.meta", 100}, {"epoch_ending_compacted_200-249.meta", 50},
			{"transaction_compacted_0-99000000.meta", 100}, {"transaction_compacted_99000001-199000000.meta", 100},
			{"transaction_compacted_199000001-200000000.meta", 1}}},
		{"worked example plus one batch (spec 6)", append(workedExample(), txn(200_000_001, 201_000_000)), opts(100, 100, 100, 0), []want{
			{"epoch_ending_compacted_0-99.meta", 100}, {"epoch_ending_compacted_100-199.meta", 100}, {"epoch_ending_compacted_200-249.meta", 50},
			{"transaction_compacted_0-99000000.meta", 100}, {"transaction_compacted_99000001-199000000.meta", 100},
			{"transaction_compacted_199000001-201000000.meta", 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := aptos.NewView(tt.entries)
			p, err := compaction.Compute(v, nil, nil, t0, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			var all []aptos.Metadata
			for _, w := range p.Write {
				got = append(got, want{aptos.BaseName(w.Handle), w.Lines})
				lines, err := aptos.ParseFile(w.Content)
				if err != nil {
					t.Fatalf("%s: %v", w.Handle, err)
				}
				if len(lines) != w.Lines {
					t.Fatalf("%s: %d lines in content, Lines = %d", w.Handle, len(lines), w.Lines)
				}
				all = append(all, lines...)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("compacted files:\n got  %v\n want %v", got, tt.want)
			}
			// The compacted files hold the view, entry for entry, in order.
			var wantContent, gotContent []byte
			v.ForEachEntry(func(m *aptos.Metadata) { wantContent = append(wantContent, aptos.EncodeLine(m)...) })
			nv := aptos.NewView(all)
			nv.ForEachEntry(func(m *aptos.Metadata) { gotContent = append(gotContent, aptos.EncodeLine(m)...) })
			mustEqualBytes(t, "entries of the compacted files", gotContent, wantContent)
			if len(all) != v.Len() {
				t.Fatalf("compacted files hold %d lines, view has %d entries", len(all), v.Len())
			}
		})
	}
}

func TestComputeContent(t *testing.T) {
	a, b, c := ep(0, 0), ep(1, 1), ep(2, 2)
	p, err := compaction.Compute(aptos.NewView([]aptos.Metadata{c, a, b}), nil, nil, t0, opts(2, 1, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	w := p.Write[0]
	if w.Kind != aptos.KindEpochEnding || w.First != 0 || w.Last != 1 || w.Lines != 2 {
		t.Fatalf("first file = %+v", w)
	}
	mustEqualBytes(t, "content", w.Content, catalogtest.Content(a, b))
	if w := p.Write[1]; w.First != 2 || w.Last != 2 {
		t.Fatalf("second file = %+v", w)
	}
}

func TestComputeErrors(t *testing.T) {
	tests := []struct {
		name    string
		entries []aptos.Metadata
		opts    compaction.Options
		want    string
		is      error
	}{
		{"epoch gap inside a chunk (spec 10.8)", []aptos.Metadata{ep(0, 0), ep(2, 2)}, opts(2, 1, 1, 0),
			"Epoch ending backup ranges is not continuous expecting epoch 1, got 2", aptos.ErrInvalid},
		{"epoch range twice with different manifests (spec 10.8)", []aptos.Metadata{epm(0, 0, "a/m"), epm(0, 0, "b/m")}, opts(2, 1, 1, 0),
			"Epoch ending backup ranges is not continuous expecting epoch 1, got 0", aptos.ErrInvalid},
		{"epoch overlap", []aptos.Metadata{ep(0, 1), ep(1, 2)}, opts(3, 1, 1, 0),
			"Epoch ending backup ranges is not continuous expecting epoch 2, got 1", aptos.ErrInvalid},
		{"epoch gap in a later chunk", []aptos.Metadata{ep(0, 0), ep(1, 1), ep(2, 2), ep(4, 4)}, opts(2, 1, 1, 0),
			"Epoch ending backup ranges is not continuous expecting epoch 3, got 4", aptos.ErrInvalid},
		{"transaction gap", []aptos.Metadata{txn(0, 14), txn(16, 29)}, opts(1, 1, 2, 0),
			"txn backup ranges is not continuous expecting version 15, got 16.", aptos.ErrInvalid},
		{"transaction range twice with different manifests", []aptos.Metadata{txnm(0, 14, "a/m"), txnm(0, 14, "b/m")}, opts(1, 1, 2, 0),
			"txn backup ranges is not continuous expecting version 15, got 0.", aptos.ErrInvalid},
		{"epochs are checked before transactions", []aptos.Metadata{ep(0, 0), ep(5, 5), txn(0, 1), txn(5, 6)}, opts(2, 1, 2, 0),
			"Epoch ending backup ranges is not continuous expecting epoch 1, got 5", aptos.ErrInvalid},
		{"epoch factor 0", nil, opts(0, 1, 1, 0), "epoch-ending compaction factor is 0, must be at least 1: invalid compaction option", compaction.ErrFactor},
		{"snapshot factor negative", nil, opts(1, -1, 1, 0), "state-snapshot compaction factor is -1, must be at least 1: invalid compaction option", compaction.ErrFactor},
		{"transaction factor 0", nil, opts(1, 1, 0, 0), "transaction compaction factor is 0, must be at least 1: invalid compaction option", compaction.ErrFactor},
		{"zero options", nil, compaction.Options{}, "epoch-ending compaction factor is 0, must be at least 1: invalid compaction option", compaction.ErrFactor},
		{"negative grace period", nil, opts(1, 1, 1, -time.Second), "remove-compacted-file-after is negative (-1s): invalid compaction option", compaction.ErrFactor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := compaction.Compute(aptos.NewView(tt.entries), nil, nil, t0, tt.opts)
			if err == nil {
				t.Fatalf("no error; plan writes %q", writes(p))
			}
			if err.Error() != tt.want {
				t.Fatalf("error:\n got  %s\n want %s", err, tt.want)
			}
			if !errors.Is(err, tt.is) {
				t.Fatalf("error %v does not wrap %v", err, tt.is)
			}
			if errors.Is(err, compaction.ErrFactor) == errors.Is(err, aptos.ErrInvalid) {
				t.Fatalf("error %v must wrap exactly one of ErrFactor and ErrInvalid", err)
			}
		})
	}
}

func TestContinuityErrorFields(t *testing.T) {
	_, err := compaction.Compute(aptos.NewView([]aptos.Metadata{txn(0, 14), txn(16, 29)}), nil, nil, t0, opts(1, 1, 2, 0))
	var ce *compaction.ContinuityError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *ContinuityError", err)
	}
	if ce.Kind != aptos.KindTransaction || ce.Expected != 15 || ce.Got != 16 ||
		!reflect.DeepEqual(ce.Prev, txn(0, 14)) || !reflect.DeepEqual(ce.Next, txn(16, 29)) {
		t.Fatalf("ContinuityError = %+v", ce)
	}
}

func u(v uint64) *uint64 { return &v }

func TestComputeTimestamps(t *testing.T) {
	const (
		a   = "metadata/epoch_ending_0-0.meta"
		b   = "metadata/transaction_0-9.meta"
		cmp = "metadata/epoch_ending_compacted_0-0.meta" // rewritten by every run below
		id  = "metadata/identity.meta"
		ts  = "metadata/compaction_timestamps_1699990000.meta"
	)
	day := 86400 * time.Second
	type stamp = compaction.Stamp
	tests := []struct {
		name    string
		live    []string
		prev    map[string]*uint64 // nil: no previous timestamps entry
		now     uint64
		grace   time.Duration
		stamps  []stamp
		move    []string
		skipped []string
	}{
		{name: "no previous map: every file stamped now", live: []string{a, b, cmp}, now: t0,
			stamps: []stamp{{a, t0, true}, {b, t0, true}}},
		{name: "null stamps get now", live: []string{a, b}, prev: map[string]*uint64{a: nil}, now: t0,
			stamps: []stamp{{a, t0, true}, {b, t0, true}}},
		{name: "kept until now = t + R", live: []string{a}, prev: map[string]*uint64{a: u(t0)}, now: t0 + 86400, grace: day,
			stamps: []stamp{{a, t0, false}}},
		{name: "moved once now > t + R (strict)", live: []string{a}, prev: map[string]*uint64{a: u(t0)}, now: t0 + 86401, grace: day,
			move: []string{a}},
		{name: "R = 0 keeps within the same second", live: []string{a}, prev: map[string]*uint64{a: u(t0)}, now: t0,
			stamps: []stamp{{a, t0, false}}},
		{name: "R = 0 moves a second later", live: []string{a}, prev: map[string]*uint64{a: u(t0)}, now: t0 + 1,
			move: []string{a}},
		{name: "R is compared in whole seconds", live: []string{a}, prev: map[string]*uint64{a: u(t0)}, now: t0 + 2, grace: 2999 * time.Millisecond,
			stamps: []stamp{{a, t0, false}}},
		{name: "expired stale key (not a live file) is skipped and dropped", live: []string{a}, prev: map[string]*uint64{a: u(t0), "metadata/gone.meta": u(t0 - 10)},
			now: t0 + 5, grace: 5 * time.Second, stamps: []stamp{{a, t0, false}}, skipped: []string{"metadata/gone.meta"}},
		{name: "stale key within grace is kept", live: nil, prev: map[string]*uint64{"metadata/gone.meta": u(t0)}, now: t0 + 1, grace: day,
			stamps: []stamp{{"metadata/gone.meta", t0, false}}},
		{name: "stale null key is stamped (as Aptos does)", live: nil, prev: map[string]*uint64{"metadata/gone.meta": nil}, now: t0,
			stamps: []stamp{{"metadata/gone.meta", t0, true}}},
		{name: "a rewritten compacted file is left out, even when expired", live: []string{cmp}, prev: map[string]*uint64{cmp: u(1)}, now: t0,
			stamps: nil},
		{name: "a rewritten compacted file that is not live is left out", live: []string{a}, prev: map[string]*uint64{cmp: u(1), a: u(t0)}, now: t0,
			stamps: []stamp{{a, t0, false}}},
		{name: "stale keys sort among live handles", live: []string{a, "metadata/zz.meta"},
			prev: map[string]*uint64{cmp: u(1), "metadata/gone.meta": nil, "metadata/old.meta": u(1), a: u(t0)}, now: t0, grace: day,
			stamps: []stamp{{a, t0, false}, {"metadata/gone.meta", t0, true}, {"metadata/zz.meta", t0, true}}, skipped: []string{"metadata/old.meta"}},
		{name: "identity and old timestamps files are ordinary files", live: []string{id, ts}, prev: map[string]*uint64{id: u(t0 - 100), ts: u(t0 - 100)},
			now: t0, grace: 99 * time.Second, move: []string{ts, id}},
		{name: "a future timestamp is kept", live: []string{a}, prev: map[string]*uint64{a: u(t0 + 100)}, now: t0,
			stamps: []stamp{{a, t0 + 100, false}}},
		{name: "t + R beyond u64 never expires", live: []string{a}, prev: map[string]*uint64{a: u(math.MaxUint64 - 5)}, now: math.MaxUint64 - 1, grace: 10 * time.Second,
			stamps: []stamp{{a, math.MaxUint64 - 5, false}}},
		{name: "unsorted live list", live: []string{b, a}, now: t0,
			stamps: []stamp{{a, t0, true}, {b, t0, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prev *aptos.CompactionTimestamps
			if tt.prev != nil {
				prev = &aptos.CompactionTimestamps{FileCompactedAt: t0 - 1, Timestamps: tt.prev}
			}
			v := aptos.NewView([]aptos.Metadata{ep(0, 0)}) // compacts to cmp
			p, err := compaction.Compute(v, tt.live, prev, tt.now, opts(1, 1, 1, tt.grace))
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Timestamped) != 0 || len(tt.stamps) != 0 {
				if !reflect.DeepEqual(p.Timestamped, tt.stamps) {
					t.Fatalf("timestamped:\n got  %v\n want %v", p.Timestamped, tt.stamps)
				}
			}
			eqStrings(t, "move", p.Move, tt.move)
			eqStrings(t, "skipped", p.Skipped, tt.skipped)
			if want := aptos.LiveHandle(tsName(tt.now)); p.TimestampsFile != want {
				t.Fatalf("timestamps file %s, want %s", p.TimestampsFile, want)
			}
			m, err := aptos.ParseLine(p.TimestampsLine[:len(p.TimestampsLine)-1])
			if err != nil {
				t.Fatal(err)
			}
			if m.Timestamps.FileCompactedAt != tt.now || len(m.Timestamps.Timestamps) != len(tt.stamps) {
				t.Fatalf("timestamps line %s", p.TimestampsLine)
			}
			for _, s := range tt.stamps {
				if got := m.Timestamps.Timestamps[s.Handle]; got == nil || *got != s.At {
					t.Fatalf("timestamps line %s: %s not at %d", p.TimestampsLine, s.Handle, s.At)
				}
			}
		})
	}
}

func TestComputeTimestampsLine(t *testing.T) {
	prev := &aptos.CompactionTimestamps{FileCompactedAt: 5, Timestamps: map[string]*uint64{
		"metadata/z.meta": u(7), "metadata/a.meta": nil, "metadata/stale.meta": u(1)}}
	p, err := compaction.Compute(aptos.NewView(nil), md("m.meta", "z.meta", "a.meta"), prev, 9, opts(1, 1, 1, 3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"CompactionTimestamps":{"file_compacted_at":9,"compaction_timestamps":{"metadata/a.meta":9,"metadata/m.meta":9,"metadata/z.meta":7}}}` + "\n"
	mustEqualBytes(t, "timestamps line", p.TimestampsLine, []byte(want))
	eqStrings(t, "skipped", p.Skipped, []string{"metadata/stale.meta"})
	if got := p.Summary(); got != "wrote 0 compacted files, timestamped 3, moved 0, skipped 1 expired handle that is not a live file" {
		t.Fatalf("summary %q", got)
	}
}

func ExampleCompute() {
	v := aptos.NewView([]aptos.Metadata{ep(0, 0), ep(1, 1), ep(2, 2), txn(0, 14), txn(15, 29)})
	live := md("epoch_ending_0-0.meta", "epoch_ending_1-1.meta", "epoch_ending_2-2.meta", "transaction_0-14.meta", "transaction_15-29.meta")
	p, err := compaction.Compute(v, live, nil, 1700000000, opts(2, 2, 2, 86400*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range p.Write {
		fmt.Println("write", w.Handle, w.Lines)
	}
	fmt.Println(p.Summary())
	fmt.Println(p.TimestampsFile)
	// Output:
	// write metadata/epoch_ending_compacted_0-1.meta 2
	// write metadata/epoch_ending_compacted_2-2.meta 1
	// write metadata/transaction_compacted_0-29.meta 2
	// wrote 3 compacted files, timestamped 5, moved 0
	// metadata/compaction_timestamps_1700000000.meta
}

// TestComputeEmptyCatalogWritesNothing: with no live file and no entry
// there is nothing to compact or timestamp, so not even a timestamps file
// is planned (issue 8: a compaction of an empty catalog wrote one into
// the storage).
func TestComputeEmptyCatalogWritesNothing(t *testing.T) {
	p, err := compaction.Compute(&aptos.View{}, nil, nil, 1700000000, compaction.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if p.TimestampsFile != "" || len(p.Write) != 0 || len(p.Timestamped) != 0 || len(p.Move) != 0 {
		t.Errorf("plan for an empty catalog: %+v, want nothing", p)
	}
}
