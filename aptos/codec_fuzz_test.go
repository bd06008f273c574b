package aptos_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/metactl/metactl/aptos"
)

// codecFuzzSeeds are tricky lines beyond the accept and refuse tables.
func codecFuzzSeeds() []string {
	return []string{
		`{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"\ud83d\ude00"}}`,
		`{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"\ud83d\ude0"}}`,
		`{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"\ud83d\\ude00"}}`,
		`{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"\ud83d\`,
		`{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"\ud83d\u`,
		`{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"\ud83d\ude`,
		`{"TransactionBackup":{"x":"\ud83d\\","first_version":0,"last_version":14,"manifest":"m"}}`,
		`{"TransactionBackup":{"x":{"":[{"":{}}]},"first_version":0,"last_version":14,"manifest":"m"}}`,
		`{"TransactionBackup":{"x":-0.0e+0,"first_version":0,"last_version":14,"manifest":"m"}}`,
		`{"TransactionBackup":{"x":-0.0e+,"first_version":0,"last_version":14,"manifest":"m"}}`,
		`{"TransactionBackup":[0,14,"m"],}`,
		`{"TransactionBackup":[0,14,"m"]`,
		`{"CompactionTimestamps":[18446744073709551615,{"\u0000":null,"":0}]}`,
		`{"CompactionTimestamps":{"compaction_timestamps":{"a":1,"a":2,"a":null},"file_compacted_at":1}}`,
		`{"Identity":{"id":"` + strings.Repeat("F", 64) + `","id":"` + strings.Repeat("0", 64) + `"}}`,
		`{"Identity":["` + strings.Repeat("a", 64) + `",1]}`,
		`{"EpochEndingBackup":[0,0,0,0,"` + strings.Repeat(`\"`, 10) + `"]}`,
		"{\"TransactionBackup\":[0,14,\"\u2028\u2029\x7f\"]}",
		"\ufeff{\"TransactionBackup\":[0,14,\"m\"]}",
		`{"TransactionBackup":[1844674407370955161,18446744073709551615,"m"]}`,
		`{"TransactionBackup":[18446744073709551619,0,"m"]}`,
		`{"TransactionBackup":[0,14,"m"]}` + "\r\n",
	}
}

// FuzzParseLine checks that ParseLine never panics, reports errors as
// *SyntaxError within the line, and that whatever it accepts AppendLine
// re-encodes to a line that parses to the same Metadata and re-encodes to
// the same bytes (encoding is a fixpoint); the pretty form parses back too.
func FuzzParseLine(f *testing.F) {
	for _, s := range codecSpecLines {
		f.Add([]byte(s))
	}
	for _, r := range codecAcceptRows() {
		f.Add([]byte(r.in))
	}
	for _, r := range codecRefuseRows() {
		f.Add([]byte(r.in))
	}
	for _, s := range codecFuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append([]byte(nil), b...)
		m, err := aptos.ParseLine(b)
		if !bytes.Equal(in, b) {
			t.Fatalf("ParseLine modified its input")
		}
		if err != nil {
			var se *aptos.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is %T, want *SyntaxError", err, err)
			}
			if se.Offset < 0 || se.Offset > len(b) {
				t.Fatalf("error offset %d outside the %d-byte line: %v", se.Offset, len(b), err)
			}
			if !reflect.DeepEqual(m, aptos.Metadata{}) {
				t.Fatalf("refused line returned %+v", m)
			}
			return
		}
		if !utf8.Valid(b) {
			t.Fatalf("accepted invalid UTF-8 %q", b)
		}
		e := aptos.AppendLine(nil, &m)
		m2, err := aptos.ParseLine(e)
		if err != nil {
			t.Fatalf("ParseLine(%q) ok, but its encoding %q does not parse: %v", b, e, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("ParseLine(%q) = %+v, but its encoding %q parses as %+v", b, m, e, m2)
		}
		if e2 := aptos.AppendLine(nil, &m2); !bytes.Equal(e, e2) {
			t.Fatalf("encoding is not a fixpoint: %q then %q", e, e2)
		}
		p := aptos.AppendPretty(nil, &m)
		m3, err := aptos.ParseLine(p)
		if err != nil {
			t.Fatalf("pretty form %q does not parse: %v", p, err)
		}
		if !reflect.DeepEqual(m, m3) {
			t.Fatalf("pretty form %q parses as %+v, want %+v", p, m3, m)
		}
	})
}

// FuzzSplitLines checks that SplitLines never panics, refuses exactly the
// invalid UTF-8, and that joining its lines with "\n" gives back the input
// with one "\r" dropped before every "\n" and any final "\n" dropped.
func FuzzSplitLines(f *testing.F) {
	for _, s := range []string{"", "\n", "a", "a\n", "a\r\n", "a\r", "\r", "\r\r\n", "a\n\nb", "a\r\n\r\nb\r\n", "\xff", "a\n\xe4\xb8", "é\n😀\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, err := aptos.SplitLines(b)
		if err != nil {
			var ue *aptos.UTF8Error
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is %T, want *UTF8Error", err, err)
			}
			if utf8.Valid(b) {
				t.Fatalf("refused valid UTF-8 %q", b)
			}
			if ue.Offset < 0 || ue.Offset >= len(b) || !utf8.Valid(b[:ue.Offset]) {
				t.Fatalf("offset %d is not the first invalid byte of %q", ue.Offset, b)
			}
			if r, size := utf8.DecodeRune(b[ue.Offset:]); r != utf8.RuneError || size != 1 {
				t.Fatalf("offset %d of %q starts a valid rune", ue.Offset, b)
			}
			return
		}
		if !utf8.Valid(b) {
			t.Fatalf("accepted invalid UTF-8 %q", b)
		}
		want := strings.ReplaceAll(string(b), "\r\n", "\n")
		want = strings.TrimSuffix(want, "\n")
		var joined []string
		for _, l := range lines {
			if bytes.IndexByte(l, '\n') >= 0 {
				t.Fatalf("line %q holds a newline", l)
			}
			joined = append(joined, string(l))
		}
		if got := strings.Join(joined, "\n"); got != want {
			t.Fatalf("SplitLines(%q) = %q; joined %q, want %q", b, lines, got, want)
		}
		n := bytes.Count(b, []byte{'\n'})
		if len(b) > 0 && b[len(b)-1] != '\n' {
			n++
		}
		if len(lines) != n {
			t.Fatalf("SplitLines(%q) gave %d lines, want %d", b, len(lines), n)
		}
		ms, errs := aptos.ParseFileAll(b, 0)
		if len(ms)+len(errs) != len(lines) {
			t.Fatalf("ParseFileAll: %d entries + %d errors for %d lines", len(ms), len(errs), len(lines))
		}
		if _, err := aptos.ParseFile(b); (err == nil) != (len(errs) == 0) {
			t.Fatalf("ParseFile error %v disagrees with ParseFileAll errors %v", err, errs)
		}
	})
}
