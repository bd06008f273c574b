package aptos_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/metactl/metactl/aptos"
)

// The -update flag rewrites the golden files under testdata/codec. It is
// registered in init, and only if no other test file of the package has
// registered a flag of that name already.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

func codecUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// codecGolden compares got with testdata/codec/<name>, or rewrites the file
// under -update.
func codecGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "codec", name)
	if codecUpdate() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// The example lines of docs/aptos-format.md §2.3, as serde_json wrote them.
var codecSpecLines = []string{
	`{"EpochEndingBackup":{"first_epoch":0,"last_epoch":0,"first_version":0,"last_version":0,"manifest":"epoch_ending_0-.a1b2/epoch_ending.manifest"}}`,
	`{"StateSnapshotBackup":{"epoch":1,"version":12,"manifest":"state_epoch_1_ver_12.00ff/state.manifest"}}`,
	`{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"transaction_0-.3c4d/transaction.manifest"}}`,
	`{"Identity":{"id":"5f1c0a3e9b7d2c4e6f8a0b1c2d3e4f5061728394a5b6c7d8e9f0011223344556"}}`,
	`{"CompactionTimestamps":{"file_compacted_at":1700000000,"compaction_timestamps":{"metadata/identity.meta":null,"metadata/epoch_ending_0-0.meta":1700000000}}}`,
}

// codecSpecTimestampsSorted is the last spec line as AppendLine writes it:
// the map keys in byte order.
const codecSpecTimestampsSorted = `{"CompactionTimestamps":{"file_compacted_at":1700000000,"compaction_timestamps":{"metadata/epoch_ending_0-0.meta":1700000000,"metadata/identity.meta":null}}}`

const codecID = "5f1c0a3e9b7d2c4e6f8a0b1c2d3e4f5061728394a5b6c7d8e9f0011223344556"

func codecParse(t *testing.T, line string) aptos.Metadata {
	t.Helper()
	m, err := aptos.ParseLine([]byte(line))
	if err != nil {
		t.Fatalf("ParseLine(%q): %v", line, err)
	}
	return m
}

func TestCodecSpecLines(t *testing.T) {
	var golden bytes.Buffer
	for i, line := range codecSpecLines {
		m := codecParse(t, line)
		got := string(aptos.AppendLine(nil, &m))
		golden.WriteString(got + "\n")
		want := line
		if m.Kind == aptos.KindCompactionTimestamps {
			// Rust wrote the keys in HashMap order; AppendLine sorts them.
			want = codecSpecTimestampsSorted
		}
		if got != want {
			t.Errorf("line %d re-encodes as\n%s\nwant\n%s", i+1, got, want)
		}
		if enc := aptos.EncodeLine(&m); string(enc) != want+"\n" {
			t.Errorf("EncodeLine(line %d) = %q", i+1, enc)
		}
	}
	codecGolden(t, "spec_lines.golden", golden.Bytes())

	if got := codecParse(t, codecSpecLines[4]); !reflect.DeepEqual(got, codecParse(t, codecSpecTimestampsSorted)) {
		t.Errorf("map key order changes the parsed value")
	}
}

func TestCodecSpecLinesFields(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	id, _ := hex.DecodeString(codecID)
	var hv aptos.HashValue
	copy(hv[:], id)
	want := []aptos.Metadata{
		aptos.NewEpochEnding(aptos.EpochEndingBackup{Manifest: "epoch_ending_0-.a1b2/epoch_ending.manifest"}),
		aptos.NewStateSnapshot(aptos.StateSnapshotBackup{Epoch: 1, Version: 12, Manifest: "state_epoch_1_ver_12.00ff/state.manifest"}),
		aptos.NewTransaction(aptos.TransactionBackup{LastVersion: 14, Manifest: "transaction_0-.3c4d/transaction.manifest"}),
		aptos.NewIdentity(hv),
		aptos.NewCompactionTimestamps(aptos.CompactionTimestamps{
			FileCompactedAt: 1700000000,
			Timestamps: map[string]*uint64{
				"metadata/identity.meta":         nil,
				"metadata/epoch_ending_0-0.meta": u(1700000000),
			},
		}),
	}
	for i, line := range codecSpecLines {
		if got := codecParse(t, line); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("line %d parses as %+v, want %+v", i+1, got, want[i])
		}
	}
}

// codecEscapeRow is one row of escape.golden: a manifest given either as a
// Go string to encode, or as raw JSON string text to parse and re-encode.
type codecEscapeRow struct {
	desc     string
	manifest string // encode this
	input    string // or parse `"<input>"` as the manifest
}

func codecEscapeRows() []codecEscapeRow {
	var rows []codecEscapeRow
	for c := 0; c < 0x20; c++ {
		rows = append(rows, codecEscapeRow{desc: fmt.Sprintf("control byte 0x%02x", c), manifest: "a" + string(rune(c)) + "b"})
	}
	for _, r := range []codecEscapeRow{
		{desc: `quote "`, manifest: `a"b`},
		{desc: `backslash \`, manifest: `a\b`},
		{desc: "slash /", manifest: "a/b"},
		{desc: "less-than <", manifest: "a<b"},
		{desc: "greater-than >", manifest: "a>b"},
		{desc: "ampersand &", manifest: "a&b"},
		{desc: "apostrophe '", manifest: "a'b"},
		{desc: "DEL 0x7f", manifest: "a\x7fb"},
		{desc: "U+0080 first 2-byte rune", manifest: "a\u0080b"},
		{desc: "U+00E9 e-acute", manifest: "aéb"},
		{desc: "U+2028 line separator", manifest: "a\u2028b"},
		{desc: "U+2029 paragraph separator", manifest: "a\u2029b"},
		{desc: "U+4E2D CJK", manifest: "a中b"},
		{desc: "U+FFFD replacement char", manifest: "a\ufffdb"},
		{desc: "U+1F600 emoji (4 bytes raw)", manifest: "a😀b"},
		{desc: "U+10FFFF last rune", manifest: "a\U0010ffffb"},
		{desc: "invalid utf-8 byte 0xff (Go string only) becomes U+FFFD", manifest: "a\xffb"},
		{desc: "empty string", manifest: ""},
		{desc: `input \ud83d\ude00 surrogate pair`, input: `a\ud83d\ude00b`},
		{desc: `input \uD83D\uDE00 uppercase surrogate pair`, input: `a\uD83D\uDE00b`},
		{desc: `input \udbff\udfff last rune`, input: `a\udbff\udfffb`},
		{desc: `input \u0041 plain ASCII escape`, input: `a\u0041b`},
		{desc: `input \u001F uppercase control escape`, input: `a\u001Fb`},
		{desc: `input \u0000 NUL escape`, input: `a\u0000b`},
		{desc: `input \/ escaped slash`, input: `a\/b`},
		{desc: `input \b\f\n\r\t\"\\ short escapes`, input: `\b\f\n\r\t\"\\`},
		{desc: `input \u00e9 escaped e-acute`, input: `a\u00e9b`},
		{desc: `input \u2028 escaped line separator`, input: `a\u2028b`},
		{desc: `input \u007f escaped DEL`, input: `a\u007fb`},
		{desc: `input raw emoji`, input: "a😀b"},
	} {
		rows = append(rows, r)
	}
	return rows
}

func TestCodecEscapeGolden(t *testing.T) {
	var golden bytes.Buffer
	for _, r := range codecEscapeRows() {
		var m aptos.Metadata
		if r.input != "" {
			m = codecParse(t, `{"TransactionBackup":{"first_version":1,"last_version":2,"manifest":"`+r.input+`"}}`)
		} else {
			m = aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: 1, LastVersion: 2, Manifest: r.manifest})
		}
		line := aptos.AppendLine(nil, &m)
		fmt.Fprintf(&golden, "%s -> %s\n", r.desc, line)

		// The encoded line parses back to the same manifest (invalid
		// UTF-8 aside, which a Rust String cannot hold).
		back, err := aptos.ParseLine(line)
		if err != nil {
			t.Errorf("%s: re-parse %s: %v", r.desc, line, err)
			continue
		}
		want := m.Transaction.Manifest
		if r.manifest == "a\xffb" {
			want = "a\ufffdb"
		}
		if back.Transaction.Manifest != want {
			t.Errorf("%s: round trip gives %q, want %q", r.desc, back.Transaction.Manifest, want)
		}
	}
	codecGolden(t, "escape.golden", golden.Bytes())
}

