package archive

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"
)

func wantRecord(t testing.TB, f *File) ([]byte, error) {
	t.Helper()
	return marshalLine(&wireRecord{Handle: f.Handle, State: string(f.State), Source: f.Source,
		ImportedAt: f.ImportedAt, StateChangedAt: f.StateChangedAt, Size: len(f.Content),
		SHA256: hex.EncodeToString(f.SHA256[:])})
}

// TestAppendRecordMatchesJSON: the hand-written record line is byte for
// byte json.Marshal's, for sources that need escaping (quotes, HTML
// characters, control characters, invalid UTF-8, U+2028), times with and
// without fractions, the zero time, and a time json.Marshal refuses.
func TestAppendRecordMatchesJSON(t *testing.T) {
	at := time.Date(2024, 3, 1, 12, 30, 45, 123456789, time.UTC)
	sum := [32]byte{0xde, 0xad, 0xbe, 0xef}
	for _, tc := range []struct {
		name   string
		source string
		t      time.Time
		refuse bool
	}{
		{"plain", "local:/srv/backup", at, false},
		{"quote and backslash", `a"b\c`, at, false},
		{"html", "<a href='x'>&</a>", at, false},
		{"control", "tab\there\nnl\x00nul\x7fdel", at, false},
		{"utf8", "München ✓", at, false},
		{"invalid utf8", "bad \xff\xfe byte", at, false},
		{"line separator", "a\u2028b\u2029c", at, false},
		{"empty", "", at, false},
		{"whole seconds", "s", time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), false},
		{"trailing zeros", "s", time.Date(2024, 3, 1, 0, 0, 0, 120000000, time.UTC), false},
		{"zero time", "s", time.Time{}, false},
		{"year 10000", "s", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &File{Handle: "metadata/transaction_0-99.meta", State: Moved, Source: tc.source,
				Content: []byte("x\n"), SHA256: sum, ImportedAt: tc.t, StateChangedAt: at}
			want, werr := wantRecord(t, f)
			got, err := appendRecord([]byte("keep"), f)
			if tc.refuse {
				if err == nil || werr == nil || err.Error() != werr.Error() {
					t.Fatalf("err = %v, want json's %v", err, werr)
				}
				return
			}
			if err != nil || werr != nil {
				t.Fatalf("err = %v / %v", err, werr)
			}
			if !bytes.Equal(got, append([]byte("keep"), want...)) {
				t.Fatalf("appendRecord:\n%s\njson.Marshal:\n%s", got[4:], want)
			}
		})
	}
}

func FuzzAppendRecord(f *testing.F) {
	f.Add("metadata/a.meta", "local:/x", int64(1700000000123456789), int64(0))
	f.Add("metadata/<&>.meta", "a\"b\\\u2028\xff", int64(-1), int64(253402300800000000))
	f.Fuzz(func(t *testing.T, handle, source string, ns1, ns2 int64) {
		file := &File{Handle: handle, State: Live, Source: source, Content: []byte(source),
			ImportedAt: time.Unix(0, ns1).UTC(), StateChangedAt: time.Unix(ns2, 0).UTC()}
		want, werr := wantRecord(t, file)
		got, err := appendRecord(nil, file)
		if (err == nil) != (werr == nil) || (err == nil && !bytes.Equal(got, want)) {
			t.Fatalf("appendRecord = %q, %v; json.Marshal = %q, %v", got, err, want, werr)
		}
	})
}

// checkParseRecordFast: whatever line parseRecordFast accepts,
// encoding/json's strict decoding accepts too, with the same record.
func checkParseRecordFast(t *testing.T, line []byte) bool {
	t.Helper()
	got, ok := parseRecordFast(line, nil)
	var cache timeCache
	if cached, cok := parseRecordFast(line, &cache); cok != ok || cached != got {
		t.Fatalf("line %q: with a cache %+v %v, without %+v %v", line, cached, cok, got, ok)
	}
	if cached, cok := parseRecordFast(line, &cache); cok != ok || cached != got {
		t.Fatalf("line %q: from a warm cache %+v %v, without %+v %v", line, cached, cok, got, ok)
	}
	if !ok {
		return false
	}
	var want wireRecord
	if err := decodeStrict(line, &want); err != nil {
		t.Fatalf("parseRecordFast accepted %q, encoding/json refuses it: %v", line, err)
	}
	if got.Handle != want.Handle || got.State != want.State || got.Source != want.Source || got.Size != want.Size ||
		got.SHA256 != want.SHA256 || !got.ImportedAt.Equal(want.ImportedAt) || !got.StateChangedAt.Equal(want.StateChangedAt) {
		t.Fatalf("line %q: parseRecordFast %+v, encoding/json %+v", line, got, want)
	}
	return true
}

