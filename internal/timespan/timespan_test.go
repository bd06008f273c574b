package timespan_test

import (
	"testing"
	"time"

	"github.com/metactl/metactl/internal/timespan"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"86400", 24 * time.Hour, ""},
		{"0", 0, ""},
		{"90s", 90 * time.Second, ""},
		{"36h", 36 * time.Hour, ""},
		{"7d", 7 * 24 * time.Hour, ""},
		{"1w", 7 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"2m30s", 150 * time.Second, ""},
		{"500ms", 500 * time.Millisecond, ""},
		{"1.5h", 90 * time.Minute, ""},
		{"", 0, "want seconds (86400) or a duration such as 90s, 36h, 7d or 1w"},
		{"1y", 0, "want seconds (86400) or a duration such as 90s, 36h, 7d or 1w"},
		{"-5s", 0, "want seconds (86400) or a duration such as 90s, 36h, 7d or 1w"},
		{"d", 0, "want seconds (86400) or a duration such as 90s, 36h, 7d or 1w"},
		{"7 d", 0, "want seconds (86400) or a duration such as 90s, 36h, 7d or 1w"},
		{"18446744073709551615", 0, "18446744073709551615 seconds is too long"},
		{"9223372036854775807w", 0, "too long"},
		{"99999999999999999999d", 0, "\"99999999999999999999d\" is too long"},
	} {
		got, err := timespan.Parse(c.in)
		switch {
		case c.err != "" && (err == nil || err.Error() != c.err):
			t.Errorf("%q: error %v, want %q", c.in, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%q = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 90 * time.Second: "1m30s", 86400 * time.Second: "1d", 36 * time.Hour: "1d12h",
		8 * 24 * time.Hour: "8d", 30 * 24 * time.Hour: "30d", 500 * time.Millisecond: "500ms", 30 * time.Second: "30s",
	} {
		if got := timespan.Format(d); got != want {
			t.Errorf("timespan.Format(%v) = %q, want %q", d, got, want)
		}
	}
}

// FuzzParse: whatever parses is non-negative and prints in a form
// that parses back to the same duration.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"86400", "90s", "36h", "7d", "1w", "1d12h", "500ms", "1.5h", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := timespan.Parse(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("%q parsed to a negative %v", s, d)
		}
		back, err := timespan.Parse(timespan.Format(d))
		if err != nil || back != d {
			t.Fatalf("%q = %v prints as %q, which parses to %v, %v", s, d, timespan.Format(d), back, err)
		}
	})
}
