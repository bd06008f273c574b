package api

import (
	"context"
	"errors"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/storage"
)

// Exit codes, the README's table.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitInvalid     = 3
	ExitVerify      = 4
	ExitBusy        = 5
	ExitNotFound    = 6
	ExitInterrupted = 130
)

// Error is the document of a failure: with --json the CLI prints it on
// stdout as well as the text on stderr, and serve answers it with every
// non-2xx status. verify's exit 4 is not a failure in this sense: its own
// document (with "ok": false and the problems) is the output.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the "error" object of an Error document.
type ErrorBody struct {
	// Code names the class of failure, one per exit code: "error",
	// "usage", "invalid_input", "verify_failed", "busy", "not_found",
	// "interrupted".
	Code string `json:"code"`
	// Message is the text printed on stderr, without the "metactl: " prefix.
	Message string `json:"message"`
	// Exit is the process's exit code.
	Exit int `json:"exit"`
	// Problems lists bad input one problem a row (invalid_input from an
	// import), with More counting those not listed.
	Problems []Problem `json:"problems,omitempty"`
	More     int       `json:"more_problems,omitempty"`
	// Holder names the lock holder of a busy catalog, when known.
	Holder *Holder `json:"holder,omitempty"`
}

// Problem is one bad input of an invalid_input error.
type Problem struct {
	Handle  string `json:"handle"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// Holder names a busy catalog's lock holder.
type Holder struct {
	PID     int    `json:"pid"`
	Command string `json:"command"`
	Started string `json:"started"`
	Host    string `json:"host,omitempty"`
}

// ErrorCodes names each exit code in ErrorBody.Code.
var ErrorCodes = map[int]string{
	ExitError:       "error",
	ExitUsage:       "usage",
	ExitInvalid:     "invalid_input",
	ExitVerify:      "verify_failed",
	ExitBusy:        "busy",
	ExitNotFound:    "not_found",
	ExitInterrupted: "interrupted",
}

// NewError builds the error document for err, which exits with code.
func NewError(err error, msg string, code int) Error {
	body := ErrorBody{Code: ErrorCodes[code], Message: msg, Exit: code}
	var input *importer.InputError
	if errors.As(err, &input) {
		for _, p := range input.Problems {
			m := ""
			if p.Err != nil {
				m = p.Err.Error()
			}
			body.Problems = append(body.Problems, Problem{Handle: p.Handle, Line: p.Line, Message: m})
		}
		body.More = input.More
	}
	var busy *catalog.BusyError
	if errors.As(err, &busy) && busy.Holder != nil {
		h := busy.Holder
		body.Holder = &Holder{PID: h.PID, Command: h.Command, Started: h.Started.UTC().Format(time.RFC3339), Host: h.Host}
	}
	return Error{body}
}

// UsageError marks an error as a usage error (exit 2): a bad flag,
// argument or query parameter.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// InvalidError marks an error as invalid input (exit 3).
type InvalidError struct{ Err error }

func (e InvalidError) Error() string { return e.Err.Error() }
func (e InvalidError) Unwrap() error { return e.Err }

// ExitCoder is an error that knows its exit code (a remote catalog's
// error document, for one).
type ExitCoder interface {
	error
	ExitCode() int
}

// ExitCode maps the library's errors to the documented exit codes, in one
// place; the CLI adds its own (usage of its flags, verify's exit 4).
func ExitCode(err error) int {
	var busy *catalog.BusyError
	var usage UsageError
	var invalid InvalidError
	var input *importer.InputError
	var coder ExitCoder
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &coder):
		return coder.ExitCode()
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, catalog.ErrCorrupt):
		return ExitError // a damaged catalog, whatever else the error wraps
	case errors.As(err, &busy), errors.Is(err, export.ErrBusy):
		return ExitBusy // another export writing the same folder is busy too
	case errors.Is(err, catalog.ErrNotFound), errors.Is(err, catalog.ErrNoCatalog):
		return ExitNotFound // a catalog, handle or generation named that does not exist
	case errors.As(err, &usage), errors.Is(err, catalog.ErrNotCatalog):
		return ExitUsage
	case errors.As(err, &invalid), errors.As(err, &input), errors.Is(err, aptos.ErrInvalid), errors.Is(err, catalog.ErrConflict),
		errors.Is(err, archive.ErrBadArchive), errors.Is(err, catalog.ErrInvalidHistory), errors.Is(err, storage.ErrNotStorage),
		errors.Is(err, catalog.ErrUndoRefused), errors.Is(err, storage.ErrBadConfig), errors.Is(err, catalog.ErrExist):
		return ExitInvalid
	}
	return ExitError
}
