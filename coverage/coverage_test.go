package coverage_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/coverage"
	"github.com/metactl/metactl/internal/catalogtest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var (
	txn  = catalogtest.Transaction
	ee   = catalogtest.EpochEnding
	snap = catalogtest.StateSnapshot
)

func u(v uint64) *uint64 { return &v }

func TestCompute(t *testing.T) {
	cases := []struct {
		name       string
		entries    []aptos.Metadata
		restorable bool
		frontier   uint64
		gaps       []coverage.Hole
		overlaps   []coverage.Hole
	}{
		{name: "empty"},
		{
			name:       "continuous",
			entries:    []aptos.Metadata{ee(0, 0, 0, 0, "e0"), snap(0, 0, "s0"), txn(0, 0, "t0"), txn(1, 99, "t1"), txn(100, 199, "t2")},
			restorable: true, frontier: 199,
		},
		{
			name: "transaction gap",
			entries: []aptos.Metadata{ee(0, 0, 0, 0, "e0"), snap(0, 0, "s0"), txn(0, 99, "t0"), txn(100, 199, "t1"),
				txn(400, 499, "t4"), txn(500, 599, "t5")},
			restorable: true, frontier: 199,
			gaps: []coverage.Hole{{Row: coverage.Transactions, FirstVersion: 200, LastVersion: 399}},
		},
		{
			name:    "gap from version 0",
			entries: []aptos.Metadata{snap(0, 0, "s0"), txn(100, 199, "t1")},
			gaps:    []coverage.Hole{{Row: coverage.Transactions, FirstVersion: 0, LastVersion: 99}},
		},
		{
			name: "overlaps merge when they touch",
			entries: []aptos.Metadata{snap(0, 0, "s0"), txn(0, 99, "t0"), txn(50, 149, "t1"), txn(100, 199, "t2"),
				txn(200, 299, "a"), txn(200, 299, "b")},
			restorable: true, frontier: 99,
			overlaps: []coverage.Hole{
				{Row: coverage.Transactions, FirstVersion: 50, LastVersion: 149, Entries: 3},
				{Row: coverage.Transactions, FirstVersion: 200, LastVersion: 299, Entries: 2},
			},
		},
		{
			name: "epoch-ending gap",
			entries: []aptos.Metadata{ee(0, 0, 0, 0, "e0"), ee(1, 1, 100, 100, "e1"), ee(4, 4, 400, 400, "e4"),
				snap(0, 0, "s0"), txn(0, 499, "t0")},
			restorable: true, frontier: 399,
			gaps: []coverage.Hole{{Row: coverage.EpochEndings, FirstVersion: 101, LastVersion: 399, FirstEpoch: u(2), LastEpoch: u(3)}},
		},
		{
			name:       "no snapshot below the frontier",
			entries:    []aptos.Metadata{snap(3, 300, "s3"), txn(0, 199, "t0")},
			restorable: false,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := coverage.Compute(aptos.NewView(tc.entries), nil)
			if s.Restorable != tc.restorable || s.FrontierVersion != tc.frontier {
				t.Errorf("frontier = %d, %v; want %d, %v", s.FrontierVersion, s.Restorable, tc.frontier, tc.restorable)
			}
			want := func(h []coverage.Hole) string {
				if h == nil {
					h = []coverage.Hole{}
				}
				b, _ := json.Marshal(h)
				return string(b)
			}
			if got := want(s.Gaps); got != want(tc.gaps) {
				t.Errorf("gaps = %s, want %s", got, want(tc.gaps))
			}
			if got := want(s.Overlaps); got != want(tc.overlaps) {
				t.Errorf("overlaps = %s, want %s", got, want(tc.overlaps))
			}
			if s.GapCount != len(tc.gaps) || s.OverlapCount != len(tc.overlaps) {
				t.Errorf("counts = %d, %d", s.GapCount, s.OverlapCount)
			}
		})
	}
}

