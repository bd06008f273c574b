package serdecheck_test

// These tests hold metactl's line codec against serde_json itself:
// the Rust checker in this directory parses every line with the Aptos
// Metadata enum and re-serializes it, and the results must match the Go
// encoder and parser byte for byte.
//
//   - TestEncoderMatchesSerde: lines written by aptos.AppendLine are fixed
//     points of serde_json (parse + to_string gives the same bytes).
//   - TestEncoderInvalidUTF8MapKeys: map keys that are not UTF-8 (written as
//     U+FFFD) must still come out in serde_json's order, without duplicates.
//   - TestParserMatchesSerde: a table of hand-written inputs plus seeded
//     mutations of valid lines; aptos.ParseLine must accept exactly what
//     serde_json accepts, and re-encode it to the bytes serde_json writes.
//   - TestPrettyMatchesSerde: aptos.AppendPretty against to_string_pretty.

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/metactl/metactl/aptos"
)

// ---------------------------------------------------------------------------
// The checker binary.

var (
	buildOnce sync.Once
	binPath   string
	skipMsg   string
	buildErr  error
)

// checker returns the path of the serdecheck binary, building it with
// scripts/serdecheck.sh on first use (cargo only rebuilds what changed),
// when METACTL_SERDECHECK is set; else the test skips.
func checker(t *testing.T) string {
	t.Helper()
	if os.Getenv("METACTL_SERDECHECK") == "" {
		// Building the checker takes cargo a minute: not in the
		// development loop. .ci/run sets it.
		t.Skip("set METACTL_SERDECHECK=1 to build and run the serde_json checker (.ci/run does)")
	}
	buildOnce.Do(func() {
		script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "serdecheck.sh"))
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("bash", script)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("%s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout.Bytes(), stderr.Bytes())
			return
		}
		out := strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
		last := out[len(out)-1]
		if strings.HasSuffix(last, ", skipping") {
			skipMsg = last
			return
		}
		binPath = last
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if skipMsg != "" {
		if os.Getenv("METACTL_SERDECHECK") == "require" {
			t.Fatalf("METACTL_SERDECHECK=require but %s", skipMsg)
		}
		t.Skip(skipMsg)
	}
	return binPath
}

// run feeds lines (none may hold '\n') to `serdecheck mode` and returns its
// stdout.
func run(t *testing.T, mode string, lines [][]byte) []byte {
	t.Helper()
	bin := checker(t)
	var in bytes.Buffer
	for i, l := range lines {
		if bytes.IndexByte(l, '\n') >= 0 {
			t.Fatalf("input line %d holds a newline: %q", i, l)
		}
		in.Write(l)
		in.WriteByte('\n')
	}
	cmd := exec.Command(bin, mode)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, mode, err, stderr.Bytes())
	}
	return out
}

// result is serde_json's verdict on one line.
type result struct {
	ok   bool
	text string // the re-serialized line, or serde_json's error message
}

func roundtrip(t *testing.T, lines [][]byte) []result {
	t.Helper()
	out := run(t, "roundtrip", lines)
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) == 0 {
		got = nil
	}
	if len(got) != len(lines) {
		t.Fatalf("serdecheck roundtrip: %d output lines for %d input lines", len(got), len(lines))
	}
	res := make([]result, len(got))
	for i, g := range got {
		switch {
		case strings.HasPrefix(g, "ok "):
			res[i] = result{true, g[3:]}
		case strings.HasPrefix(g, "err "):
			res[i] = result{false, g[4:]}
		default:
			t.Fatalf("serdecheck roundtrip: bad output line %q", g)
		}
	}
	return res
}

func pretty(t *testing.T, lines [][]byte) []string {
	t.Helper()
	out := string(run(t, "pretty", lines))
	recs := strings.Split(out, "\n---\n")
	if recs[len(recs)-1] != "" || len(recs)-1 != len(lines) {
		t.Fatalf("serdecheck pretty: %d records for %d input lines", len(recs)-1, len(lines))
	}
	return recs[:len(recs)-1]
}

// ---------------------------------------------------------------------------
// Valid lines from the Go encoder.

const maxU64 = math.MaxUint64

func u64p(v uint64) *uint64 { return &v }

// interesting are manifest strings that exercise every escaping rule of
// docs/aptos-format.md §2.4, plus invalid UTF-8 (the encoder writes U+FFFD for
// each bad byte).
func interesting() []string {
	s := []string{
		"",
		"epoch_ending_0-.a1b2/epoch_ending.manifest",
		`"`, `\`, `\\"`, `"\"`, `/<>&'`, "\x7f", "\u2028", "\u2029", "a\u2028b\u2029c",
		"é", "中文/清单", "😀", "\U0010ffff", "\ufeff", "\ufffd", "\uffff",
		"\xff", "a\xe2\x82b", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80",
		"<script>alert('x')</script>&amp;",
	}
	var all strings.Builder
	for c := 0; c < 0x20; c++ {
		s = append(s, string(rune(c)), fmt.Sprintf("m%cm", c))
		all.WriteByte(byte(c))
	}
	s = append(s, all.String(), all.String()+`"\/`+"\x7f\u2028")
	return s
}