// codecOK is a line ParseLine accepts; want is its canonical re-encoding.
type codecOK struct {
	name string
	in   string
	want string
}

func codecAcceptRows() []codecOK {
	const txn = `{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"m"}}`
	const ct = `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{"a":null,"b":5}}}`
	const max = "18446744073709551615"
	deep := strings.Repeat("[", 300) + strings.Repeat("]", 300)
	deepObj := strings.Repeat(`{"a":`, 300) + "1" + strings.Repeat("}", 300)
	return []codecOK{
		{"canonical", txn, txn},
		{"key order reversed", `{"TransactionBackup":{"manifest":"m","last_version":14,"first_version":0}}`, txn},
		{"key order mixed epoch ending", `{"EpochEndingBackup":{"last_version":4,"manifest":"e","first_epoch":1,"last_epoch":2,"first_version":3}}`,
			`{"EpochEndingBackup":{"first_epoch":1,"last_epoch":2,"first_version":3,"last_version":4,"manifest":"e"}}`},
		{"key order state snapshot", `{"StateSnapshotBackup":{"manifest":"s","version":12,"epoch":1}}`,
			`{"StateSnapshotBackup":{"epoch":1,"version":12,"manifest":"s"}}`},
		{"key order timestamps", `{"CompactionTimestamps":{"compaction_timestamps":{"b":5,"a":null},"file_compacted_at":7}}`, ct},
		{"spaces between all tokens", ` { "TransactionBackup" : { "first_version" : 0 , "last_version" : 14 , "manifest" : "m" } } `, txn},
		{"trailing CR", txn + "\r", txn},
		{"CRs and tabs and LFs as whitespace", "\t{\r\n\"TransactionBackup\"\t:\n{\"first_version\":0,\r\"last_version\":14,\"manifest\":\"m\"}\r}\r\r", txn},
		{"unknown scalar fields", `{"TransactionBackup":{"x":1,"first_version":0,"y":"z","last_version":14,"t":true,"f":false,"n":null,"neg":-1.5e-3,"manifest":"m"}}`, txn},
		{"unknown nested object and array", `{"TransactionBackup":{"first_version":0,"extra":{"a":[1,{"b":[[],{}]},"c"],"d":{}},"last_version":14,"more":[[1,2],[3,[4,{"e":null}]]],"manifest":"m"}}`, txn},
		{"unknown field repeated", `{"TransactionBackup":{"x":1,"x":2,"first_version":0,"last_version":14,"manifest":"m"}}`, txn},
		{"unknown field named like another struct's field", `{"TransactionBackup":{"epoch":1,"id":"zz","first_version":0,"last_version":14,"manifest":"m"}}`, txn},
		{"unknown field with lone surrogate (ignored strings are not checked)", `{"TransactionBackup":{"x":"\ud800","y":"\udc00x","first_version":0,"last_version":14,"manifest":"m"}}`, txn},
		{"unknown field key with escapes", `{"TransactionBackup":{"\u0078\n":1,"first_version":0,"last_version":14,"manifest":"m"}}`, txn},
		{"unknown field nested 300 arrays deep", `{"TransactionBackup":{"x":` + deep + `,"first_version":0,"last_version":14,"manifest":"m"}}`, txn},
		{"unknown field nested 300 objects deep", `{"TransactionBackup":{"x":` + deepObj + `,"first_version":0,"last_version":14,"manifest":"m"}}`, txn},
		{"unknown field in identity", `{"Identity":{"id":"` + codecID + `","comment":"hi"}}`, `{"Identity":{"id":"` + codecID + `"}}`},
		{"unknown field in timestamps", `{"CompactionTimestamps":{"v":2,"file_compacted_at":7,"compaction_timestamps":{"a":null,"b":5}}}`, ct},
		{"escaped field name", `{"TransactionBackup":{"first_version":0,"last_version":14,"manif\u0065st":"m"}}`, txn},
		{"escaped variant name", `{"Transaction\u0042ackup":{"first_version":0,"last_version":14,"manifest":"m"}}`, txn},
		{"array form transaction", `{"TransactionBackup":[0,14,"m"]}`, txn},
		{"array form with whitespace", `{"TransactionBackup":[ 0 , 14 , "m" ] }`, txn},
		{"array form epoch ending", `{"EpochEndingBackup":[1,2,3,4,"e"]}`,
			`{"EpochEndingBackup":{"first_epoch":1,"last_epoch":2,"first_version":3,"last_version":4,"manifest":"e"}}`},
		{"array form state snapshot", `{"StateSnapshotBackup":[1,12,"s"]}`, `{"StateSnapshotBackup":{"epoch":1,"version":12,"manifest":"s"}}`},
		{"array form identity", `{"Identity":["` + codecID + `"]}`, `{"Identity":{"id":"` + codecID + `"}}`},
		{"array form timestamps", `{"CompactionTimestamps":[7,{"b":5,"a":null}]}`, ct},
		{"duplicate map key last wins (value)", `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{"a":1,"b":5,"a":null}}}`, ct},
		{"duplicate map key last wins (null)", `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{"a":null,"b":null,"b":5}}}`, ct},
		{"duplicate map key via escape", `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{"a":3,"b":5,"\u0061":null}}}`, ct},
		{"empty timestamps map", `{"CompactionTimestamps":{"file_compacted_at":0,"compaction_timestamps":{}}}`,
			`{"CompactionTimestamps":{"file_compacted_at":0,"compaction_timestamps":{}}}`},
		{"uppercase hex id", `{"Identity":{"id":"` + strings.ToUpper(codecID) + `"}}`, `{"Identity":{"id":"` + codecID + `"}}`},
		{"mixed case hex id", `{"Identity":{"id":"5F1c0A3e9B7d2C4e6F8a0B1c2D3e4F5061728394a5B6c7D8e9F0011223344556"}}`, `{"Identity":{"id":"` + codecID + `"}}`},
		{"escaped hex id", `{"Identity":{"id":"\u0035f1c0a3e9b7d2c4e6f8a0b1c2d3e4f5061728394a5b6c7d8e9f0011223344556"}}`, `{"Identity":{"id":"` + codecID + `"}}`},
		{"u64 max everywhere", `{"EpochEndingBackup":{"first_epoch":` + max + `,"last_epoch":` + max + `,"first_version":` + max + `,"last_version":` + max + `,"manifest":""}}`,
			`{"EpochEndingBackup":{"first_epoch":` + max + `,"last_epoch":` + max + `,"first_version":` + max + `,"last_version":` + max + `,"manifest":""}}`},
		{"u64 max map value", `{"CompactionTimestamps":{"file_compacted_at":` + max + `,"compaction_timestamps":{"a":` + max + `}}}`,
			`{"CompactionTimestamps":{"file_compacted_at":` + max + `,"compaction_timestamps":{"a":` + max + `}}}`},
		{"u64 max minus one", `{"TransactionBackup":{"first_version":18446744073709551614,"last_version":1844674407370955161,"manifest":"m"}}`,
			`{"TransactionBackup":{"first_version":18446744073709551614,"last_version":1844674407370955161,"manifest":"m"}}`},
		{"zero", `{"StateSnapshotBackup":{"epoch":0,"version":0,"manifest":""}}`, `{"StateSnapshotBackup":{"epoch":0,"version":0,"manifest":""}}`},
		{"escaped manifest", `{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"\u006d"}}`, txn},
		{"manifest with escaped controls", `{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"\u000b\u001F\t"}}`,
			`{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"\u000b\u001f\t"}}`},
	}
}

