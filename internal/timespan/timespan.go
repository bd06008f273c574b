// Package timespan parses and prints durations the one way every metactl
// option and output does: plain seconds as Aptos's flags take them
// ("86400"), or numbers with units w, d, h, m, s, ms ("90s", "36h", "7d",
// "1w", "1d12h"); printed in whole units from days down to seconds ("7d",
// "1d12h", "1m30s"). The CLI's flags and the etcd catalog URL's options
// (?grace=, ?lease-ttl=) both use it.
//
// Why not prometheus/common/model.ParseDuration (issue 18, measured on
// v0.72.0): plus a plain-seconds case it parses 90s, 36h, 7d and 1w, but
// it refuses "1.5h" and "12h1d", which metactl accepts (TestParse), accepts
// "1y", which metactl refuses, and prints 7d as "1w"; so a wrapper would
// still need a time.ParseDuration fallback, a refusal of y and this Format,
// and would add a dependency to the etcd backend for no less code.
package timespan

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

var units = []struct {
	name string
	d    time.Duration
}{
	{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"ms", time.Millisecond}, {"m", time.Minute}, {"s", time.Second},
}

// ErrSyntax is the error for a string that is not a duration.
var ErrSyntax = errors.New("want seconds (86400) or a duration such as 90s, 36h, 7d or 1w")

// Parse parses a duration as every metactl option takes one: plain
// seconds, as Aptos's flags do ("86400"), or numbers with units: w (7
// days), d (24 hours), h, m, s, ms, in any combination ("90s", "36h",
// "7d", "1w", "1d12h"); Go's own forms ("1.5h", "500ms") work too.
// Negative durations are refused.
func Parse(s string) (time.Duration, error) {
	if s == "" {
		return 0, ErrSyntax
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		if n > math.MaxInt64/uint64(time.Second) {
			return 0, fmt.Errorf("%s seconds is too long", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	if d, err := parseUnits(s); err == nil {
		return d, nil
	} else if !errors.Is(err, ErrSyntax) {
		return 0, err
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, ErrSyntax
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
			return 0, ErrSyntax
		}
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is too long", s)
		}
		s = s[i:]
		var unit time.Duration
		for _, u := range units {
			if strings.HasPrefix(s, u.name) && (u.name != "m" || !strings.HasPrefix(s, "ms")) {
				unit, s = u.d, s[len(u.name):]
				break
			}
		}
		if unit == 0 {
			return 0, ErrSyntax
		}
		if n > int64(math.MaxInt64-total)/int64(unit) {
			return 0, errors.New("too long")
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}

// Format prints d in the one output style of metactl: whole units from days
// down to seconds, largest first ("7d", "1d12h", "1m30s", "0s"); a
// duration with a fraction of a second prints as Go prints it.
func Format(d time.Duration) string {
	if d%time.Second != 0 || d < 0 {
		return d.String()
	}
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range units {
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
