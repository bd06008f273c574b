//go:build unix

package main

import "github.com/metactl/metactl/api"

// errorJSON is the --json shape of a failure ([api.Error]): with --json, a
// command that fails prints {"error": {...}} on stdout as well as the text
// on stderr, so a machine reading stdout always gets one JSON document.
type errorJSON = api.Error

type errorBody = api.ErrorBody

// newErrorJSON builds the error document for err, which exits with code.
func newErrorJSON(err error, msg string, code int) errorJSON { return api.NewError(err, msg, code) }