// TestParseRecordFastMatchesJSON: every line appendRecord writes without
// escapes takes the fast path; lines in any other valid form fall back to
// encoding/json (the fast path refuses them), and its results agree.
func TestParseRecordFastMatchesJSON(t *testing.T) {
	at := time.Date(2024, 3, 1, 12, 30, 45, 123456789, time.UTC)
	f := &File{Handle: "metadata/transaction_0-99.meta", State: Live, Source: "local:/srv",
		Content: []byte("x\n"), SHA256: [32]byte{1}, ImportedAt: at, StateChangedAt: time.Time{}}
	line, err := appendRecord(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	line = line[:len(line)-1]
	if !checkParseRecordFast(t, line) {
		t.Fatalf("fast path refused Write's own line %q", line)
	}
	for _, other := range []string{
		`{"handle":"metadata/a.meta","state":"live","source":"a\"b","imported_at":"2024-03-01T12:30:45Z","state_changed_at":"2024-03-01T12:30:45Z","size":2,"sha256":"00"}`,
		`{"state":"live","handle":"metadata/a.meta","source":"","imported_at":"2024-03-01T12:30:45Z","state_changed_at":"2024-03-01T12:30:45Z","size":2,"sha256":"00"}`,
		`{"handle":"metadata/a.meta","state":"live","source":"","imported_at":"2024-03-01T12:30:45.000Z","state_changed_at":"2024-03-01T12:30:45Z","size":2,"sha256":"00"}`,
		`{"handle":"metadata/a.meta","state":"live","source":"","imported_at":"2024-03-01T12:30:45Z","state_changed_at":"2024-03-01T12:30:45Z","size":02,"sha256":"00"}`,
		`{"handle":"metadata/a.meta","state":"live","source":"","imported_at":"2024-03-01T12:30:45Z","state_changed_at":"2024-03-01T12:30:45Z","size":2,"sha256":"00"} `,
		`{"handle":"metadata/a.meta","state":"live","source":"","imported_at":"2024-03-01T12:30:45Z","state_changed_at":"2024-03-01T12:30:45Z","size":2,"sha256":"00","x":1}`,
	} {
		if checkParseRecordFast(t, []byte(other)) {
			t.Errorf("fast path accepted a line Write never writes: %s", other)
		}
	}
}

func FuzzParseRecordFast(f *testing.F) {
	f.Add([]byte(`{"handle":"metadata/a.meta","state":"live","source":"x","imported_at":"2024-03-01T12:30:45.5Z","state_changed_at":"0001-01-01T00:00:00Z","size":12,"sha256":"ab"}`))
	f.Add([]byte(`{"handle":"h","state":"moved","source":"","imported_at":"2024-03-01T12:30:45+01:00","state_changed_at":"2024-03-01T12:30:45Z","size":0,"sha256":""}`))
	f.Fuzz(func(t *testing.T, line []byte) { checkParseRecordFast(t, line) })
}

// TestTimeCacheFollowsChanges: a cached time is reused only for the same
// text; the next different time is parsed, and a bad one is refused.
func TestTimeCacheFollowsChanges(t *testing.T) {
	var c timeCache
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"2024-03-01T12:30:45.5Z", true},
		{"2024-03-01T12:30:45.5Z", true},
		{"2024-03-01T12:30:46Z", true},
		{"2024-03-01T12:30:46.000Z", false},
		{"2024-03-01T12:30:46Z", true},
		{"2024-03-01T12:30:45.5Z", true},
	} {
		got, ok := c.parse([]byte(tc.in))
		want, err := time.Parse(time.RFC3339Nano, tc.in)
		if ok != tc.ok || (ok && (err != nil || !got.Equal(want))) {
			t.Errorf("parse(%q) = %v, %v; want %v, %v", tc.in, got, ok, want, tc.ok)
		}
	}
}

// TestAppendRecordTimeCache: records written one after another through
// one timeFormats, their times repeating, alternating and differing only
// in location or monotonic reading, are json.Marshal's each.
func TestAppendRecordTimeCache(t *testing.T) {
	a := time.Date(2024, 3, 1, 12, 30, 45, 123456789, time.UTC)
	b := time.Date(2024, 3, 1, 12, 30, 46, 0, time.UTC)
	east := a.In(time.FixedZone("east", 3600))
	now := time.Now() // with a monotonic reading
	pairs := [][2]time.Time{{a, a}, {a, a}, {a, b}, {b, a}, {east, a}, {a, east}, {now, now.Round(0)}, {now.UTC(), b}, {a, a}}
	var c timeFormats
	for i, p := range pairs {
		f := &File{Handle: "metadata/x.meta", State: Live, Source: "s", Content: []byte("x\n"), ImportedAt: p[0], StateChangedAt: p[1]}
		want, werr := wantRecord(t, f)
		got, err := c.appendRecord(nil, f)
		if err != nil || werr != nil || !bytes.Equal(got, want) {
			t.Fatalf("record %d: %s, %v\nwant %s, %v", i, got, err, want, werr)
		}
	}
}
