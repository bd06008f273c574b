//go:build unix

package main

import (
	"errors"
	"time"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
)

// errorJSON is the documented --json shape of a failure: with --json, a
// command that fails prints {"error": {...}} on stdout as well as the text
// on stderr, so a machine reading stdout always gets one JSON document.
// verify's exit 4 is not a failure in this sense: its own document (with
// "ok": false and the problems) is the output.
type errorJSON struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	// Code names the class of failure, one per exit code: "error",
	// "usage", "invalid_input", "verify_failed", "busy", "interrupted".
	Code string `json:"code"`
	// Message is the text printed on stderr, without the "metactl: " prefix.
	Message string `json:"message"`
	// Exit is the process's exit code.
	Exit int `json:"exit"`
	// Problems lists bad input one problem a row (invalid_input from an
	// import), with More counting those not listed.
	Problems []problemJSON `json:"problems,omitempty"`
	More     int           `json:"more_problems,omitempty"`
	// Holder names the lock holder of a busy catalog, when known.
	Holder *holderJSON `json:"holder,omitempty"`
}

type problemJSON struct {
	Handle  string `json:"handle"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

type holderJSON struct {
	PID     int    `json:"pid"`
	Command string `json:"command"`
	Started string `json:"started"`
	Host    string `json:"host,omitempty"`
}

// errorCodes names each exit code in errorBody.Code.
var errorCodes = map[int]string{
	exitError:       "error",
	exitUsage:       "usage",
	exitInvalid:     "invalid_input",
	exitVerify:      "verify_failed",
	exitBusy:        "busy",
	exitInterrupted: "interrupted",
}

// newErrorJSON builds the error document for err, which exits with code.
func newErrorJSON(err error, msg string, code int) errorJSON {
	body := errorBody{Code: errorCodes[code], Message: msg, Exit: code}
	var input *importer.InputError
	if errors.As(err, &input) {
		for _, p := range input.Problems {
			m := ""
			if p.Err != nil {
				m = p.Err.Error()
			}
			body.Problems = append(body.Problems, problemJSON{Handle: p.Handle, Line: p.Line, Message: m})
		}
		body.More = input.More
	}
	var busy *catalog.BusyError
	if errors.As(err, &busy) && busy.Holder != nil {
		h := busy.Holder
		body.Holder = &holderJSON{PID: h.PID, Command: h.Command, Started: h.Started.UTC().Format(time.RFC3339), Host: h.Host}
	}
	return errorJSON{body}
}
