//go:build unix

package main

import (
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/metrics"
)

// catalogFacts reads the metrics facts of the catalog in one read-only
// transaction, opening it for that transaction only.
func (a *app) catalogFacts() (*metrics.Facts, error) {
	db, done, err := a.openRead("metrics")
	if err != nil {
		return nil, err
	}
	defer done()
	var f *metrics.Facts
	err = db.View(a.ctx, func(tx catalog.Tx) error {
		f, err = metrics.Read(tx)
		return err
	})
	return f, err
}

// writeMetrics writes --metrics-textfile after a command: the catalog's
// facts if it can be read within a second (a missing catalog, or a query
// straight from a storage, leaves them out), the last verify if this run
// verified, and this run.
func (a *app) writeMetrics(run *metrics.Run) error {
	var facts *metrics.Facts
	if a.catalogExists() {
		cli := *a.cli
		cli.LockTimeout = duration(time.Second)
		b := *a
		b.cli = &cli
		if f, err := b.catalogFacts(); err == nil {
			facts = f
		} else {
			a.logf("warning: metrics: %v", err)
		}
	}
	return metrics.WriteTextfile(a.cli.MetricsFile, metrics.Source{
		Facts:  func() (*metrics.Facts, error) { return facts, nil },
		Verify: func() *metrics.Verify { return a.verified },
		Run:    func() *metrics.Run { return run },
	})
}
