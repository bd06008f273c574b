//go:build unix

package main

import (
	"github.com/metactl/metactl/aptos"

	"context"
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
	a.record(slog.LevelInfo, "", msg, attrs...)
}

// warnf writes a warning on stderr: "metactl: warning: <message>", or
// with --log-format json a record with "level":"WARN", so a log collector
// sees every warning, not only progress and log lines.
func (a *app) warnf(format string, args ...any) {
	a.record(slog.LevelWarn, "warning: ", fmt.Sprintf(format, args...))
}

// errorLine writes the final error on stderr: "metactl: <message>", or
// with --log-format json a record with "level":"ERROR".
func (a *app) errorLine(msg string) {
	a.record(slog.LevelError, "", msg)
}

// record writes msg at level: a JSON record with --log-format json, else
// the text line "metactl: <prefix><msg>".
func (a *app) record(level slog.Level, prefix, msg string, attrs ...any) {
	if a.cli != nil && a.cli.LogFormat == "json" {
		h := slog.NewJSONHandler(a.stderr, &slog.HandlerOptions{ReplaceAttr: func(groups []string, at slog.Attr) slog.Attr {
			if at.Key == slog.TimeKey && len(groups) == 0 {
				return slog.String(slog.TimeKey, at.Value.Time().UTC().Format(time.RFC3339Nano))
			}
			return at
		}})
		slog.New(h).Log(context.Background(), level, msg, attrs...)
		return
	}
	// The last line of defence against control bytes from a name in a
	// message reaching an operator's terminal (names are aptos.Quote'd
	// where they are put in a message).
	fmt.Fprintf(a.stderr, "metactl: %s%s\n", prefix, aptos.Sanitize(msg))
}