// randString returns a string of up to 40 pieces drawn from a mix meant to
// hit escapes, multi-byte UTF-8, JSON syntax characters and, if invalid,
// bytes that are not UTF-8.
func randString(r *rand.Rand, invalid bool) string {
	var b strings.Builder
	n := r.IntN(41)
	for i := 0; i < n; i++ {
		k := r.IntN(10)
		if k == 5 && !invalid {
			k = 9
		}
		switch k {
		case 0:
			b.WriteByte(byte(r.IntN(0x20))) // control byte
		case 1:
			b.WriteByte(`"\/{}[]:,'<>&`[r.IntN(13)])
		case 2:
			b.WriteRune(rune(0x80 + r.IntN(0x800-0x80))) // 2-byte
		case 3:
			c := rune(0x800 + r.IntN(0x10000-0x800)) // 3-byte, no surrogates
			if c >= 0xd800 && c < 0xe000 {
				c = 0x2028 + rune(r.IntN(2))
			}
			b.WriteRune(c)
		case 4:
			b.WriteRune(rune(0x10000 + r.IntN(0x110000-0x10000))) // 4-byte
		case 5:
			b.WriteByte(byte(0x80 + r.IntN(0x80))) // invalid UTF-8 (mostly)
		case 6:
			b.WriteByte(0x7f)
		default:
			b.WriteByte(byte(0x20 + r.IntN(0x5f))) // printable ASCII
		}
	}
	return b.String()
}

func randU64(r *rand.Rand) uint64 {
	switch r.IntN(5) {
	case 0:
		return 0
	case 1:
		return maxU64 - uint64(r.IntN(3))
	case 2:
		return uint64(r.IntN(1000))
	case 3:
		return uint64(1) << r.IntN(64)
	}
	return r.Uint64()
}

func epochEnding(fe, le, fv, lv uint64, manifest string) aptos.Metadata {
	return aptos.NewEpochEnding(aptos.EpochEndingBackup{
		FirstEpoch: fe, LastEpoch: le, FirstVersion: fv, LastVersion: lv, Manifest: manifest})
}

func stateSnapshot(epoch, version uint64, manifest string) aptos.Metadata {
	return aptos.NewStateSnapshot(aptos.StateSnapshotBackup{Epoch: epoch, Version: version, Manifest: manifest})
}

func transaction(fv, lv uint64, manifest string) aptos.Metadata {
	return aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: fv, LastVersion: lv, Manifest: manifest})
}

func randMetadata(r *rand.Rand) aptos.Metadata {
	switch r.IntN(5) {
	case 0:
		return epochEnding(randU64(r), randU64(r), randU64(r), randU64(r), randString(r, true))
	case 1:
		return stateSnapshot(randU64(r), randU64(r), randString(r, true))
	case 2:
		return transaction(randU64(r), randU64(r), randString(r, true))
	case 3:
		var h aptos.HashValue
		for i := range h {
			h[i] = byte(r.Uint32())
		}
		return aptos.NewIdentity(h)
	}
	ts := map[string]*uint64{}
	for i, n := 0, r.IntN(6); i < n; i++ {
		if r.IntN(3) == 0 {
			ts[randString(r, false)] = nil
		} else {
			ts[randString(r, false)] = u64p(randU64(r))
		}
	}
	return aptos.NewCompactionTimestamps(aptos.CompactionTimestamps{FileCompactedAt: randU64(r), Timestamps: ts})
}

// validMetadata returns every variant at the extremes, every interesting
// string in every string position, and nRandom seeded random values.
func validMetadata(nRandom int) []aptos.Metadata {
	var ms []aptos.Metadata
	for _, v := range []uint64{0, 1, maxU64 - 1, maxU64} {
		ms = append(ms,
			epochEnding(v, v, v, v, "m"),
			stateSnapshot(v, v, "m"),
			transaction(v, v, "m"),
			aptos.NewCompactionTimestamps(aptos.CompactionTimestamps{FileCompactedAt: v,
				Timestamps: map[string]*uint64{"metadata/a.meta": u64p(v), "metadata/identity.meta": nil}}),
		)
	}
	var zero, ones, seq aptos.HashValue
	for i := range ones {
		ones[i], seq[i] = 0xff, byte(i*8+i)
	}
	ms = append(ms, aptos.NewIdentity(zero), aptos.NewIdentity(ones), aptos.NewIdentity(seq),
		aptos.NewCompactionTimestamps(aptos.CompactionTimestamps{FileCompactedAt: 1700000000}),
		aptos.NewCompactionTimestamps(aptos.CompactionTimestamps{FileCompactedAt: 1, Timestamps: map[string]*uint64{}}))
	all := map[string]*uint64{}
	for i, s := range interesting() {
		ms = append(ms,
			epochEnding(0, 1, 2, 3, s),
			stateSnapshot(4, 5, s),
			transaction(6, 7, s),
			aptos.NewCompactionTimestamps(aptos.CompactionTimestamps{FileCompactedAt: 8,
				Timestamps: map[string]*uint64{s: u64p(9), s + "x": nil}}),
		)
		if !utf8.ValidString(s) {
			continue // see TestEncoderInvalidUTF8MapKeys
		}
		if i%2 == 0 {
			all[s] = u64p(uint64(i))
		} else {
			all[s] = nil
		}
	}
	ms = append(ms, aptos.NewCompactionTimestamps(aptos.CompactionTimestamps{FileCompactedAt: 10, Timestamps: all}))
	r := rand.New(rand.NewPCG(20240601, 1))
	for i := 0; i < nRandom; i++ {
		ms = append(ms, randMetadata(r))
	}
	return ms
}

func TestEncoderMatchesSerde(t *testing.T) {
	ms := validMetadata(3000)
	lines := make([][]byte, len(ms))
	for i := range ms {
		lines[i] = aptos.AppendLine(nil, &ms[i])
	}
	res := roundtrip(t, lines)
	bad := 0
	for i, r := range res {
		if !r.ok || r.text != string(lines[i]) {
			bad++
			if bad <= 20 {
				t.Errorf("line %d: Go AppendLine wrote\n\t%q\nserde_json: ok=%v\n\t%q", i, lines[i], r.ok, r.text)
			}
		}
	}
	t.Logf("%d lines from aptos.AppendLine, %d differ from serde_json's re-serialization", len(lines), bad)
}

