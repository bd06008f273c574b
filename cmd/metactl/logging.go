//go:build unix

package main

import (
	"fmt"
	"log/slog"
	"time"
)

// logf writes one log line on stderr: "metactl: <message>", or with
// --log-format json one JSON record {"time", "level", "msg"}.
func (a *app) logf(format string, args ...any) {
	a.logAttrs(fmt.Sprintf(format, args...))
}

// logAttrs writes msg with structured attributes (key, value pairs): the
// attributes only appear in --log-format json, the text line is msg.
func (a *app) logAttrs(msg string, attrs ...any) {
	if a.cli != nil && a.cli.LogFormat == "json" {
		h := slog.NewJSONHandler(a.stderr, &slog.HandlerOptions{ReplaceAttr: func(groups []string, at slog.Attr) slog.Attr {
			if at.Key == slog.TimeKey && len(groups) == 0 {
				return slog.String(slog.TimeKey, at.Value.Time().UTC().Format(time.RFC3339Nano))
			}
			return at
		}})
		slog.New(h).Info(msg, attrs...)
		return
	}
	fmt.Fprintf(a.stderr, "metactl: %s\n", msg)
}
