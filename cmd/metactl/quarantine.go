//go:build unix

package main

import (
	"strings"

	"github.com/metactl/metactl/importer"
)

// quarantineFlag is --quarantine, on import and the drop-in compaction.
type quarantineFlag struct {
	Quarantine bool `help:"Set aside a storage file that fails to parse or validate instead of refusing everything: it is recorded in the catalog as quarantined (its error and bytes), reported, and left untouched in the storage; everything else is imported (and compacted). 'metactl verify' lists it (exit 4) until a good copy replaces it or the storage no longer has it."`
}

// warnQuarantined reports each quarantined file on stderr, with its error.
func warnQuarantined(a *app, qs []importer.Quarantined) {
	for _, q := range qs {
		a.warnf("quarantined %s (left in the storage, not imported): %s", q.Handle, strings.ReplaceAll(q.Error, "\n", "; "))
	}
}

func nonNilQ(s []importer.Quarantined) []importer.Quarantined {
	if s == nil {
		return []importer.Quarantined{}
	}
	return s
}
