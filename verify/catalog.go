package verify

import (
	"context"
	"fmt"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

// Report is what Catalog found: the catalog's generation and size, and
// every problem and warning.
type Report struct {
	Generation uint64       `json:"generation"`
	ViewDigest aptos.Digest `json:"view_digest"`
	Entries    int          `json:"entries"`
	Files      int          `json:"files"`
	Problems   []Finding    `json:"problems"`
	Warnings   []Finding    `json:"warnings"`
}

// OK reports whether no problem was found (warnings do not count).
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Catalog checks everything at once, in one read-only transaction: the
// bbolt file (CodeCatalogDamaged), the entry index and view digest against
// the live files (CodeIndexMismatch), every file's lines
// (CodeUnparsableFile), and the view (Check). It returns an error only
// when it could not look at all; what it found is in the Report.
func Catalog(ctx context.Context, db catalog.DB) (*Report, error) {
	r := &Report{Problems: []Finding{}, Warnings: []Finding{}}
	if err := db.Check(ctx); err != nil {
		r.Problems = append(r.Problems, Finding{Code: CodeCatalogDamaged, Message: err.Error(), Where: []string{db.Location()}})
	}
	err := db.View(ctx, func(tx catalog.Tx) error {
		r.Generation, r.ViewDigest = tx.Generation(), tx.ViewDigest()
		if err := tx.StoredEntriesMatch(); err != nil {
			r.Problems = append(r.Problems, Finding{Code: CodeIndexMismatch, Message: err.Error(), Where: []string{}})
		}
		v, err := tx.View()
		if err != nil {
			return err
		}
		r.Entries = v.Len()
		var live, moved []aptos.Located
		known := map[string]bool{}
		err = tx.ForEachFile(true, func(f *catalog.File) error {
			known[f.Handle] = true
			r.Files++
			where := f.Handle
			if f.State == catalog.Moved {
				where = aptos.MovedHandle(f.Name())
			}
			lines, err := aptos.SplitLines(f.Content)
			if err != nil {
				r.Problems = append(r.Problems, Finding{Code: CodeUnparsableFile,
					Message: fmt.Sprintf("%s is not a metadata file: %v", where, err), Where: []string{where}})
				return nil
			}
			for i, line := range lines {
				l := aptos.Located{Handle: where, Line: i + 1}
				m, err := aptos.ParseLine(line)
				if err != nil {
					r.Problems = append(r.Problems, Finding{Code: CodeUnparsableFile,
						Message: fmt.Sprintf("line %d of %s does not parse: %v", i+1, where, err), Where: []string{l.Where()}})
					continue
				}
				l.Entry = m
				if f.State == catalog.Moved {
					moved = append(moved, l)
				} else {
					live = append(live, l)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		problems, warnings := Check(live, moved)
		r.Problems = append(r.Problems, problems...)
		if err := tx.QuarantinedFiles(func(q *catalog.QuarantinedFile) error {
			where := q.Handle
			if q.State == catalog.Moved {
				where = aptos.MovedHandle(aptos.BaseName(q.Handle))
			}
			r.Problems = append(r.Problems, Finding{Code: CodeQuarantined,
				Message: fmt.Sprintf("%s is quarantined (set aside by import --quarantine, left in the storage): %s", where, q.Error), Where: []string{where}})
			return nil
		}); err != nil {
			return err
		}
		r.Warnings = append(r.Warnings, warnings...)
		ts, tsHandle, err := tx.LatestTimestamps()
		if err != nil {
			return err
		}
		if ts != nil {
			for _, h := range ts.SortedHandles() {
				if !known[h] {
					r.Warnings = append(r.Warnings, Finding{Code: CodeTimestampsUnknown,
						Message: fmt.Sprintf("the latest compaction timestamps name %s, which the catalog does not hold", h), Where: []string{tsHandle + ":1"}})
				}
			}
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("verify: %w", err)
	}
	sortFindings(r.Problems)
	sortFindings(r.Warnings)
	return r, nil
}
