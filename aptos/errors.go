package aptos

import "errors"

// ErrInvalid is returned when a line, a file or a handle breaks a rule of
// the Aptos format or one that metactl adds (see [ValidateEntry]). Callers
// that apply the input (the catalog, the importer) leave everything
// unchanged when they get it.
var ErrInvalid = errors.New("invalid input")
