package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/coverage"
	"github.com/metactl/metactl/verify"
)

// StatusOf reads the status document in one read-only transaction; with
// withCoverage also the view's coverage (it reads the whole view index),
// whose report it returns for a drawing.
func StatusOf(ctx context.Context, db catalog.DB, withCoverage bool) (*Status, *coverage.Report, error) {
	var out Status
	var rep *coverage.Report
	err := db.View(ctx, func(tx catalog.Tx) (err error) {
		out.StorageState, err = tx.StorageState()
		if err != nil {
			return err
		}
		out.Generation, out.ViewDigest, out.Entries = tx.Generation(), tx.ViewDigest(), tx.EntryCount()
		if id, ok := tx.Identity(); ok {
			out.Identity = id.String()
		}
		out.LiveFiles, out.MovedFiles, err = tx.CountFiles()
		if err != nil || !withCoverage {
			return err
		}
		rep, err = coverage.Read(tx, nil)
		if err == nil {
			out.Coverage = &rep.Summary
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("status: %w", err)
	}
	return &out, rep, nil
}

// FilePath is where f lives in a storage: metadata/<name> while live,
// metadata_backup/<name> once moved.
func FilePath(f *catalog.File) string {
	if f.State == catalog.Moved {
		return aptos.MovedHandle(f.Name())
	}
	return aptos.LiveHandle(f.Name())
}

// LsFileOf is f's row in the ls document.
func LsFileOf(f *catalog.File) LsFile {
	return LsFile{f.Handle, FilePath(f), f.State, f.Lines, f.Size, hex.EncodeToString(f.SHA256[:]),
		f.Source, f.ImportedAt, f.StateChangedAt}
}

// ParseState parses ls's state filter: "all" (or "") for every file,
// "live" or "moved".
func ParseState(s string) (catalog.State, error) {
	if s == "" || s == "all" {
		return 0, nil
	}
	var st catalog.State
	if err := st.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("want all, live or moved, got %q", s)
	}
	return st, nil
}

// LsOf lists the files in handle order in one read-only transaction; a
// zero state lists every file.
func LsOf(ctx context.Context, db catalog.DB, state catalog.State) (*Ls, error) {
	out := Ls{Files: []LsFile{}}
	err := db.View(ctx, func(tx catalog.Tx) error {
		out.Generation = tx.Generation()
		return tx.ForEachFile(false, func(f *catalog.File) error {
			if state == 0 || f.State == state {
				out.Files = append(out.Files, LsFileOf(f))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ls: %w", err)
	}
	return &out, nil
}

// HandleOf turns what a user typed into a catalog handle:
// metadata/x.meta, metadata_backup/x.meta or just x.meta.
func HandleOf(s string) string {
	switch {
	case strings.HasPrefix(s, "metadata/"):
		return s
	case strings.HasPrefix(s, "metadata_backup/"):
		return "metadata/" + strings.TrimPrefix(s, "metadata_backup/")
	}
	return "metadata/" + s
}

// ReadOf reads the named files in one read-only transaction. A handle the
// catalog does not hold is an error wrapping [catalog.ErrNotFound].
func ReadOf(ctx context.Context, db catalog.DB, handles []string) (*Read, error) {
	out := Read{Files: []ReadFile{}}
	err := db.View(ctx, func(tx catalog.Tx) error {
		out.Generation = tx.Generation()
		for _, arg := range handles {
			f, err := tx.File(HandleOf(arg))
			if errors.Is(err, catalog.ErrNotFound) {
				return fmt.Errorf("file %q is not in the catalog (see 'metactl ls'): %w", arg, catalog.ErrNotFound)
			}
			if err != nil {
				return err
			}
			lines, err := aptos.ParseFile(f.Content)
			if err != nil {
				// Validated when it was imported: damage since.
				return fmt.Errorf("file %q: %w: stored content does not parse: %w", f.Handle, catalog.ErrCorrupt, err)
			}
			fj := ReadFile{Handle: f.Handle, State: f.State, Entries: make([]json.RawMessage, 0, len(lines))}
			for i := range lines {
				fj.Entries = append(fj.Entries, aptos.AppendLine(nil, &lines[i]))
			}
			out.Files = append(out.Files, fj)
		}
		return nil
	})
	if err != nil {
		return nil, withOp("read", err)
	}
	return &out, nil
}

// Pretty returns the entries of the read document as `read` prints them
// without --json: each entry pretty-printed as serde_json does, one after
// another.
func (r *Read) Pretty() ([]byte, error) {
	var text []byte
	var line bytes.Buffer
	for _, f := range r.Files {
		for _, e := range f.Entries {
			// A decoded document holds the entries re-indented: compact
			// gives back the line.
			line.Reset()
			if err := json.Compact(&line, e); err != nil {
				return nil, fmt.Errorf("file %q: %w", f.Handle, err)
			}
			m, err := aptos.ParseLine(line.Bytes())
			if err != nil {
				return nil, fmt.Errorf("file %q: %w", f.Handle, err)
			}
			text = aptos.AppendPretty(text, &m)
			text = append(text, '\n')
		}
	}
	return text, nil
}

// PlanRequest is what a restore plan is asked for: Aptos's options, and
// Strict to refuse a target beyond the latest backed-up version.
type PlanRequest struct {
	TargetVersion             *uint64
	LedgerHistoryStartVersion *uint64
	ReplayAll                 bool
	Strict                    bool
}

// PlanOf plans a restore in one read-only transaction. A plan that Aptos
// would refuse or that stops short is still a document (OK false, with
// its error and the missing versions); the failure is then also the error
// returned. An error with a nil document means the catalog could not be
// read.
func PlanOf(ctx context.Context, db catalog.DB, req PlanRequest) (*Plan, error) {
	opts := aptos.RestoreOptions{
		TargetVersion:             req.TargetVersion,
		LedgerHistoryStartVersion: req.LedgerHistoryStartVersion,
		ReplayAll:                 req.ReplayAll,
	}
	plan, gen, err := verify.Plan(ctx, db, opts)
	out := Plan{Generation: gen, Warnings: []string{}, Missing: []aptos.Missing{}, Plan: plan}
	var pe *aptos.PlanError
	if err != nil && !errors.As(err, &pe) {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if pe != nil {
		out.Missing = append(out.Missing, pe.Missing...)
		err = fmt.Errorf("plan: Aptos's restore would refuse: %w", err)
	}
	if plan != nil {
		out.Missing = append(out.Missing, plan.Missing...)
		if plan.Capped {
			msg := fmt.Sprintf("target version %s is beyond the latest backed-up transaction version %d: the restore stops at %d, as Aptos's does",
				VersionText(plan.RequestedTargetVersion), plan.MaxTransactionVersion, plan.TargetVersion)
			if req.Strict && req.TargetVersion != nil {
				err = aptos.Invalidf("plan: %s (--strict)", msg)
			} else if req.TargetVersion != nil {
				out.Warnings = append(out.Warnings, msg)
			}
		}
		if !plan.Complete() && err == nil {
			err = fmt.Errorf("plan: a restore to version %d would stop short: %w", plan.TargetVersion,
				&aptos.PlanError{Err: errors.New("Aptos restores less than asked here, without an error"), Missing: plan.Missing})
		}
	}
	out.OK = err == nil
	if err != nil {
		body := NewError(err, err.Error(), ExitCode(err)).Error
		out.Error = &body
	}
	return &out, err
}

// VersionText prints a version, naming u64::MAX.
func VersionText(v uint64) string {
	if v == math.MaxUint64 {
		return "18446744073709551615 (u64::MAX)"
	}
	return strconv.FormatUint(v, 10)
}

// VerifyOf checks the catalog ([verify.Catalog]).
func VerifyOf(ctx context.Context, db catalog.DB) (*Verify, error) {
	r, err := verify.Catalog(ctx, db)
	if err != nil {
		return nil, err
	}
	return &Verify{r, r.OK()}, nil
}

// LogOf reads the journal, newest first, in one read-only transaction: at
// most limit operations, all for limit <= 0.
func LogOf(ctx context.Context, db catalog.DB, limit int) (*Log, error) {
	out := Log{Operations: []*catalog.Operation{}}
	err := db.View(ctx, func(tx catalog.Tx) error {
		out.Generation = tx.Generation()
		return tx.Operations(func(op *catalog.Operation) bool {
			out.Operations = append(out.Operations, op)
			return limit <= 0 || len(out.Operations) < limit
		})
	})
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	return &out, nil
}

// withOp names the operation in front of err, once: an error that
// already starts with it is returned as it is.
func withOp(op string, err error) error {
	if msg := err.Error(); strings.HasPrefix(msg, op+":") || strings.HasPrefix(msg, op+" ") {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}