// TestEncoderInvalidUTF8MapKeys: AppendString writes each invalid UTF-8 byte
// as U+FFFD, so a map key holding one must sort, and be unique, by its
// written form, not its raw bytes. Rust cannot hold such a key at all
// (String is UTF-8), so the only question is whether the Go line is still
// what serde_json writes for the same (sanitized) map.
func TestEncoderInvalidUTF8MapKeys(t *testing.T) {
	cases := []map[string]*uint64{
		// raw order "😀" (f0...) < "\xff"; written order "\ufffd" (ef bf bd) < "😀"
		{"\xff": u64p(1), "😀": u64p(2)},
		{"a\xffb": nil, "a\uffffb": u64p(3)},
		// two raw keys, one written key: the line would hold a duplicate key
		{"\xfe": u64p(1), "\xff": u64p(2)},
		{"x\xc0\xaf": u64p(1), "x\ufffd\ufffd": nil},
	}
	lines := make([][]byte, len(cases))
	for i, ts := range cases {
		m := aptos.NewCompactionTimestamps(aptos.CompactionTimestamps{FileCompactedAt: 1, Timestamps: ts})
		lines[i] = aptos.AppendLine(nil, &m)
	}
	for i, r := range roundtrip(t, lines) {
		if !r.ok || r.text != string(lines[i]) {
			t.Errorf("map keys %q: Go AppendLine wrote\n\t%q\nserde_json re-serializes it as\n\t%q", keys(cases[i]), lines[i], r.text)
		}
	}
}

