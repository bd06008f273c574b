package coverage_test

import (
	"encoding/json"
	"io"
	"path/filepath"
	"testing"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/coverage"
	"github.com/metactl/metactl/internal/catalogtest"
)

// BenchmarkRead is what the coverage page's data costs at the server for
// one generation: open the catalog read-only, read the Report in one
// transaction (the view from the entry index, aggregated into segments),
// encode it as JSON and draw the SVG, close. The catalog holds 100,000
// lines in files of 100 lines; 1,000,000 with METACTL_BENCH_LARGE=1
// (issue 23: the page loads in under 2 s at 1M entries). cpu-ms/op is the
// process's CPU time (user and system, the GC's included) per operation.
func BenchmarkRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), "catalog.db")
	catalogtest.BenchCatalogAt(b, path, catalogtest.BenchSize(100_000, 1_000_000), 100)
	catalogtest.ResetPeakRSS(b)
	var r *coverage.Report
	cpu := cpuTime(b)
	n := 0
	for b.Loop() {
		n++
		db, err := catalog.Open(b.Context(), path, &catalog.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		err = db.View(b.Context(), func(tx catalog.Tx) error {
			r, err = coverage.Read(tx, nil)
			return err
		})
		db.Close()
		if err != nil {
			b.Fatal(err)
		}
		if err := json.NewEncoder(io.Discard).Encode(r); err != nil {
			b.Fatal(err)
		}
		if err := r.WriteSVG(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-cpu).Milliseconds())/float64(n), "cpu-ms/op")
	b.ReportMetric(float64(r.Entries), "entries")
	b.ReportMetric(float64(len(r.Timeline.Transactions)+len(r.Timeline.EpochEndings)+len(r.Timeline.StateSnapshots)), "segments")
	catalogtest.ReportPeakRSS(b)
}
