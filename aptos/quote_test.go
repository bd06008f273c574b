package aptos_test

import (
	"testing"

	"github.com/metactl/metactl/aptos"
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, quote, sanitize string }{
		{"metadata/x.meta", "metadata/x.meta", "metadata/x.meta"},
		{"a b.meta", "a b.meta", "a b.meta"},
		{"", "", ""},
		{"e\x1b[2J.meta", `"e\x1b[2J.meta"`, `e\x1b[2J.meta`},
		{"n\nl.meta", `"n\nl.meta"`, "n\nl.meta"},
		{"c\rr.meta", `"c\rr.meta"`, `c\rr.meta`},
		{"z\x00\x01.meta", `"z\x00\x01.meta"`, `z\x00\x01.meta`},
		{"d\x7f.meta", `"d\x7f.meta"`, `d\x7f.meta`},
		{"c1\u0085.meta", `"c1\u0085.meta"`, `c1\u0085.meta`},
		{"bad\xff\xfe.meta", `"bad\xff\xfe.meta"`, `bad\xff\xfe.meta`},
		{"é.meta", "é.meta", "é.meta"},
		{`"x".meta`, `"\"x\".meta"`, `"x".meta`},
	} {
		if got := aptos.Quote(tc.in); got != tc.quote {
			t.Errorf("Quote(%q) = %s, want %s", tc.in, got, tc.quote)
		}
		if got := aptos.Sanitize(tc.in); got != tc.sanitize {
			t.Errorf("Sanitize(%q) = %s, want %s", tc.in, got, tc.sanitize)
		}
	}
}
