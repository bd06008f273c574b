//go:build unix

package main

import (
	"fmt"
	"time"

	"github.com/metactl/metactl/internal/timespan"
)

// duration is the one duration type of every flag (--lock-timeout,
// --remove-compacted-file-after, cleanup --older-than). It accepts plain
// seconds, as Aptos's flags do ("86400"), and numbers with units: w (7
// days), d (24 hours), h, m, s, ms, in any combination ("90s", "36h", "7d",
// "1w", "1d12h"); Go's own forms ("1.5h", "500ms") work too. It prints in
// one style, days down to seconds ("7d", "1d12h", "90s" as "1m30s"): see
// internal/timespan.
type duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler, which kong uses.
func (d *duration) UnmarshalText(b []byte) error {
	v, err := timespan.Parse(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", b, err)
	}
	*d = duration(v)
	return nil
}

func (d duration) String() string { return timespan.Format(time.Duration(d)) }
