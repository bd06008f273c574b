package aptos

import "math"

// RestorableFrontier returns the highest version V that a restore can
// reach under Aptos's rules, that is, with transaction backups continuous
// from version 0 through V, epoch-ending backups continuous from epoch 0
// for every epoch that starts at or below V, and a state snapshot at or
// below V to start from. ok is false when there is no such V (no snapshot
// below the first gap, or no transactions); frontier is then 0.
func (v *View) RestorableFrontier() (frontier uint64, ok bool) {
	// Transactions: Aptos's continuity rule, each entry starts right after
	// the previous one.
	var next uint64
	covered := false
	for _, t := range v.Transactions {
		if t.FirstVersion != next {
			break
		}
		frontier, covered = t.LastVersion, true
		if t.LastVersion == math.MaxUint64 {
			break
		}
		next = t.LastVersion + 1
	}
	if !covered {
		return 0, false
	}
	// Epoch endings: a gap before an entry makes every target at or
	// beyond that entry's first version fail.
	var nextEpoch uint64
	for _, e := range v.EpochEndings {
		if e.FirstVersion > frontier {
			break
		}
		if e.FirstEpoch != nextEpoch {
			if e.FirstVersion == 0 {
				return 0, false
			}
			frontier = e.FirstVersion - 1
			break
		}
		nextEpoch = e.LastEpoch + 1
	}
	for _, s := range v.StateSnapshots {
		if s.Version <= frontier {
			return frontier, true
		}
	}
	return 0, false
}