func TestParseLineAccept(t *testing.T) {
	for _, tc := range codecAcceptRows() {
		t.Run(tc.name, func(t *testing.T) {
			m := codecParse(t, tc.in)
			if got := string(aptos.AppendLine(nil, &m)); got != tc.want {
				t.Errorf("re-encoded as\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestParseLineValues(t *testing.T) {
	m := codecParse(t, `{"Identity":{"id":"`+strings.ToUpper(codecID)+`"}}`)
	if m.Kind != aptos.KindIdentity || m.Identity.ID.String() != codecID {
		t.Errorf("uppercase id parses as %v %s", m.Kind, m.Identity.ID)
	}
	m = codecParse(t, `{"TransactionBackup":[18446744073709551615,18446744073709551615,"m"]}`)
	if m.Transaction.FirstVersion != ^uint64(0) || m.Transaction.LastVersion != ^uint64(0) {
		t.Errorf("u64 max parses as %d-%d", m.Transaction.FirstVersion, m.Transaction.LastVersion)
	}
	m = codecParse(t, `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{"a":1,"b":null,"a":2,"b":3,"c":4,"c":null}}}`)
	ts := m.Timestamps.Timestamps
	if len(ts) != 3 || ts["a"] == nil || *ts["a"] != 2 || ts["b"] == nil || *ts["b"] != 3 || ts["c"] != nil {
		t.Errorf("duplicate keys: got %v", ts)
	}
	m = codecParse(t, `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{}}}`)
	if m.Timestamps.Timestamps == nil || len(m.Timestamps.Timestamps) != 0 {
		t.Errorf("empty map parses as %#v, want a non-nil empty map", m.Timestamps.Timestamps)
	}
	m = codecParse(t, `{"TransactionBackup":{"first_version":1,"last_version":2,"manifest":"a\ud83d\ude00\u00e9\/b"}}`)
	if m.Transaction.Manifest != "a😀é/b" {
		t.Errorf("escapes decode as %q", m.Transaction.Manifest)
	}
	// Only the named variant's payload is set.
	if m.EpochEnding != (aptos.EpochEndingBackup{}) || m.StateSnapshot != (aptos.StateSnapshotBackup{}) ||
		m.Identity != (aptos.Identity{}) || m.Timestamps.Timestamps != nil {
		t.Errorf("other payloads are not zero: %+v", m)
	}
}

// codecBad is a line ParseLine refuses, with the exact error text.
type codecBad struct {
	name string
	in   string
	want string
}

func codecRefuseRows() []codecBad {
	const unknown = "expected one of `EpochEndingBackup`, `StateSnapshotBackup`, `TransactionBackup`, `Identity`, `CompactionTimestamps`"
	// t builds a TransactionBackup line whose payload is p.
	t := func(p string) string { return `{"TransactionBackup":` + p + `}` }
	// f builds a TransactionBackup line with first_version given as v; v
	// starts at column 39.
	f := func(v string) string { return t(`{"first_version":` + v + `,"last_version":14,"manifest":"m"}`) }
	// mf builds a TransactionBackup line with manifest given as v; v
	// starts at column 70.
	mf := func(v string) string { return t(`{"first_version":0,"last_version":14,"manifest":` + v + `}`) }
	// ct builds a CompactionTimestamps line with map value v for key "a";
	// v starts at column 77.
	ct := func(v string) string {
		return `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{"a":` + v + `}}}`
	}
	// id builds an Identity line with id v; v starts at column 19.
	id := func(v string) string { return `{"Identity":{"id":` + v + `}}` }
	// x builds a TransactionBackup line with an unknown field "x" holding
	// v; v starts at column 27.
	x := func(v string) string { return t(`{"x":` + v + `,"first_version":0,"last_version":14,"manifest":"m"}`) }
	return []codecBad{
		// Empty input, wrong top-level value.
		{"empty line", ``, "column 1: EOF while parsing a value"},
		{"whitespace only", " \t\r", "column 4: EOF while parsing a value"},
		{"empty object", `{}`, "column 2: expected exactly one variant key"},
		{"empty object with spaces", `{ }`, "column 3: expected exactly one variant key"},
		{"bare string", `"Identity"`, "column 1: invalid type: string, expected enum Metadata"},
		{"bare array", `[]`, "column 1: invalid type: sequence, expected enum Metadata"},
		{"bare number", `5`, "column 1: invalid type: integer, expected enum Metadata"},
		{"bare null", `null`, "column 1: invalid type: null, expected enum Metadata"},
		{"bare true", `true`, "column 1: invalid type: boolean, expected enum Metadata"},
		{"bare garbage", `x`, "column 1: expected value"},
		{"bare bad literal", `nul`, "column 4: EOF while parsing a value"},
		{"bare bad literal 2", `nulL`, "column 1: expected ident"},
		{"open brace only", `{`, "column 2: EOF while parsing a value"},
		{"non-string variant key", `{1:{}}`, "column 2: key must be a string"},
		{"second variant key", `{"Identity":{"id":"` + codecID + `"},"Identity":{"id":"` + codecID + `"}}`, "column 86: expected exactly one variant key"},
		{"second key of other variant", t(`[0,14,"m"],"Identity":{}`), "column 32: expected exactly one variant key"},
		{"junk after payload", t(`[0,14,"m"] x`), "column 33: expected `}`"},
		{"unclosed outer object", `{"TransactionBackup":[0,14,"m"]`, "column 32: EOF while parsing an object"},
		{"missing colon after variant", `{"TransactionBackup" [0,14,"m"]}`, "column 22: expected `:`"},
		{"EOF after variant", `{"TransactionBackup"`, "column 21: EOF while parsing an object"},
		{"EOF after colon", `{"TransactionBackup":`, "column 22: EOF while parsing a value"},
		{"EOF in variant name", `{"Transac`, "column 10: EOF while parsing a string"},

		// Variants.
		{"unknown variant", `{"Foo":{}}`, "column 2: unknown variant `Foo`, " + unknown},
		{"draft EpochEndingBackupRange", `{"EpochEndingBackupRange":{"backup_metas":[]}}`, "column 2: unknown variant `EpochEndingBackupRange`, " + unknown},
		{"draft StateSnapshotBackupRange", `{"StateSnapshotBackupRange":{"backup_metas":[]}}`, "column 2: unknown variant `StateSnapshotBackupRange`, " + unknown},
		{"draft TransactionBackupRange", `{"TransactionBackupRange":{"backup_metas":[]}}`, "column 2: unknown variant `TransactionBackupRange`, " + unknown},
		{"variant lowercase first letter", `{"transactionBackup":[0,14,"m"]}`, "column 2: unknown variant `transactionBackup`, " + unknown},
		{"variant all caps", `{"IDENTITY":{"id":"` + codecID + `"}}`, "column 2: unknown variant `IDENTITY`, " + unknown},
		{"variant with trailing space", `{"Identity ":{"id":"` + codecID + `"}}`, "column 2: unknown variant `Identity `, " + unknown},
		{"empty variant name", `{"":{}}`, "column 2: unknown variant ``, " + unknown},
		{"variant name with escaped newline", `{"Iden\ntity":{}}`, "column 2: unknown variant `Iden\\ntity`, " + unknown},
		{"variant name with raw unicode", `{"Idéntity":{}}`, "column 2: unknown variant `Idéntity`, " + unknown},
		{"long variant name", `{"` + strings.Repeat("x", 63) + `é":{}}`, "column 2: unknown variant `" + strings.Repeat("x", 63) + "...`, " + unknown},
		{"variant name of 64 bytes", `{"` + strings.Repeat("x", 64) + `":{}}`, "column 2: unknown variant `" + strings.Repeat("x", 64) + "`, " + unknown},
		{"variant name with lone surrogate", `{"Identity\ud800":{}}`, "column 11: lone surrogate in hex escape"},

		// Payload shape.
		{"payload integer", t(`5`), "column 22: invalid type: integer, expected struct TransactionBackupMeta"},
		{"payload null", t(`null`), "column 22: invalid type: null, expected struct TransactionBackupMeta"},
		{"payload string", t(`"x"`), "column 22: invalid type: string, expected struct TransactionBackupMeta"},
		{"identity payload string", `{"Identity":"` + codecID + `"}`, "column 13: invalid type: string, expected struct IdentityMeta"},
		{"missing field manifest", t(`{"first_version":0,"last_version":14}`), "column 58: missing field `manifest`"},
		{"missing all fields", t(`{}`), "column 23: missing field `first_version`"},
		{"missing field after unknown", t(`{"x":1,"first_version":0,"manifest":"m"}`), "column 61: missing field `last_version`"},
		{"missing identity id", `{"Identity":{}}`, "column 14: missing field `id`"},
		{"missing compaction map", `{"CompactionTimestamps":{"file_compacted_at":7}}`, "column 47: missing field `compaction_timestamps`"},
		{"duplicate field", t(`{"first_version":0,"first_version":0,"last_version":14,"manifest":"m"}`), "column 41: duplicate field `first_version`"},
		{"duplicate field epoch", `{"StateSnapshotBackup":{"epoch":1,"version":2,"epoch":1,"manifest":"m"}}`, "column 47: duplicate field `epoch`"},
		{"duplicate field via escape", mf(`"m","m\u0061nifest":"n"`), "column 74: duplicate field `manifest`"},
		{"duplicate field before bad colon", t(`{"first_version":0,"first_version"}`), "column 41: duplicate field `first_version`"},
		{"payload key not a string", t(`{first_version:0}`), "column 23: key must be a string"},
		{"payload missing colon", t(`{"first_version" 0}`), "column 39: expected `:`"},
		{"payload missing comma", t(`{"first_version":0 "last_version":14,"manifest":"m"}`), "column 41: expected `,` or `}`"},
		{"payload trailing comma", mf(`"m",`), "column 74: trailing comma"},
		{"payload EOF after comma", `{"TransactionBackup":{"first_version":0,`, "column 41: EOF while parsing a value"},
		{"payload EOF in object", `{"TransactionBackup":{"first_version":0`, "column 40: EOF while parsing an object"},
		{"payload EOF at value", `{"TransactionBackup":{"first_version":`, "column 39: first_version: EOF while parsing a value"},

		// Array form.
		{"array too short", t(`[0,14]`), "column 27: invalid length 2, expected struct TransactionBackupMeta with 3 elements"},
		{"array empty", t(`[]`), "column 23: invalid length 0, expected struct TransactionBackupMeta with 3 elements"},
		{"array identity empty", `{"Identity":[]}`, "column 14: invalid length 0, expected struct IdentityMeta with 1 element"},
		{"array too long", t(`[0,14,"m",1]`), "column 31: invalid length: too many elements, expected struct TransactionBackupMeta with 3 elements"},
		{"array trailing comma", t(`[0,14,"m",]`), "column 32: trailing comma"},
		{"array trailing comma inside", t(`[0,14,]`), "column 28: trailing comma"},
		{"array missing comma", t(`[0 14,"m"]`), "column 25: expected `,` or `]`"},
		{"array junk at end", t(`[0,14,"m" x]`), "column 32: expected `,` or `]`"},
		{"array wrong element type", t(`[0,"14","m"]`), "column 25: last_version: invalid type: string, expected u64"},
		{"array EOF", `{"TransactionBackup":[0,14`, "column 27: EOF while parsing a list"},
		{"array EOF after comma", `{"TransactionBackup":[0,`, "column 25: EOF while parsing a value"},
		{"array timestamps map as array", `{"CompactionTimestamps":[7,[]]}`, "column 28: compaction_timestamps: invalid type: sequence, expected a map"},
		{"array timestamps too short", `{"CompactionTimestamps":[7]}`, "column 27: invalid length 1, expected struct CompactionTimestampsMeta with 2 elements"},

		// Numbers.
		{"negative", f(`-1`), "column 39: first_version: invalid value: negative integer, expected u64"},
		{"negative zero", f(`-0`), "column 39: first_version: invalid value: negative integer, expected u64"},
		{"float", f(`1.0`), "column 39: first_version: invalid type: floating point, expected u64"},
		{"exponent", f(`1e2`), "column 39: first_version: invalid type: floating point, expected u64"},
		{"uppercase exponent", f(`1E2`), "column 39: first_version: invalid type: floating point, expected u64"},
		{"zero float", f(`0.0`), "column 39: first_version: invalid type: floating point, expected u64"},
		{"negative float", f(`-1.5`), "column 39: first_version: invalid type: floating point, expected u64"},
		{"quoted number", f(`"0"`), "column 39: first_version: invalid type: string, expected u64"},
		{"u64 max plus one", f(`18446744073709551616`), "column 39: first_version: number out of range"},
		{"u64 max times ten", f(`184467440737095516150`), "column 39: first_version: number out of range"},
		{"huge integer", f(strings.Repeat("9", 40)), "column 39: first_version: number out of range"},
		{"huge float", f(strings.Repeat("9", 40) + ".5"), "column 39: first_version: invalid type: floating point, expected u64"},
		{"leading zero", f(`01`), "column 40: first_version: invalid number"},
		{"leading zeros", f(`00`), "column 40: first_version: invalid number"},
		{"plus sign", f(`+1`), "column 39: first_version: expected value"},
		{"leading dot", f(`.5`), "column 39: first_version: expected value"},
		{"trailing dot", f(`1.`), "column 41: first_version: invalid number"},
		{"dot exponent", f(`1.e5`), "column 41: first_version: invalid number"},
		{"bare exponent", f(`1e`), "column 41: first_version: invalid number"},
		{"exponent sign only", f(`1e+`), "column 42: first_version: invalid number"},
		{"minus only", f(`-`), "column 40: first_version: invalid number"},
		{"minus letter", f(`-a`), "column 40: first_version: invalid number"},
		{"hex number", f(`0x10`), "column 40: expected `,` or `}`"},
		{"NaN", f(`NaN`), "column 39: first_version: expected value"},
		{"Infinity", f(`Infinity`), "column 39: first_version: expected value"},
		{"number null", f(`null`), "column 39: first_version: invalid type: null, expected u64"},
		{"number true", f(`true`), "column 39: first_version: invalid type: boolean, expected u64"},
		{"number object", f(`{}`), "column 39: first_version: invalid type: map, expected u64"},
		{"number array", f(`[0]`), "column 39: first_version: invalid type: sequence, expected u64"},
		{"number bad literal", f(`nan`), "column 39: first_version: expected ident"},

		// Strings.
		{"null manifest", mf(`null`), "column 70: manifest: invalid type: null, expected a string"},
		{"number manifest", mf(`5`), "column 70: manifest: invalid type: integer, expected a string"},
		{"negative manifest", mf(`-5`), "column 70: manifest: invalid type: negative integer, expected a string"},
		{"array manifest", mf(`["m"]`), "column 70: manifest: invalid type: sequence, expected a string"},
		{"unterminated manifest", `{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"m`, "column 72: manifest: EOF while parsing a string"},
		{"raw NUL in string", mf("\"a\x00b\""), "column 72: manifest: control character (\\u0000-\\u001F) found while parsing a string"},
		{"raw tab in string", mf("\"a\tb\""), "column 72: manifest: control character (\\u0000-\\u001F) found while parsing a string"},
		{"raw LF in string", mf("\"a\nb\""), "column 72: manifest: control character (\\u0000-\\u001F) found while parsing a string"},
		{"raw 0x1f after escape", mf("\"\\n\x1f\""), "column 73: manifest: control character (\\u0000-\\u001F) found while parsing a string"},
		{"invalid escape", mf(`"a\qb"`), "column 72: manifest: invalid escape"},
		{"invalid escape U", mf(`"\U0041"`), "column 71: manifest: invalid escape"},
		{"bad hex digit", mf(`"\u12G4"`), "column 71: manifest: invalid escape"},
		{"short hex escape", mf(`"\u12"`), "column 71: manifest: invalid escape"},
		{"EOF in hex escape", `{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"\u12`, "column 75: manifest: EOF while parsing a string"},
		{"EOF after backslash", `{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"\`, "column 72: manifest: EOF while parsing a string"},
		{"lone high surrogate", mf(`"\ud800"`), "column 71: manifest: lone surrogate in hex escape"},
		{"lone high surrogate then text", mf(`"\ud800abc"`), "column 71: manifest: lone surrogate in hex escape"},
		{"lone low surrogate", mf(`"\udc00"`), "column 71: manifest: lone surrogate in hex escape"},
		{"high surrogate then non-low", mf(`"\ud800\u0041"`), "column 71: manifest: lone surrogate in hex escape"},
		{"high surrogate then high", mf(`"\ud800\ud800"`), "column 71: manifest: lone surrogate in hex escape"},
		{"high surrogate then short escape", mf(`"\ud800\n"`), "column 71: manifest: lone surrogate in hex escape"},
		{"reversed surrogate pair", mf(`"\ude00\ud83d"`), "column 71: manifest: lone surrogate in hex escape"},
		{"high surrogate at EOF", `{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"\ud800`, "column 77: manifest: EOF while parsing a string"},
		{"single-quoted string", mf(`'m'`), "column 70: manifest: expected value"},

		// Invalid UTF-8.
		{"invalid utf-8 in manifest", mf("\"a\xffb\""), "column 72: invalid utf-8"},
		{"invalid utf-8 outside strings", "\xfe" + t(`[0,14,"m"]`), "column 1: invalid utf-8"},
		{"truncated utf-8 sequence", mf("\"a\xe4\xb8\""), "column 72: invalid utf-8"},
		{"overlong utf-8", mf("\"\xc0\xaf\""), "column 71: invalid utf-8"},
		{"utf-8 encoded surrogate", mf("\"\xed\xa0\x80\""), "column 71: invalid utf-8"},
		{"invalid utf-8 in ignored field", x("\"\x80\""), "column 28: invalid utf-8"},

		// Identity.
		{"id 63 digits", id(`"` + codecID[:63] + `"`), "column 19: id: invalid value: want 64 hex digits"},
		{"id 65 digits", id(`"` + codecID + `0"`), "column 19: id: invalid value: want 64 hex digits"},
		{"id 0x prefix", id(`"0x` + codecID[2:] + `"`), "column 19: id: invalid value: want 64 hex digits"},
		{"id non-hex digit", id(`"g` + codecID[1:] + `"`), "column 19: id: invalid value: want 64 hex digits"},
		{"id with space", id(`" ` + codecID[1:] + `"`), "column 19: id: invalid value: want 64 hex digits"},
		{"id empty", id(`""`), "column 19: id: invalid value: want 64 hex digits"},
		{"id multibyte", id(`"é` + codecID[2:] + `"`), "column 19: id: invalid value: want 64 hex digits"},
		{"id number", id(`5`), "column 19: id: invalid type: integer, expected a string"},
		{"id null", id(`null`), "column 19: id: invalid type: null, expected a string"},
		{"id bytes array", id(`[1,2]`), "column 19: id: invalid type: sequence, expected a string"},

		// compaction_timestamps.
		{"map value string", ct(`"1"`), "column 77: compaction_timestamps[\"a\"]: invalid type: string, expected u64 or null"},
		{"map value negative", ct(`-1`), "column 77: compaction_timestamps[\"a\"]: invalid value: negative integer, expected u64 or null"},
		{"map value float", ct(`1.5`), "column 77: compaction_timestamps[\"a\"]: invalid type: floating point, expected u64 or null"},
		{"map value too big", ct(`18446744073709551616`), "column 77: compaction_timestamps[\"a\"]: number out of range"},
		{"map value bad null", `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{"a":nul`, "column 80: compaction_timestamps[\"a\"]: EOF while parsing a value"},
		{"map value bad null 2", ct(`nulx`), "column 77: compaction_timestamps[\"a\"]: expected ident"},
		{"map value true", ct(`true`), "column 77: compaction_timestamps[\"a\"]: invalid type: boolean, expected u64 or null"},
		{"map value object", ct(`{}`), "column 77: compaction_timestamps[\"a\"]: invalid type: map, expected u64 or null"},
		{"map value missing", `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{"a":}}}`, "column 77: compaction_timestamps[\"a\"]: expected value"},
		{"map key not string", `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{1:2}}}`, "column 73: compaction_timestamps: key must be a string"},
		{"map trailing comma", `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{"a":1,}}}`, "column 79: compaction_timestamps: trailing comma"},
		{"map missing colon", `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{"a" 1}}}`, "column 77: compaction_timestamps: expected `:`"},
		{"map missing comma", `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{"a":1 "b":2}}}`, "column 79: compaction_timestamps: expected `,` or `}`"},
		{"map is array", `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":[]}}`, "column 72: compaction_timestamps: invalid type: sequence, expected a map"},
		{"map is null", `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":null}}`, "column 72: compaction_timestamps: invalid type: null, expected a map"},
		{"map EOF", `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{"a":1`, "column 78: compaction_timestamps: EOF while parsing an object"},
		{"map key lone surrogate", `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{"\udfff":1}}}`, "column 74: compaction_timestamps: lone surrogate in hex escape"},
		{"duplicate map field", `{"CompactionTimestamps":{"file_compacted_at":7,"compaction_timestamps":{},"compaction_timestamps":{}}}`, "column 75: duplicate field `compaction_timestamps`"},

		// Unknown fields must still be valid JSON.
		{"unknown value trailing comma in array", x(`[1,]`), "column 30: x: trailing comma"},
		{"unknown value trailing comma in object", x(`{"a":1,}`), "column 34: x: trailing comma"},
		{"unknown value non-string key", x(`{1:2}`), "column 28: x: key must be a string"},
		{"unknown value missing colon", x(`{"a" 1}`), "column 32: x: expected `:`"},
		{"unknown value missing comma in array", x(`[1 2]`), "column 30: x: expected `,` or `]`"},
		{"unknown value missing comma in object", x(`{"a":1 "b":2}`), "column 34: x: expected `,` or `}`"},
		{"unknown value mismatched brackets", x(`[1}`), "column 29: x: expected `,` or `]`"},
		{"unknown value bad literal", x(`tru`), "column 27: x: expected ident"},
		{"unknown value leading zero", x(`01`), "column 28: x: invalid number"},
		{"unknown value bad escape", x(`"\q"`), "column 28: x: invalid escape"},
		{"unknown value bad hex escape", x(`"\u00zz"`), "column 28: x: invalid escape"},
		{"unknown value raw control", x("\"\x01\""), "column 28: x: control character (\\u0000-\\u001F) found while parsing a string"},
		{"unknown value missing", x(``), "column 27: x: expected value"},
		{"unknown value EOF in array", `{"TransactionBackup":{"x":[1`, "column 29: x: EOF while parsing a list"},
		{"unknown value EOF in object", `{"TransactionBackup":{"x":{"a":1`, "column 33: x: EOF while parsing an object"},
		{"unknown value EOF after open", `{"TransactionBackup":{"x":[`, "column 28: x: EOF while parsing a list"},
		{"unknown value EOF after comma", `{"TransactionBackup":{"x":[1,`, "column 30: x: EOF while parsing a value"},
		{"unknown value deep and unclosed", `{"TransactionBackup":{"x":` + strings.Repeat("[", 100), "column 127: x: EOF while parsing a list"},
		{"unknown value deep mismatched", x(strings.Repeat("[", 100) + strings.Repeat("]", 99) + "}"), "column 226: x: expected `,` or `]`"},
		{"unknown value single quotes", x(`'a'`), "column 27: x: expected value"},

		// Trailing characters.
		{"trailing garbage", t(`[0,14,"m"]`) + `x`, "column 33: trailing characters"},
		{"trailing garbage after spaces", t(`[0,14,"m"]`) + " \r x", "column 36: trailing characters"},
		{"trailing brace", t(`[0,14,"m"]`) + `}`, "column 33: trailing characters"},
		{"two lines in one", t(`[0,14,"m"]`) + "\n" + t(`[0,14,"m"]`), "column 34: trailing characters"},
		{"trailing NUL", t(`[0,14,"m"]`) + "\x00", "column 33: trailing characters"},
	}
}

func TestParseLineRefuse(t *testing.T) {
	for _, tc := range codecRefuseRows() {
		t.Run(tc.name, func(t *testing.T) {
			m, err := aptos.ParseLine([]byte(tc.in))
			if err == nil {
				t.Fatalf("ParseLine(%q) accepted: %s", tc.in, aptos.AppendLine(nil, &m))
			}
			var se *aptos.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is %T, want *aptos.SyntaxError", err, err)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("ParseLine(%q)\n got error %q\nwant error %q", tc.in, got, tc.want)
			}
			if se.Column() != se.Offset+1 || se.Offset < 0 || se.Offset > len(tc.in) {
				t.Errorf("offset %d out of range for a %d-byte line", se.Offset, len(tc.in))
			}
			if !reflect.DeepEqual(m, aptos.Metadata{}) {
				t.Errorf("refused line returned a non-zero Metadata: %+v", m)
			}
		})
	}
}

func TestSplitLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"empty file", "", []string{}},
		{"one line no newline", "a", []string{"a"}},
		{"one line with newline", "a\n", []string{"a"}},
		{"only a newline", "\n", []string{""}},
		{"two newlines", "\n\n", []string{"", ""}},
		{"CRLF", "a\r\nb\r\n", []string{"a", "b"}},
		{"CRLF without final newline", "a\r\nb", []string{"a", "b"}},
		{"mixed endings", "a\nb\r\nc", []string{"a", "b", "c"}},
		{"empty line in the middle", "a\n\nb\n", []string{"a", "", "b"}},
		{"empty CRLF line in the middle", "a\r\n\r\nb", []string{"a", "", "b"}},
		{"lone CR is not a break", "a\rb\n", []string{"a\rb"}},
		{"final CR without newline is kept", "a\r", []string{"a\r"}},
		{"only one CR dropped", "a\r\r\n", []string{"a\r"}},
		{"lone CR line", "\r", []string{"\r"}},
		{"CR before final line", "a\n\r", []string{"a", "\r"}},
		{"no trailing newline", "a\nb", []string{"a", "b"}},
		{"trailing blank lines", "a\n\n\n", []string{"a", "", ""}},
		{"utf-8 content", "é\n中\n😀", []string{"é", "中", "😀"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			content := []byte(tc.in)
			got, err := aptos.SplitLines(content)
			if err != nil {
				t.Fatal(err)
			}
			var each []string
			for line := range aptos.Lines(content) {
				each = append(each, string(line))
			}
			if len(each) != len(tc.want) || (len(each) > 0 && !slices.Equal(each, tc.want)) {
				t.Errorf("Lines yields %q, want %q", each, tc.want)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d lines %q, want %q", len(got), got, tc.want)
			}
			for i := range got {
				if string(got[i]) != tc.want[i] {
					t.Errorf("line %d = %q, want %q", i+1, got[i], tc.want[i])
				}
				if got[i] == nil {
					t.Errorf("line %d is nil, want an empty sub-slice", i+1)
				}
				// Sub-slices, not copies: a line content[j:k] has
				// capacity cap(content)-j.
				if c := cap(got[i]); c > 0 {
					j := cap(content) - c
					if j < 0 || j >= len(content) || &got[i][:1][0] != &content[j] {
						t.Errorf("line %d is not a sub-slice of the content", i+1)
					}
				}
			}
		})
	}

	for _, tc := range []struct {
		name string
		in   string
		want string
	}{
		{"invalid byte first", "\xff\n", "invalid utf-8 at byte offset 0"},
		{"invalid byte on line 2", "ab\ncd\xfe\n", "invalid utf-8 at byte offset 5"},
		{"truncated sequence at end", "ab\n\xe4\xb8", "invalid utf-8 at byte offset 3"},
		{"utf-8 surrogate", "a\xed\xa0\x80", "invalid utf-8 at byte offset 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := aptos.SplitLines([]byte(tc.in))
			var ue *aptos.UTF8Error
			if !errors.As(err, &ue) {
				t.Fatalf("SplitLines(%q) = %q, %v; want a *UTF8Error", tc.in, lines, err)
			}
			if err.Error() != tc.want {
				t.Errorf("error %q, want %q", err, tc.want)
			}
			if lines != nil {
				t.Errorf("lines = %q, want nil", lines)
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	file := strings.Join(codecSpecLines, "\r\n") + "\n"
	ms, err := aptos.ParseFile([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != len(codecSpecLines) {
		t.Fatalf("got %d entries, want %d", len(ms), len(codecSpecLines))
	}
	for i := range ms {
		if want := codecParse(t, codecSpecLines[i]); !reflect.DeepEqual(ms[i], want) {
			t.Errorf("entry %d = %+v, want %+v", i, ms[i], want)
		}
	}
	if ms, err := aptos.ParseFile(nil); err != nil || len(ms) != 0 {
		t.Errorf("empty file: %v, %v", ms, err)
	}

	good := `{"TransactionBackup":[0,14,"m"]}`
	for _, tc := range []struct {
		name    string
		in      string
		want    string
		line    int
		wantAll []string
	}{
		{"empty line in the middle", good + "\n\n" + good + "\n", "line 2: column 1: EOF while parsing a value", 2,
			[]string{"line 2: column 1: EOF while parsing a value"}},
		{"bad third line", good + "\n" + good + "\n{\"Foo\":{}}\n" + good, "line 3: column 2: unknown variant `Foo`, expected one of `EpochEndingBackup`, `StateSnapshotBackup`, `TransactionBackup`, `Identity`, `CompactionTimestamps`", 3,
			[]string{"line 3: column 2: unknown variant `Foo`, expected one of `EpochEndingBackup`, `StateSnapshotBackup`, `TransactionBackup`, `Identity`, `CompactionTimestamps`"}},
		{"invalid utf-8 on line 2", good + "\n\xff" + good + "\n", "line 2: column 1: invalid utf-8", 2,
			[]string{"line 2: column 1: invalid utf-8"}},
		{"lone CR line", good + "\n\r", "line 2: column 2: EOF while parsing a value", 2,
			[]string{"line 2: column 2: EOF while parsing a value"}},
		{"CRLF empty line", good + "\r\n\r\n" + good, "line 2: column 1: EOF while parsing a value", 2,
			[]string{"line 2: column 1: EOF while parsing a value"}},
		{"several bad lines", "x\n" + good + "\n{}\n" + good + "x\n\n", "line 1: column 1: expected value", 1,
			[]string{"line 1: column 1: expected value", "line 3: column 2: expected exactly one variant key", "line 4: column 33: trailing characters", "line 5: column 1: EOF while parsing a value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := aptos.ParseFile([]byte(tc.in))
			if err == nil {
				t.Fatalf("accepted: %v", ms)
			}
			if ms != nil {
				t.Errorf("entries %v returned with an error", ms)
			}
			var le *aptos.LineError
			if !errors.As(err, &le) || le.Line != tc.line {
				t.Fatalf("error %v (%T), want a *LineError for line %d", err, err, tc.line)
			}
			if err.Error() != tc.want {
				t.Errorf("error %q\nwant %q", err, tc.want)
			}
			var se *aptos.SyntaxError
			if !errors.As(err, &se) {
				t.Errorf("errors.As(*SyntaxError) fails through LineError.Unwrap")
			}

			good, errs := aptos.ParseFileAll([]byte(tc.in), 0)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, tc.wantAll) {
				t.Errorf("ParseFileAll errors\n got %q\nwant %q", got, tc.wantAll)
			}
			if lines := strings.Count(tc.in, "\n") + 1; len(good)+len(errs) > lines {
				t.Errorf("ParseFileAll returned %d entries and %d errors for at most %d lines", len(good), len(errs), lines)
			}
		})
	}
}

func TestParseFileAllCap(t *testing.T) {
	good := `{"TransactionBackup":[0,14,"m"]}`
	in := good + "\nbad1\n" + good + "\nbad2\n" + good + "\nbad3\n" + good + "\n"
	ms, errs := aptos.ParseFileAll([]byte(in), 2)
	if len(errs) != 2 || errs[0].Line != 2 || errs[1].Line != 4 {
		t.Fatalf("errors %v, want lines 2 and 4", errs)
	}
	if len(ms) != 2 {
		t.Errorf("got %d entries, want the 2 good lines before the cap", len(ms))
	}
	ms, errs = aptos.ParseFileAll([]byte(in), 0)
	if len(errs) != 3 || len(ms) != 4 {
		t.Errorf("uncapped: %d entries, %d errors; want 4 and 3", len(ms), len(errs))
	}
	ms, errs = aptos.ParseFileAll([]byte(good+"\n"+good), 1)
	if len(errs) != 0 || len(ms) != 2 {
		t.Errorf("good file: %d entries, errors %v", len(ms), errs)
	}
}

func TestAppendPretty(t *testing.T) {
	// The example from the line codec's brief.
	m := codecParse(t, codecSpecLines[2])
	const want = "{\n" +
		"  \"TransactionBackup\": {\n" +
		"    \"first_version\": 0,\n" +
		"    \"last_version\": 14,\n" +
		"    \"manifest\": \"transaction_0-.3c4d/transaction.manifest\"\n" +
		"  }\n" +
		"}"
	if got := string(aptos.AppendPretty(nil, &m)); got != want {
		t.Errorf("AppendPretty =\n%s\nwant\n%s", got, want)
	}
	if got := aptos.AppendPretty([]byte("x"), &m); !bytes.HasPrefix(got, []byte("x{")) {
		t.Errorf("AppendPretty does not append to dst: %q", got)
	}

	var golden bytes.Buffer
	for _, line := range codecPrettyLines() {
		m := codecParse(t, line)
		fmt.Fprintf(&golden, "-- %s --\n%s\n", line, aptos.AppendPretty(nil, &m))
	}
	codecGolden(t, "pretty.golden", golden.Bytes())
}

func codecPrettyLines() []string {
	return append(append([]string(nil), codecSpecLines...),
		`{"CompactionTimestamps":{"file_compacted_at":0,"compaction_timestamps":{}}}`,
		`{"CompactionTimestamps":{"file_compacted_at":1,"compaction_timestamps":{"z":1,"a\"b":null,"m":18446744073709551615}}}`,
		`{"EpochEndingBackup":{"first_epoch":18446744073709551615,"last_epoch":1,"first_version":2,"last_version":3,"manifest":"a\u0000\u001f\n\"\\/<>&\u2028😀"}}`,
		`{"Identity":{"id":"`+strings.ToUpper(codecID)+`"}}`,
	)
}

// codecReadCorpus returns the []byte values of the Go fuzz corpus files in
// dir.
func codecReadCorpus(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if q, ok := strings.CutPrefix(l, "[]byte("); ok {
				s, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
				if err != nil {
					t.Fatalf("%s: %v", e.Name(), err)
				}
				out = append(out, s)
			}
		}
	}
	return out
}

// codecCheckOracle compares ParseLine, AppendLine and AppendPretty with
// the serde_json oracle binary on every input.
func codecCheckOracle(t *testing.T, bin string, inputs []string) {
	t.Helper()
	var stdin bytes.Buffer
	for _, in := range inputs {
		stdin.WriteString(hex.EncodeToString([]byte(in)) + "\n")
	}
	cmd := exec.Command(bin)
	cmd.Stdin = &stdin
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	results := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(results) != len(inputs) {
		t.Fatalf("oracle gave %d results for %d inputs", len(results), len(inputs))
	}
	for i, in := range inputs {
		res := results[i]
		m, err := aptos.ParseLine([]byte(in))
		rustOK := strings.HasPrefix(res, "OK ")
		switch {
		case err != nil && rustOK:
			t.Errorf("%q: ParseLine refuses (%v), serde_json accepts", in, err)
		case err == nil && !rustOK:
			t.Errorf("%q: ParseLine accepts, serde_json refuses: %s", in, res)
		case err == nil:
			// The compact JSON may hold spaces; the hex after it does not.
			res = strings.TrimPrefix(res, "OK ")
			sp := strings.LastIndexByte(res, ' ')
			compact, prettyHex := res[:sp], res[sp+1:]
			if got := string(aptos.AppendLine(nil, &m)); got != compact {
				t.Errorf("%q: AppendLine\n%s\nserde_json\n%s", in, got, compact)
			}
			pretty, _ := hex.DecodeString(prettyHex)
			if got := aptos.AppendPretty(nil, &m); !bytes.Equal(got, pretty) {
				t.Errorf("%q: AppendPretty\n%s\nserde_json\n%s", in, got, pretty)
			}
		}
	}
}

func ExampleParseLine() {
	line := []byte(`{"TransactionBackup":{"manifest":"transaction_0-.3c4d/transaction.manifest","first_version":0,"last_version":14}}`)
	m, err := aptos.ParseLine(line)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Kind, m.Transaction.FirstVersion, m.Transaction.LastVersion, m.Name())
	fmt.Printf("%s\n", aptos.AppendLine(nil, &m))

	_, err = aptos.ParseLine([]byte(`{"TransactionBackup":{"first_version":0,"last_version":14}}`))
	fmt.Println(err)
	// Output:
	// TransactionBackup 0 14 transaction_0-14.meta
	// {"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"transaction_0-.3c4d/transaction.manifest"}}
	// column 58: missing field `manifest`
}

func BenchmarkParseLine(b *testing.B) {
	line := []byte(`{"TransactionBackup":{"first_version":199000001,"last_version":200000000,"manifest":"transaction_199000001-.3c4d/transaction.manifest"}}`)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := aptos.ParseLine(line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendLine(b *testing.B) {
	m := aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: 199000001, LastVersion: 200000000, Manifest: "transaction_199000001-.3c4d/transaction.manifest"})
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = aptos.AppendLine(buf[:0], &m)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkParseFile(b *testing.B) {
	var file []byte
	for i := uint64(0); i < 1000; i++ {
		m := aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: i*1000000 + 1, LastVersion: (i + 1) * 1000000, Manifest: fmt.Sprintf("transaction_%d-.3c4d/transaction.manifest", i*1000000+1)})
		file = append(file, aptos.EncodeLine(&m)...)
	}
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := aptos.ParseFile(file); err != nil {
			b.Fatal(err)
		}
	}
}
