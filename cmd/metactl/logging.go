//go:build unix

package main

import (
	"fmt"
)

// logf writes one log line on stderr: "metactl: <message>".
func (a *app) logf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "metactl: "+format+"\n", args...)
}