func TestHoleText(t *testing.T) {
	cases := []struct {
		h    coverage.Hole
		want string
	}{
		{coverage.Hole{FirstVersion: 200, LastVersion: 399}, "versions 200-399"},
		{coverage.Hole{FirstVersion: 7, LastVersion: 7}, "versions 7"},
		{coverage.Hole{FirstVersion: 101, LastVersion: 399, FirstEpoch: u(2), LastEpoch: u(3)}, "epochs 2-3 (versions 101-399)"},
	}
	for _, tc := range cases {
		if got := tc.h.Text(); got != tc.want {
			t.Errorf("Text() = %q, want %q", got, tc.want)
		}
	}
}

// TestSegmentsBounded: a row never has more segments than bins (plus
// one), however many entries and gaps, and every gap is still listed
// exactly.
func TestSegmentsBounded(t *testing.T) {
	var entries []aptos.Metadata
	for i := uint64(0); i < 20000; i++ {
		if i%7 == 3 {
			continue // a gap of 100 versions every 7 batches
		}
		entries = append(entries, txn(i*100, i*100+99, "t"), ee(i, i, i*100+99, i*100+99, "e"))
		if i%2 == 0 {
			entries = append(entries, snap(i, i*100+99, "s"))
		}
	}
	s, tl := coverage.Compute(aptos.NewView(entries), &coverage.Options{Segments: 500})
	for name, row := range map[string][]coverage.Segment{"transactions": tl.Transactions, "epoch endings": tl.EpochEndings, "snapshots": tl.StateSnapshots} {
		if len(row) > 501 {
			t.Errorf("%s: %d segments for 500 bins", name, len(row))
		}
		n := 0
		for _, sg := range row {
			n += sg.Entries
		}
		if name == "transactions" && n != 20000-2857 {
			t.Errorf("%s: segments count %d entries", name, n)
		}
	}
	if s.GapCount != 2857*2 || len(s.Gaps) != coverage.MaxListed {
		t.Errorf("gaps: %d counted, %d listed", s.GapCount, len(s.Gaps))
	}
	if g := s.Gaps[0]; g.FirstVersion != 300 || g.LastVersion != 399 {
		t.Errorf("first gap %+v", g)
	}
}

// TestReadSVG reads a real catalog with a planted gap and draws it: the
// golden file pins the drawing, and the gap's range is there as text.
func TestReadSVG(t *testing.T) {
	db := catalogtest.Open(t)
	var files []catalogtest.File
	add := func(name string, m aptos.Metadata) {
		files = append(files, catalogtest.File{Name: name, State: catalog.Live, Lines: []aptos.Metadata{m}})
	}
	for i := uint64(0); i < 40; i++ {
		if i == 17 || i == 18 {
			continue
		}
		add("transaction_"+itoa(i*1000)+".meta", txn(i*1000, i*1000+999, "t"+itoa(i)))
	}
	for e := uint64(0); e < 10; e++ {
		add("epoch_ending_"+itoa(e)+".meta", ee(e, e, e*4000+3999, e*4000+3999, "e"+itoa(e)))
		if e%3 == 0 {
			add("state_snapshot_"+itoa(e)+".meta", snap(e, e*4000+3999, "s"+itoa(e)))
		}
	}
	add("transaction_dup.meta", txn(30000, 30999, "other"))
	catalogtest.Put(t, db, files...)
	var r *coverage.Report
	err := db.View(t.Context(), func(tx catalog.Tx) error {
		var err error
		r, err = coverage.Read(tx, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Restorable || r.FrontierVersion != 16999 || r.GapCount != 1 || r.OverlapCount != 1 || r.LiveFiles != len(files) {
		t.Fatalf("report: %+v", r.Summary)
	}
	var b bytes.Buffer
	if err := r.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	for _, want := range []string{"GAP versions 17000-18999", "OVERLAP versions 30000-30999", "frontier 16999", `data-generation="1"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	golden := filepath.Join("testdata", "planted-gap.svg")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, b.Bytes()) {
		t.Errorf("svg differs from %s (go test ./coverage -run TestReadSVG -update)", golden)
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