func keys(m map[string]*uint64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// ---------------------------------------------------------------------------
// Parser: hand-written table and mutations.

const (
	H  = "5f1c0a3e9b7d2c4e6f8a0b1c2d3e4f5061728394a5b6c7d8e9f0011223344556"
	HU = "5F1C0A3E9B7D2C4E6F8A0B1C2D3E4F5061728394A5B6C7D8E9F0011223344556"
)

// tx is a TransactionBackup line with payload fields p.
func tx(p string) string { return `{"TransactionBackup":{` + p + `}}` }

// txm is a valid TransactionBackup line whose manifest value is the raw JSON v.
func txm(v string) string { return tx(`"first_version":0,"last_version":14,"manifest":` + v) }

// txu is a valid TransactionBackup line plus an unknown field with raw JSON v.
func txu(v string) string { return tx(`"first_version":0,"last_version":14,"manifest":"m","zz":` + v) }

// txn is a TransactionBackup line whose last_version is the raw JSON v.
func txn(v string) string { return tx(`"first_version":0,"last_version":` + v + `,"manifest":"m"`) }

// ct is a CompactionTimestamps line whose map is the raw JSON v.
func ct(v string) string {
	return `{"CompactionTimestamps":{"file_compacted_at":1,"compaction_timestamps":` + v + `}}`
}

// id is an Identity line whose id value is the raw JSON v.
func id(v string) string { return `{"Identity":{"id":` + v + `}}` }

func nest(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

// parserTable lists inputs with what serde_json does with them
// (docs/aptos-format.md §2.5 and serde_json 1.0.87's source). want is checked
// against the real serde_json too, so a wrong row shows up as a checker
// failure.
var parserTable = []struct {
	name string
	line string
	ok   bool
}{
	// docs/aptos-format.md §2.3 examples
	{"spec epoch", `{"EpochEndingBackup":{"first_epoch":0,"last_epoch":0,"first_version":0,"last_version":0,"manifest":"epoch_ending_0-.a1b2/epoch_ending.manifest"}}`, true},
	{"spec snapshot", `{"StateSnapshotBackup":{"epoch":1,"version":12,"manifest":"state_epoch_1_ver_12.00ff/state.manifest"}}`, true},
	{"spec txn", `{"TransactionBackup":{"first_version":0,"last_version":14,"manifest":"transaction_0-.3c4d/transaction.manifest"}}`, true},
	{"spec identity", id(`"` + H + `"`), true},
	{"spec timestamps", ct(`{"metadata/identity.meta":null,"metadata/epoch_ending_0-0.meta":1700000000}`), true},

	// array (sequence) form of the payload structs
	{"array txn", `{"TransactionBackup":[0,14,"m"]}`, true},
	{"array epoch", `{"EpochEndingBackup":[0,1,2,3,"m"]}`, true},
	{"array snapshot", `{"StateSnapshotBackup":[1,2,"m"]}`, true},
	{"array identity", `{"Identity":["` + H + `"]}`, true},
	{"array timestamps", `{"CompactionTimestamps":[5,{"a":1,"b":null}]}`, true},
	{"array spaced", `{"TransactionBackup":[ 0 , 14 , "m" ]}`, true},
	{"array short", `{"TransactionBackup":[0,14]}`, false},
	{"array long", `{"TransactionBackup":[0,14,"m",1]}`, false},
	{"array empty", `{"TransactionBackup":[]}`, false},
	{"array wrong type", `{"TransactionBackup":["m",0,14]}`, false},
	{"array map as array", `{"CompactionTimestamps":[5,[]]}`, false},
	{"array trailing comma", `{"TransactionBackup":[0,14,"m",]}`, false},
	{"array identity two", `{"Identity":["` + H + `","` + H + `"]}`, false},

	// whitespace
	{"ws around", " \t" + id(`"`+H+`"`) + "\t ", true},
	{"ws everywhere", `{ "Identity" : { "id" : "` + H + `" } }`, true},
	{"ws trailing CR", id(`"`+H+`"`) + "\r", true},
	{"ws two trailing CR", id(`"`+H+`"`) + "\r\r", true},
	{"ws CR inside", "{\r\"Identity\"\r:\r{\"id\":\"" + H + "\"}}", true},
	{"ws form feed", "\f" + id(`"`+H+`"`), false},
	{"ws vertical tab", id(`"`+H+`"`) + "\v", false},
	{"ws NBSP", "\u00a0" + id(`"`+H+`"`), false},
	{"ws BOM", "\ufeff" + id(`"`+H+`"`), false},
	{"ws U+2028 between tokens", `{"Identity":` + "\u2028" + `{"id":"` + H + `"}}`, false},
	{"ws NUL", id(`"`+H+`"`) + "\x00", false},
	{"ws number split", txn("1 4"), false},

	// payload key order, unknown fields
	{"keys reversed", tx(`"manifest":"m","last_version":14,"first_version":0`), true},
	{"unknown string", txu(`"x"`), true},
	{"unknown nested", txu(`{"a":[1,{"b":null}],"c":{}}`), true},
	{"unknown huge exponent", txu(`1e400`), true},
	{"unknown negative float", txu(`-1.5e-7`), true},
	{"unknown minus zero", txu(`-0`), true},
	{"unknown big int", txu(`123456789012345678901234567890`), true},
	{"unknown true false null", tx(`"a":true,"b":false,"c":null,"first_version":0,"last_version":14,"manifest":"m"`), true},
	{"unknown first", tx(`"zz":1,"first_version":0,"last_version":14,"manifest":"m"`), true},
	{"unknown duplicate", tx(`"zz":1,"zz":2,"first_version":0,"last_version":14,"manifest":"m"`), true},
	{"unknown lone lead surrogate", txu(`"\ud800"`), true},
	{"unknown lone trail surrogate", txu(`"\udc00"`), true},
	{"unknown reversed surrogates", txu(`"\udc00\ud800"`), true},
	{"unknown raw DEL U+2028", txu("\"\x7f\u2028\""), true},
	{"unknown invalid escape", txu(`"\x"`), false},
	{"unknown short escape", txu(`"\u12"`), false},
	{"unknown raw control", txu("\"\x01\""), false},
	{"unknown raw tab", txu("\"\t\""), false},
	{"unknown leading zero", txu(`01`), false},
	{"unknown trailing dot", txu(`1.`), false},
	{"unknown leading dot", txu(`.5`), false},
	{"unknown plus", txu(`+1`), false},
	{"unknown bare exponent", txu(`1e`), false},
	{"unknown NaN", txu(`NaN`), false},
	{"unknown Infinity", txu(`Infinity`), false},
	{"unknown hex", txu(`0x10`), false},
	{"unknown array trailing comma", txu(`[1,]`), false},
	{"unknown object trailing comma", txu(`{"a":1,}`), false},
	{"unknown single quotes", txu(`'x'`), false},
	{"unknown bare word", txu(`nul`), false},
	{"unknown TRUE", txu(`True`), false},
	{"unknown key lone surrogate", tx(`"\ud800":1,"first_version":0,"last_version":14,"manifest":"m"`), false},
	{"unknown key escaped", tx(`"\u0041":1,"first_version":0,"last_version":14,"manifest":"m"`), true},
	{"unknown depth 125", txu(nest(125)), true},
	{"unknown depth 126", txu(nest(126)), true},
	// serde_json's recursion limit (128) does not apply to ignored values:
	// ignore_value walks them with its own stack, to any depth.
	{"unknown depth 127", txu(nest(127)), true},
	{"unknown depth 200", txu(nest(200)), true},
	{"unknown depth 100000", txu(nest(100000)), true},
	{"unknown object depth 126", txu(strings.Repeat(`{"a":`, 125) + "{}" + strings.Repeat("}", 125)), true},
	{"unknown object depth 127", txu(strings.Repeat(`{"a":`, 126) + "{}" + strings.Repeat("}", 126)), true},
	{"unknown object depth 20000", txu(strings.Repeat(`{"a":`, 20000) + "{}" + strings.Repeat("}", 20000)), true},
	{"unknown depth unbalanced", txu(strings.Repeat("[", 1000) + strings.Repeat("]", 999)), false},
	{"unknown depth mismatched", txu("[{]}"), false},

	// variant names
	{"variant unknown", `{"Foo":{}}`, false},
	{"variant lowercase", `{"identity":{"id":"` + H + `"}}`, false},
	{"variant escaped", `{"\u0049dentity":{"id":"` + H + `"}}`, true},
	{"variant all escaped", `{"\u0054\u0072ansactionBackup":[0,14,"m"]}`, true},
	{"variant trailing space", `{"Identity ":{"id":"` + H + `"}}`, false},
	{"variant empty", `{"":{}}`, false},
	{"variant Range draft", `{"TransactionRangeBackup":{"first_version":0,"last_version":14,"manifest":"m"}}`, false},
	{"variant lone surrogate", `{"\ud800":{}}`, false},

	// field names
	{"field escaped", `{"Identity":{"\u0069d":"` + H + `"}}`, true},
	{"field escaped slash", tx(`"first_version":0,"last_version":14,"manifest":"m","\/x":1`), true},
	{"field wrong case", `{"Identity":{"ID":"` + H + `"}}`, false},
	{"field duplicate", tx(`"first_version":0,"first_version":0,"last_version":14,"manifest":"m"`), false},
	{"field duplicate escaped", tx(`"first_version":0,"last_version":14,"manifest":"m","m\u0061nifest":"m"`), false},
	{"field duplicate identity", `{"Identity":{"id":"` + H + `","id":"` + H + `"}}`, false},
	{"missing manifest", tx(`"first_version":0,"last_version":14`), false},
	{"missing first_version", tx(`"last_version":14,"manifest":"m"`), false},
	{"missing epoch", `{"StateSnapshotBackup":{"version":12,"manifest":"m"}}`, false},
	{"missing first_epoch", `{"EpochEndingBackup":{"last_epoch":0,"first_version":0,"last_version":0,"manifest":"m"}}`, false},
	{"missing id", `{"Identity":{}}`, false},
	{"missing map", `{"CompactionTimestamps":{"file_compacted_at":1}}`, false},
	{"missing file_compacted_at", `{"CompactionTimestamps":{"compaction_timestamps":{}}}`, false},

	// outer object
	{"outer empty", `{}`, false},
	{"outer two keys", `{"Identity":{"id":"` + H + `"},"Identity":{"id":"` + H + `"}}`, false},
	{"outer two variants", `{"Identity":{"id":"` + H + `"},"TransactionBackup":[0,14,"m"]}`, false},
	{"outer bare string", `"Identity"`, false},
	{"outer array", `[]`, false},
	{"outer array of variant", `[{"Identity":{"id":"` + H + `"}}]`, false},
	{"outer null", `null`, false},
	{"outer number", `1`, false},
	{"payload null", `{"Identity":null}`, false},
	{"payload string", `{"Identity":"` + H + `"}`, false},
	{"empty line", ``, false},
	{"blank line", "  \t ", false},
	{"trailing garbage", id(`"`+H+`"`) + `x`, false},
	{"trailing object", id(`"`+H+`"`) + ` {}`, false},
	{"trailing comma", id(`"`+H+`"`) + `,`, false},
	{"two lines in one", id(`"`+H+`"`) + id(`"`+H+`"`), false},
	{"payload trailing comma", `{"Identity":{"id":"` + H + `",}}`, false},
	{"truncated", `{"Identity":{"id":"` + H + `"}`, false},
	{"comment", `{"Identity":{"id":"` + H + `"}}//c`, false},

	// numbers (u64 fields)
	{"num u64 max", txn(`18446744073709551615`), true},
	{"num u64 max+1", txn(`18446744073709551616`), false},
	{"num huge", txn(`99999999999999999999999`), false},
	{"num -1", txn(`-1`), false},
	{"num -0", txn(`-0`), false},
	{"num 1.0", txn(`1.0`), false},
	{"num 0.0", txn(`0.0`), false},
	{"num 1e2", txn(`1e2`), false},
	{"num 1E2", txn(`1E2`), false},
	{"num 0e0", txn(`0e0`), false},
	{"num string", txn(`"0"`), false},
	{"num leading zero", txn(`014`), false},
	{"num double zero", txn(`00`), false},
	{"num plus", txn(`+14`), false},
	{"num hex", txn(`0x0e`), false},
	{"num true", txn(`true`), false},
	{"num null", txn(`null`), false},
	{"num array", txn(`[14]`), false},
	{"num all max", `{"EpochEndingBackup":{"first_epoch":18446744073709551615,"last_epoch":18446744073709551615,"first_version":18446744073709551615,"last_version":18446744073709551615,"manifest":""}}`, true},

	// strings (manifest)
	{"str escapes", txm(`"\u0041\/\b\f\n\r\t\"\\"`), true},
	{"str escape e-acute", txm(`"\u00e9"`), true},
	{"str escape upper hex", txm(`"\u00E9\u00Ff"`), true},
	{"str escape NUL", txm(`"\u0000"`), true},
	{"str escape DEL", txm(`"\u007f"`), true},
	{"str escape U+2028", txm(`"\u2028\u2029"`), true},
	{"str surrogate pair", txm(`"\ud83d\ude00"`), true},
	{"str surrogate pair upper", txm(`"\uD83D\uDE00"`), true},
	{"str escape BOM U+FFFF", txm(`"\ufeff\uffff"`), true},
	{"str lone lead surrogate", txm(`"\ud800"`), false},
	{"str lone lead at end", txm(`"x\udbff"`), false},
	{"str lone trail surrogate", txm(`"\udc00"`), false},
	{"str reversed surrogates", txm(`"\ude00\ud83d"`), false},
	{"str lead then BMP escape", txm(`"\ud800\u0041"`), false},
	{"str lead then raw", txm(`"\ud800x"`), false},
	{"str lead then lead", txm(`"\ud800\ud800"`), false},
	{"str invalid escape a", txm(`"\a"`), false},
	{"str invalid escape quote", txm(`"\'"`), false},
	{"str invalid escape U", txm(`"\U0041"`), false},
	{"str short escape", txm(`"\u004"`), false},
	{"str escape non-hex", txm(`"\u00g0"`), false},
	{"str raw NUL", txm("\"\x00\""), false},
	{"str raw 0x01", txm("\"\x01\""), false},
	{"str raw tab", txm("\"\t\""), false},
	{"str raw 0x1f", txm("\"\x1f\""), false},
	{"str raw CR", txm("\"a\rb\""), false},
	{"str raw DEL", txm("\"\x7f\""), true},
	{"str raw U+2028", txm("\"\u2028\u2029\""), true},
	{"str raw non-ASCII", txm(`"é中😀"`), true},
	{"str raw U+FFFD", txm("\"\ufffd\""), true},
	{"str unterminated", txm(`"abc`), false},
	{"str null", txm(`null`), false},
	{"str number", txm(`1`), false},
	{"str object", txm(`{}`), false},
	{"str array", txm(`["m"]`), false},
	{"str single quoted", txm(`'m'`), false},

	// invalid UTF-8 (Aptos reads the file into a String first: refused)
	{"utf8 0xff in string", txm("\"\xff\""), false},
	{"utf8 truncated in string", txm("\"a\xe2\x82\""), false},
	{"utf8 surrogate bytes in string", txm("\"\xed\xa0\x80\""), false},
	{"utf8 overlong in string", txm("\"\xc0\xaf\""), false},
	{"utf8 above U+10FFFF in string", txm("\"\xf4\x90\x80\x80\""), false},
	{"utf8 in unknown field", txu("\"\xff\""), false},
	{"utf8 in map key", ct("{\"\xff\":1}"), false},
	{"utf8 outside strings", id(`"`+H+`"`) + " \xff", false},

	// Identity ids
	{"id uppercase", id(`"` + HU + `"`), true},
	{"id mixed case", id(`"` + HU[:32] + H[32:] + `"`), true},
	{"id zeros", id(`"` + strings.Repeat("0", 64) + `"`), true},
	{"id escaped digits", id(`"\u0035` + H[1:] + `"`), true},
	{"id 63", id(`"` + H[:63] + `"`), false},
	{"id 65", id(`"` + H + `0"`), false},
	{"id 62", id(`"` + H[:62] + `"`), false},
	{"id 66", id(`"` + H + `00"`), false},
	{"id empty", id(`""`), false},
	{"id 0x 62", id(`"0x` + H[:62] + `"`), false},
	{"id 0x 64", id(`"0x` + H + `"`), false},
	{"id non-hex", id(`"g` + H[1:] + `"`), false},
	{"id space", id(`" ` + H[1:] + `"`), false},
	{"id non-ASCII", id(`"é` + H[2:] + `"`), false},
	{"id number", id(`0`), false},
	{"id null", id(`null`), false},
	{"id byte array", id(`[` + strings.TrimSuffix(strings.Repeat("0,", 32), ",") + `]`), false},

	// CompactionTimestamps map
	{"map empty", ct(`{}`), true},
	{"map spaced", ct(`{ "a" : 1 , "b" : null }`), true},
	{"map unsorted", ct(`{"b":1,"a":2,"é":3,"Z":null,"😀":4,"\uffff":5,"":6}`), true},
	{"map duplicate last wins number", ct(`{"a":null,"a":2}`), true},
	{"map duplicate last wins null", ct(`{"a":1,"b":3,"a":null}`), true},
	{"map duplicate escaped", ct(`{"a":1,"\u0061":2}`), true},
	{"map key escapes", ct(`{"\u0000\n\"\\\/":1}`), true},
	{"map u64 max", ct(`{"a":18446744073709551615}`), true},
	{"map overflow", ct(`{"a":18446744073709551616}`), false},
	{"map negative", ct(`{"a":-1}`), false},
	{"map minus zero", ct(`{"a":-0}`), false},
	{"map float", ct(`{"a":1.0}`), false},
	{"map string value", ct(`{"a":"1"}`), false},
	{"map bool value", ct(`{"a":true}`), false},
	{"map object value", ct(`{"a":{}}`), false},
	{"map null", ct(`null`), false},
	{"map array", ct(`[]`), false},
	{"map array of pairs", ct(`[["a",1]]`), false},
	{"map key lone surrogate", ct(`{"\ud800":1}`), false},
	{"map trailing comma", ct(`{"a":1,}`), false},
	{"map number key", ct(`{1:1}`), false},
	{"map duplicate field", `{"CompactionTimestamps":{"file_compacted_at":1,"file_compacted_at":1,"compaction_timestamps":{}}}`, false},
	{"map field order", `{"CompactionTimestamps":{"compaction_timestamps":{"x":1},"file_compacted_at":7}}`, true},
	{"map depth", ct(`{"a":1,"b":` + nest(1) + `}`), false},
}

// ---------------------------------------------------------------------------
// Equivalent spellings: random JSON that means the same Metadata.

// rws returns random JSON whitespace (no '\n': it would end the line).
func rws(r *rand.Rand) string {
	if r.IntN(4) != 0 {
		return ""
	}
	return []string{" ", "\t", "\r", "  ", " \t\r "}[r.IntN(5)]
}

func hex4(r *rand.Rand, v rune) string {
	s := fmt.Sprintf("\\u%04x", v)
	if r.IntN(2) == 0 {
		s = `\u` + strings.ToUpper(s[2:])
	}
	return s
}

// rstr writes s as a JSON string with randomly chosen (valid) escapes. Bytes
// of s that are not UTF-8 are written as U+FFFD, as aptos.AppendString does.
func rstr(r *rand.Rand, s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c, size := utf8.DecodeRuneInString(s[i:])
		i += size
		short := map[rune]string{'"': `\"`, '\\': `\\`, '\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`, '/': `\/`}[c]
		switch {
		case short != "" && (c != '/' || r.IntN(3) == 0) && r.IntN(3) != 0:
			b.WriteString(short)
		case c < 0x20 || c == '"' || c == '\\' || r.IntN(8) == 0:
			if c > 0xffff {
				c -= 0x10000
				b.WriteString(hex4(r, 0xd800+(c>>10)))
				b.WriteString(hex4(r, 0xdc00+(c&0x3ff)))
			} else {
				b.WriteString(hex4(r, c))
			}
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// rvalue returns a random JSON value for an unknown field, including forms
// only an ignored value may take (floats, negative numbers, lone surrogates).
func rvalue(r *rand.Rand, depth int) string {
	k := r.IntN(12)
	if depth > 3 && k >= 9 {
		k = 0
	}
	switch k {
	case 0:
		return []string{"null", "true", "false"}[r.IntN(3)]
	case 1:
		return fmt.Sprint(r.Int64() >> r.IntN(64))
	case 2:
		return []string{"-0", "0.5", "-1.25e-3", "1E+400", "6.02e23", "18446744073709551616", "-9223372036854775809", "123456789012345678901234567890"}[r.IntN(8)]
	case 3:
		return `"\ud800"`
	case 4:
		return `"\udfff\ud800x"`
	case 5, 6, 7, 8:
		return rstr(r, randString(r, false))
	case 9, 10:
		n := r.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = rws(r) + rvalue(r, depth+1) + rws(r)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	n := r.IntN(4)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = rws(r) + rstr(r, randString(r, false)) + rws(r) + ":" + rws(r) + rvalue(r, depth+1) + rws(r)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

type field struct{ name, value string }

// robject writes the fields as a JSON object (shuffled, with unknown fields)
// or, sometimes, as the array form serde accepts for structs.
func robject(r *rand.Rand, fields []field) string {
	if r.IntN(8) == 0 {
		vals := make([]string, len(fields))
		for i, f := range fields {
			vals[i] = rws(r) + f.value + rws(r)
		}
		return "[" + strings.Join(vals, ",") + "]"
	}
	fs := append([]field(nil), fields...)
	if r.IntN(2) == 0 {
		r.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
	}
	for n := r.IntN(3); n > 0; n-- {
		name := []string{"zz", "Manifest", "ID", "first_version ", "_", "", "é", "manifest\u0000", "😀"}[r.IntN(9)]
		pos := r.IntN(len(fs) + 1)
		fs = append(fs[:pos], append([]field{{name, rvalue(r, 0)}}, fs[pos:]...)...)
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = rws(r) + rstr(r, f.name) + rws(r) + ":" + rws(r) + f.value + rws(r)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func rnum(v uint64) string { return fmt.Sprint(v) }

// respell returns a random JSON line that serde_json parses to m.
func respell(r *rand.Rand, m *aptos.Metadata) []byte {
	var fields []field
	switch m.Kind {
	case aptos.KindEpochEnding:
		e := m.EpochEnding
		fields = []field{{"first_epoch", rnum(e.FirstEpoch)}, {"last_epoch", rnum(e.LastEpoch)},
			{"first_version", rnum(e.FirstVersion)}, {"last_version", rnum(e.LastVersion)}, {"manifest", rstr(r, e.Manifest)}}
	case aptos.KindStateSnapshot:
		s := m.StateSnapshot
		fields = []field{{"epoch", rnum(s.Epoch)}, {"version", rnum(s.Version)}, {"manifest", rstr(r, s.Manifest)}}
	case aptos.KindTransaction:
		x := m.Transaction
		fields = []field{{"first_version", rnum(x.FirstVersion)}, {"last_version", rnum(x.LastVersion)}, {"manifest", rstr(r, x.Manifest)}}
	case aptos.KindIdentity:
		h := []byte(m.Identity.ID.String())
		for i := range h {
			if r.IntN(2) == 0 && h[i] >= 'a' {
				h[i] -= 'a' - 'A'
			}
		}
		fields = []field{{"id", rstr(r, string(h))}}
	case aptos.KindCompactionTimestamps:
		c := m.Timestamps
		ks := c.SortedHandles()
		r.Shuffle(len(ks), func(i, j int) { ks[i], ks[j] = ks[j], ks[i] })
		var parts []string
		for _, k := range ks {
			if r.IntN(6) == 0 { // an earlier duplicate: the last value wins
				parts = append(parts, rws(r)+rstr(r, k)+rws(r)+":"+rws(r)+[]string{"null", "0", "7"}[r.IntN(3)]+rws(r))
			}
			v := "null"
			if p := c.Timestamps[k]; p != nil {
				v = rnum(*p)
			}
			parts = append(parts, rws(r)+rstr(r, k)+rws(r)+":"+rws(r)+v+rws(r))
		}
		fields = []field{{"file_compacted_at", rnum(c.FileCompactedAt)}, {"compaction_timestamps", "{" + strings.Join(parts, ",") + rws(r) + "}"}}
	}
	line := rws(r) + "{" + rws(r) + rstr(r, m.Kind.String()) + rws(r) + ":" + rws(r) + robject(r, fields) + rws(r) + "}" + rws(r)
	return []byte(line)
}

// mutate returns a damaged copy of line: bytes deleted, inserted, replaced,
// duplicated or cut, biased towards JSON syntax. It never holds '\n'.
func mutate(r *rand.Rand, line []byte) []byte {
	const alphabet = "{}[]\":,\\ \t\r0123456789-+.eEtrufalsn/ubx\x00\x1f\x7f"
	b := append([]byte(nil), line...)
	for n := 1 + r.IntN(3); n > 0; n-- {
		pos := 0
		if len(b) > 0 {
			pos = r.IntN(len(b) + 1)
		}
		pick := func() byte {
			if r.IntN(8) == 0 {
				return byte(r.IntN(256))
			}
			return alphabet[r.IntN(len(alphabet))]
		}
		switch r.IntN(6) {
		case 0: // delete
			if pos < len(b) {
				b = append(b[:pos], b[pos+1:]...)
			}
		case 1: // insert
			b = append(b[:pos], append([]byte{pick()}, b[pos:]...)...)
		case 2: // replace
			if pos < len(b) {
				b[pos] = pick()
			}
		case 3: // duplicate a span
			if pos < len(b) {
				end := pos + 1 + r.IntN(min(20, len(b)-pos))
				span := append([]byte(nil), b[pos:end]...)
				b = append(b[:end], append(span, b[end:]...)...)
			}
		case 4: // cut the tail
			b = b[:pos]
		case 5: // insert a token
			toks := []string{`"`, `\u`, `\ud800`, `\ud83d\ude00`, `null`, `,"zz":0`, `-0`, `1e2`, "\u2028", "é", `18446744073709551616`, `"first_version":1,`}
			tok := toks[r.IntN(len(toks))]
			b = append(b[:pos], append([]byte(tok), b[pos:]...)...)
		}
	}
	return bytes.ReplaceAll(b, []byte{'\n'}, []byte{' '})
}

func TestParserMatchesSerde(t *testing.T) {
	type row struct {
		name  string
		line  []byte
		want  int    // 1 accept, 0 refuse, -1 not known in advance
		canon string // if set, serde_json must re-serialize the line to this
	}
	var rows []row
	for _, tc := range parserTable {
		w := 0
		if tc.ok {
			w = 1
		}
		rows = append(rows, row{name: tc.name, line: []byte(tc.line), want: w})
	}
	nTable := len(rows)

	// Equivalent spellings of valid values: other whitespace, escapes, field
	// order, unknown fields, array form, duplicate map keys, uppercase hex.
	ms := validMetadata(1500)
	r := rand.New(rand.NewPCG(7, 7))
	var bases [][]byte
	for i := range ms {
		canon := aptos.AppendLine(nil, &ms[i])
		line := respell(r, &ms[i])
		rows = append(rows, row{name: fmt.Sprintf("respelled %d", i), line: line, want: 1, canon: string(canon)})
		bases = append(bases, canon, line)
	}
	nRespelled := len(rows) - nTable

	// Damaged lines: mostly refused, some still valid.
	for _, tc := range parserTable {
		if len(tc.line) < 1000 {
			bases = append(bases, []byte(tc.line))
		}
	}
	for i := 0; i < 6000; i++ {
		b := mutate(r, bases[r.IntN(len(bases))])
		rows = append(rows, row{name: fmt.Sprintf("mutation %d", i), line: b, want: -1})
	}

	lines := make([][]byte, len(rows))
	for i := range rows {
		lines[i] = rows[i].line
	}
	res := roundtrip(t, lines)

	var tableWrong, mismatches, accepted int
	for i, rw := range rows {
		rs := res[i]
		if (rw.want >= 0 && rs.ok != (rw.want == 1)) || (rw.canon != "" && rs.text != rw.canon) {
			tableWrong++
			t.Errorf("%s: expected ok=%v %q but serde_json says ok=%v %q\n\tline: %q", rw.name, rw.want == 1, rw.canon, rs.ok, rs.text, rw.line)
		}
		m, err := aptos.ParseLine(rw.line)
		goOK := err == nil
		var goText string
		if goOK {
			goText = string(aptos.AppendLine(nil, &m))
		} else {
			goText = err.Error()
		}
		if rs.ok {
			accepted++
		}
		if goOK != rs.ok || (goOK && goText != rs.text) {
			mismatches++
			if mismatches <= 40 {
				t.Errorf("%s: Go and serde_json disagree\n\tline:       %q\n\tserde_json: ok=%v %q\n\tGo:         ok=%v %q",
					rw.name, rw.line, rs.ok, rs.text, goOK, goText)
			}
		}
	}
	t.Logf("%d table rows + %d respelled valid lines + %d mutations: serde_json accepted %d; %d rows contradict their expectation; %d Go/serde_json mismatches",
		nTable, nRespelled, len(rows)-nTable-nRespelled, accepted, tableWrong, mismatches)
}

// TestParserRoundTripsEncoder: ParseLine(AppendLine(m)) re-encodes to the
// same bytes (the Go half of the fixed-point property the Rust check holds).
func TestParserRoundTripsEncoder(t *testing.T) {
	ms := validMetadata(3000)
	for i := range ms {
		line := aptos.AppendLine(nil, &ms[i])
		m, err := aptos.ParseLine(line)
		if err != nil {
			t.Errorf("ParseLine(%q): %v", line, err)
			continue
		}
		if again := aptos.AppendLine(nil, &m); !bytes.Equal(again, line) {
			t.Errorf("ParseLine then AppendLine:\n\tin:  %q\n\tout: %q", line, again)
		}
	}
}

// ---------------------------------------------------------------------------
// Pretty form.

func TestPrettyMatchesSerde(t *testing.T) {
	ms := validMetadata(500)
	lines := make([][]byte, len(ms))
	for i := range ms {
		lines[i] = aptos.AppendLine(nil, &ms[i])
	}
	want := pretty(t, lines)
	bad := 0
	for i := range ms {
		got := string(aptos.AppendPretty(nil, &ms[i]))
		if got != want[i] {
			bad++
			if bad <= 10 {
				t.Errorf("line %q:\nGo AppendPretty:\n%s\nserde_json to_string_pretty:\n%s", lines[i], got, want[i])
			}
		}
	}
	if !utf8.ValidString(strings.Join(want, "")) {
		t.Errorf("serde_json pretty output is not UTF-8")
	}
	t.Logf("%d values, %d differ between aptos.AppendPretty and serde_json::to_string_pretty", len(ms), bad)
}
