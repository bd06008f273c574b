//go:build unix

package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// duration is the one duration type of every flag (--lock-timeout,
// --remove-compacted-file-after, cleanup --older-than). It accepts plain
// seconds, as Aptos's flags do ("86400"), and numbers with units: w (7
// days), d (24 hours), h, m, s, ms, in any combination ("90s", "36h", "7d",
// "1w", "1d12h"); Go's own forms ("1.5h", "500ms") work too. It prints in
// one style, days down to seconds ("7d", "1d12h", "90s" as "1m30s").
type duration time.Duration

var durationUnits = []struct {
	name string
	d    time.Duration
}{
	{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"ms", time.Millisecond}, {"m", time.Minute}, {"s", time.Second},
}

var errDuration = errors.New("want seconds (86400) or a duration such as 90s, 36h, 7d or 1w")

// parseDuration parses s as described at [duration].
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errDuration
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		if n > math.MaxInt64/uint64(time.Second) {
			return 0, fmt.Errorf("%s seconds is too long", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	if d, err := parseUnits(s); err == nil {
		return d, nil
	} else if !errors.Is(err, errDuration) {
		return 0, err
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errDuration
	}
	return d, nil
}

// parseUnits parses integers with units, such as "1w2d3h".
func parseUnits(s string) (time.Duration, error) {
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, errDuration
		}
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is too long", s)
		}
		s = s[i:]
		var unit time.Duration
		for _, u := range durationUnits {
			if strings.HasPrefix(s, u.name) && (u.name != "m" || !strings.HasPrefix(s, "ms")) {
				unit, s = u.d, s[len(u.name):]
				break
			}
		}
		if unit == 0 {
			return 0, errDuration
		}
		if n > int64(math.MaxInt64-total)/int64(unit) {
			return 0, errors.New("too long")
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}

// UnmarshalText implements encoding.TextUnmarshaler, which kong uses.
func (d *duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", b, err)
	}
	*d = duration(v)
	return nil
}

func (d duration) String() string { return formatDuration(time.Duration(d)) }

// formatDuration prints d in the one output style: whole units from days
// down to seconds, largest first ("7d", "1d12h", "1m30s", "0s"); a
// duration with a fraction of a second prints as Go prints it.
func formatDuration(d time.Duration) string {
	if d%time.Second != 0 || d < 0 {
		return d.String()
	}
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range durationUnits {
		if u.d < time.Second || u.d > 24*time.Hour {
			continue // days are the largest unit printed: 30d reads better than 4w2d
		}
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	return b.String()
}
