package samplegen_test

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/internal/samplegen"
)

var update = flag.Bool("update", false, "rewrite testdata/sample and testdata/sample-gzip")

// The committed samples, and the commands testdata/sample/README.md
// documents for them. cmd/metactl-gen's tests run those commands too.
const (
	sampleDir         = "../../testdata/sample"
	sampleGzipDir     = "../../testdata/sample-gzip"
	sampleCommand     = "go run ./cmd/metactl-gen --out testdata/sample --epochs 24 --snapshot-interval 2 --seed 1"
	sampleGzipCommand = "go run ./cmd/metactl-gen --out testdata/sample-gzip --epochs 24 --snapshot-interval 2 --seed 1 --gzip"
)

func sampleOptions(gz bool) samplegen.Options {
	o := samplegen.DefaultOptions(24)
	o.SnapshotIntervalEpochs = 2
	o.Seed = 1
	o.Gzip = gz
	return o
}

// readTree returns name -> content of the regular files in dir.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, len(ents))
	for _, e := range ents {
		if !e.Type().IsRegular() {
			t.Fatalf("%s/%s is not a regular file", dir, e.Name())
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func gunzip(t *testing.T, name string, b []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	r.Multistream(false)
	plain, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if r.Name != "" || !r.ModTime.IsZero() || r.OS != 3 {
		t.Errorf("%s: gzip header name=%q mtime=%v os=%d, want \"\", zero, 3", name, r.Name, r.ModTime, r.OS)
	}
	return plain
}

func TestSampleIsUpToDate(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(sampleDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{sampleCommand, sampleGzipCommand} {
		if !bytes.Contains(readme, []byte(cmd)) {
			t.Errorf("README.md does not document %q", cmd)
		}
	}
	if *update {
		for _, d := range []string{sampleDir, sampleGzipDir} {
			if err := os.RemoveAll(filepath.Join(d, aptos.MetadataDir)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := samplegen.Generate(sampleDir, sampleOptions(false)); err != nil {
			t.Fatal(err)
		}
		if _, err := samplegen.Generate(sampleGzipDir, sampleOptions(true)); err != nil {
			t.Fatal(err)
		}
	}

	want := samplegen.Files(sampleOptions(false))
	if len(want) >= 100 {
		t.Errorf("sample has %d files, want < 100", len(want))
	}
	got := readTree(t, filepath.Join(sampleDir, aptos.MetadataDir))
	gotGz := readTree(t, filepath.Join(sampleGzipDir, aptos.MetadataDir))
	if len(got) != len(want) || len(gotGz) != len(want) {
		t.Errorf("committed sample has %d plain and %d gzip files, regenerated has %d (run go test ./internal/samplegen -run TestSampleIsUpToDate -update)",
			len(got), len(gotGz), len(want))
	}
	for _, f := range want {
		if b, ok := got[f.Name]; !ok {
			t.Errorf("sample lacks %s", f.Name)
		} else if !bytes.Equal(b, f.Content) {
			t.Errorf("sample/%s = %q, regenerated %q", f.Name, b, f.Content)
		}
		if b, ok := gotGz[f.Name]; !ok {
			t.Errorf("sample-gzip lacks %s", f.Name)
		} else if plain := gunzip(t, f.Name, b); !bytes.Equal(plain, f.Content) {
			t.Errorf("sample-gzip/%s decompresses to %q, regenerated %q", f.Name, plain, f.Content)
		}
	}
}

// txnRanges returns the transaction batches of files, by first version.
func txnRanges(t *testing.T, files []samplegen.File) [][2]uint64 {
	t.Helper()
	re := regexp.MustCompile(`^transaction_(\d+)-(\d+)\.meta$`)
	var out [][2]uint64
	for _, f := range files {
		if m := re.FindStringSubmatch(f.Name); m != nil {
			a, _ := strconv.ParseUint(m[1], 10, 64)
			b, _ := strconv.ParseUint(m[2], 10, 64)
			out = append(out, [2]uint64{a, b})
		}
	}
	slices.SortFunc(out, func(x, y [2]uint64) int { return cmp.Compare(x[0], y[0]) })
	return out
}

func TestTransactionBatches(t *testing.T) {
	cases := []samplegen.Options{
		samplegen.DefaultOptions(24),
		samplegen.DefaultOptions(1),
		samplegen.DefaultOptions(2),
		{Epochs: 30, VersionsPerEpoch: 10, TxnBatch: 7, Identity: true},
		{Epochs: 30, VersionsPerEpoch: 10, TxnBatch: 10, Seed: 3},
		{Epochs: 5, VersionsPerEpoch: 1, TxnBatch: 1},
		{Epochs: 5, VersionsPerEpoch: 1, TxnBatch: 2},
		{Epochs: 50, VersionsPerEpoch: 100, TxnBatch: 1000, Seed: 9},
	}
	for _, o := range cases {
		t.Run(fmt.Sprintf("%d_%d_%d_%d", o.Epochs, o.VersionsPerEpoch, o.TxnBatch, o.Seed), func(t *testing.T) {
			files := samplegen.Files(o)
			st, err := samplegen.Stat(o)
			if err != nil {
				t.Fatal(err)
			}
			b := o.TxnBatch
			if b == 0 {
				b = samplegen.DefaultTxnBatch
			}
			rs := txnRanges(t, files)
			if len(rs) == 0 || rs[0] != [2]uint64{0, 0} {
				t.Fatalf("first batches %v, want 0-0 first", rs[:min(len(rs), 3)])
			}
			for i := 1; i < len(rs); i++ {
				if rs[i][0] != rs[i-1][1]+1 {
					t.Errorf("batch %d starts at %d, previous ended at %d", i, rs[i][0], rs[i-1][1])
				}
				if rs[i][1] != uint64(i)*b {
					t.Errorf("batch %d = %v, want it to end at %d", i, rs[i], uint64(i)*b)
				}
			}
			head := st.LastEpochVersion
			last := rs[len(rs)-1][1]
			if want := head / b * b; last != want {
				t.Errorf("last batch ends at %d, want %d (largest multiple of %d <= last epoch version %d)", last, want, b, head)
			}
			if last != st.LastTransactionVersion || len(rs) != st.Transactions {
				t.Errorf("stats say %d batches to %d, files %d to %d", st.Transactions, st.LastTransactionVersion, len(rs), last)
			}
		})
	}

	// The spelled-out shape with the default batch size.
	rs := txnRanges(t, samplegen.Files(samplegen.DefaultOptions(5)))
	want := [][2]uint64{{0, 0}, {1, 1_000_000}, {1_000_001, 2_000_000}, {2_000_001, 3_000_000}}
	if len(rs) < len(want) || !slices.Equal(rs[:len(want)], want) {
		t.Errorf("batches %v, want prefix %v", rs, want)
	}
}

type line struct {
	EpochEndingBackup *struct {
		FirstEpoch   *uint64 `json:"first_epoch"`
		LastEpoch    *uint64 `json:"last_epoch"`
		FirstVersion *uint64 `json:"first_version"`
		LastVersion  *uint64 `json:"last_version"`
		Manifest     *string `json:"manifest"`
	}
	StateSnapshotBackup *struct {
		Epoch    *uint64 `json:"epoch"`
		Version  *uint64 `json:"version"`
		Manifest *string `json:"manifest"`
	}
	TransactionBackup *struct {
		FirstVersion *uint64 `json:"first_version"`
		LastVersion  *uint64 `json:"last_version"`
		Manifest     *string `json:"manifest"`
	}
	Identity *struct {
		ID *string `json:"id"`
	}
}

// decode parses one generated line with encoding/json and rebuilds the
// catalog value, requiring every field.
func decode(t *testing.T, name string, b []byte) aptos.Metadata {
	t.Helper()
	if bytes.Count(b, []byte("\n")) != 1 || b[len(b)-1] != '\n' {
		t.Fatalf("%s: want exactly one line ending in \\n, got %q", name, b)
	}
	var l line
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var got []aptos.Metadata
	if e := l.EpochEndingBackup; e != nil {
		if e.FirstEpoch == nil || e.LastEpoch == nil || e.FirstVersion == nil || e.LastVersion == nil || e.Manifest == nil {
			t.Fatalf("%s: missing field in %s", name, b)
		}
		got = append(got, aptos.NewEpochEnding(aptos.EpochEndingBackup{FirstEpoch: *e.FirstEpoch, LastEpoch: *e.LastEpoch, FirstVersion: *e.FirstVersion, LastVersion: *e.LastVersion, Manifest: *e.Manifest}))
	}
	if s := l.StateSnapshotBackup; s != nil {
		if s.Epoch == nil || s.Version == nil || s.Manifest == nil {
			t.Fatalf("%s: missing field in %s", name, b)
		}
		got = append(got, aptos.NewStateSnapshot(aptos.StateSnapshotBackup{Epoch: *s.Epoch, Version: *s.Version, Manifest: *s.Manifest}))
	}
	if x := l.TransactionBackup; x != nil {
		if x.FirstVersion == nil || x.LastVersion == nil || x.Manifest == nil {
			t.Fatalf("%s: missing field in %s", name, b)
		}
		got = append(got, aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: *x.FirstVersion, LastVersion: *x.LastVersion, Manifest: *x.Manifest}))
	}
	if i := l.Identity; i != nil {
		if i.ID == nil || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(*i.ID) {
			t.Fatalf("%s: bad id in %s", name, b)
		}
		var id aptos.HashValue
		for k := range id {
			v, _ := strconv.ParseUint((*i.ID)[2*k:2*k+2], 16, 8)
			id[k] = byte(v)
		}
		got = append(got, aptos.NewIdentity(id))
	}
	if len(got) != 1 {
		t.Fatalf("%s: want exactly one variant, got %d in %s", name, len(got), b)
	}
	return got[0]
}

func TestShapes(t *testing.T) {
	shellSafe := regexp.MustCompile(`\A[a-zA-Z0-9][a-zA-Z0-9._-]{2,126}\z`)
	epochName := regexp.MustCompile(`^epoch_ending_(0|[1-9][0-9]*)-(0|[1-9][0-9]*)\.meta$`)
	snapName := regexp.MustCompile(`^state_snapshot_ver_(0|[1-9][0-9]*)\.meta$`)
	txnName := regexp.MustCompile(`^transaction_(0|[1-9][0-9]*)-(0|[1-9][0-9]*)\.meta$`)
	epochMan := regexp.MustCompile(`^epoch_ending_(\d+)-\.[0-9a-f]{4}/epoch_ending\.manifest$`)
	snapMan := regexp.MustCompile(`^state_epoch_(\d+)_ver_(\d+)\.[0-9a-f]{4}/state\.manifest$`)
	txnMan := regexp.MustCompile(`^transaction_(\d+)-\.[0-9a-f]{4}/transaction\.manifest$`)
	u := func(s string) uint64 { v, _ := strconv.ParseUint(s, 10, 64); return v }

	for _, o := range []samplegen.Options{sampleOptions(false), {Epochs: 40, VersionsPerEpoch: 3, TxnBatch: 5, SnapshotIntervalEpochs: 3, Seed: -7}} {
		files := samplegen.Files(o)
		entries := samplegen.Entries(o)
		st, _ := samplegen.Stat(o)
		if len(files) != len(entries) || len(files) != st.Files || st.Lines != st.Files {
			t.Fatalf("%d files, %d entries, stats %+v", len(files), len(entries), st)
		}
		interval := uint64(max(o.SnapshotIntervalEpochs, 1))
		epochVersion := map[uint64]uint64{}
		var snaps []uint64
		var prev string
		var sum int64
		for i, f := range files {
			sum += int64(len(f.Content))
			if i > 0 && f.Name <= prev {
				t.Errorf("files not sorted: %s after %s", f.Name, prev)
			}
			prev = f.Name
			if !shellSafe.MatchString(f.Name) {
				t.Errorf("%s is not a ShellSafeName", f.Name)
			}
			m := decode(t, f.Name, f.Content)
			if enc := aptos.EncodeLine(&m); !bytes.Equal(enc, f.Content) {
				t.Errorf("%s: content %q, catalog encodes %q", f.Name, f.Content, enc)
			}
			if m.Name() != f.Name {
				t.Errorf("file %s holds a line named %s", f.Name, m.Name())
			}
			if !bytes.Equal(aptos.EncodeLine(&entries[i]), f.Content) {
				t.Errorf("Entries()[%d] does not match %s", i, f.Name)
			}
			switch m.Kind {
			case aptos.KindEpochEnding:
				e := m.EpochEnding
				if !epochName.MatchString(f.Name) || e.FirstEpoch != e.LastEpoch || e.FirstVersion != e.LastVersion {
					t.Errorf("bad epoch ending %s: %+v", f.Name, e)
				}
				if mm := epochMan.FindStringSubmatch(e.Manifest); mm == nil || u(mm[1]) != e.FirstEpoch {
					t.Errorf("%s: bad manifest %q", f.Name, e.Manifest)
				}
				epochVersion[e.FirstEpoch] = e.LastVersion
			case aptos.KindStateSnapshot:
				s := m.StateSnapshot
				if !snapName.MatchString(f.Name) || s.Epoch%interval != 0 {
					t.Errorf("bad snapshot %s: %+v", f.Name, s)
				}
				if mm := snapMan.FindStringSubmatch(s.Manifest); mm == nil || u(mm[1]) != s.Epoch || u(mm[2]) != s.Version {
					t.Errorf("%s: bad manifest %q", f.Name, s.Manifest)
				}
				snaps = append(snaps, s.Epoch)
			case aptos.KindTransaction:
				x := m.Transaction
				if !txnName.MatchString(f.Name) || x.FirstVersion > x.LastVersion {
					t.Errorf("bad transaction %s: %+v", f.Name, x)
				}
				if mm := txnMan.FindStringSubmatch(x.Manifest); mm == nil || u(mm[1]) != x.FirstVersion {
					t.Errorf("%s: bad manifest %q", f.Name, x.Manifest)
				}
			case aptos.KindIdentity:
				if f.Name != "identity.meta" || m.Identity.ID.String() != st.Identity {
					t.Errorf("bad identity %s", f.Name)
				}
			default:
				t.Errorf("%s: unexpected kind %v", f.Name, m.Kind)
			}
		}
		if st.Bytes != 0 {
			t.Errorf("Stat reported %d bytes, documented as zero", st.Bytes)
		}
		if sum == 0 {
			t.Error("empty contents")
		}

		// Every epoch 0..N-1 once, genesis at version 0, versions rising
		// by V ± V/5.
		v := o.VersionsPerEpoch
		if v == 0 {
			v = samplegen.DefaultVersionsPerEpoch
		}
		if len(epochVersion) != o.Epochs || epochVersion[0] != 0 {
			t.Errorf("epochs %v", epochVersion)
		}
		for e := uint64(1); e < uint64(o.Epochs); e++ {
			d := epochVersion[e] - epochVersion[e-1]
			if d < v-v/5 || d > v+v/5 {
				t.Errorf("epoch %d holds %d versions, want %d±%d", e, d, v, v/5)
			}
		}
		// Snapshots at every interval epoch, at that epoch's ending version.
		slices.Sort(snaps)
		for i, e := range snaps {
			if e != uint64(i)*interval {
				t.Errorf("snapshot epochs %v, want every %d from 0", snaps, interval)
				break
			}
		}
		if want := (o.Epochs + int(interval) - 1) / int(interval); len(snaps) != want {
			t.Errorf("%d snapshots, want %d", len(snaps), want)
		}
		for _, f := range files {
			if strings.HasPrefix(f.Name, "state_snapshot_ver_") {
				m := decode(t, f.Name, f.Content)
				if epochVersion[m.StateSnapshot.Epoch] != m.StateSnapshot.Version {
					t.Errorf("%s: version %d, epoch %d ends at %d", f.Name, m.StateSnapshot.Version, m.StateSnapshot.Epoch, epochVersion[m.StateSnapshot.Epoch])
				}
			}
		}
	}
}

func TestDeterminism(t *testing.T) {
	o := samplegen.DefaultOptions(30)
	o.SnapshotIntervalEpochs = 2
	a, b := samplegen.Files(o), samplegen.Files(o)
	if !slices.EqualFunc(a, b, func(x, y samplegen.File) bool { return x.Name == y.Name && bytes.Equal(x.Content, y.Content) }) {
		t.Fatal("two Files calls differ")
	}

	// Generate writes exactly Files, and twice the same.
	for _, gz := range []bool{false, true} {
		o.Gzip = gz
		want := samplegen.Files(o)
		for range 2 {
			dir := t.TempDir()
			st, err := samplegen.Generate(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			got := readTree(t, filepath.Join(dir, aptos.MetadataDir))
			var sum int64
			for _, f := range want {
				sum += int64(len(f.Content))
			}
			if len(got) != len(want) || st.Files != len(want) || st.Dir != dir || st.Bytes != sum || st.Gzip != gz {
				t.Fatalf("wrote %d files, stats %+v, want %d files of %d bytes", len(got), st, len(want), sum)
			}
			for _, f := range want {
				if !bytes.Equal(got[f.Name], f.Content) {
					t.Errorf("gzip=%v %s differs on disk", gz, f.Name)
				}
			}
		}
	}

	// Another seed changes the ids, lengths and suffixes.
	o.Gzip = false
	o2 := o
	o2.Seed = 2
	c := samplegen.Files(o2)
	same := 0
	for _, x := range a {
		for _, y := range c {
			if x.Name == y.Name && bytes.Equal(x.Content, y.Content) {
				same++
			}
		}
	}
	if same > 2 {
		t.Errorf("seeds 1 and 2 share %d identical files", same)
	}
}

// A storage with more epochs holds every file of one with fewer.
func TestPrefixStable(t *testing.T) {
	small := samplegen.Files(sampleOptions(false))
	o := sampleOptions(false)
	o.Epochs = 60
	big := samplegen.Files(o)
	byName := map[string][]byte{}
	for _, f := range big {
		byName[f.Name] = f.Content
	}
	for _, f := range small {
		if !bytes.Equal(byName[f.Name], f.Content) {
			t.Errorf("%s: %q in 24 epochs, %q in 60", f.Name, f.Content, byName[f.Name])
		}
	}
}

func TestGzipRoundTrip(t *testing.T) {
	o := samplegen.DefaultOptions(40)
	plain := samplegen.Files(o)
	o.Gzip = true
	gz := samplegen.Files(o)
	if len(plain) != len(gz) {
		t.Fatalf("%d plain files, %d gzip", len(plain), len(gz))
	}
	for i := range plain {
		if gz[i].Name != plain[i].Name || !strings.HasSuffix(gz[i].Name, ".meta") {
			t.Fatalf("name %s vs %s", gz[i].Name, plain[i].Name)
		}
		if !bytes.HasPrefix(gz[i].Content, []byte{0x1f, 0x8b}) {
			t.Errorf("%s lacks the gzip magic", gz[i].Name)
		}
		if got := gunzip(t, gz[i].Name, gz[i].Content); !bytes.Equal(got, plain[i].Content) {
			t.Errorf("%s: gunzip %q, plain %q", gz[i].Name, got, plain[i].Content)
		}
	}
}

func TestGenerateRefusesNonEmpty(t *testing.T) {
	dir := t.TempDir()
	meta := filepath.Join(dir, aptos.MetadataDir)
	if err := os.MkdirAll(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	// An empty folder is fine.
	if _, err := samplegen.Generate(dir, samplegen.DefaultOptions(2)); err != nil {
		t.Fatal(err)
	}
	before := readTree(t, meta)
	_, err := samplegen.Generate(dir, samplegen.DefaultOptions(3))
	if !errors.Is(err, samplegen.ErrNotEmpty) || !strings.Contains(err.Error(), meta) {
		t.Fatalf("second Generate: %v, want ErrNotEmpty naming %s", err, meta)
	}
	if after := readTree(t, meta); len(after) != len(before) {
		t.Errorf("refused Generate changed the folder: %d -> %d files", len(before), len(after))
	}
}

func TestEdgeOptions(t *testing.T) {
	if f := samplegen.Files(samplegen.Options{}); len(f) != 0 {
		t.Errorf("zero Options gave %v", f)
	}
	f := samplegen.Files(samplegen.Options{Identity: true})
	if len(f) != 1 || f[0].Name != "identity.meta" {
		t.Errorf("identity only: %v", f)
	}
	f = samplegen.Files(samplegen.Options{Epochs: 1})
	var names []string
	for _, x := range f {
		names = append(names, x.Name)
	}
	if want := []string{"epoch_ending_0-0.meta", "state_snapshot_ver_0.meta", "transaction_0-0.meta"}; !slices.Equal(names, want) {
		t.Errorf("genesis only: %v, want %v", names, want)
	}
	for _, o := range []samplegen.Options{
		{Epochs: -1},
		{Epochs: 1, SnapshotIntervalEpochs: -1},
		{Epochs: 1 << 40, VersionsPerEpoch: 1 << 40},
		{Epochs: 1, VersionsPerEpoch: ^uint64(0)},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v validated", o)
		}
		if _, err := samplegen.Generate(t.TempDir(), o); err == nil {
			t.Errorf("Generate(%+v) succeeded", o)
		}
	}
}

// OptionsFor1M is the storage the report names: about a million lines.
var optionsFor1M = samplegen.Options{Epochs: 250_000, SnapshotIntervalEpochs: 2, Identity: true}

func TestMillionLines(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a million files in memory")
	}
	start := time.Now()
	files := samplegen.Files(optionsFor1M)
	d := time.Since(start)
	t.Logf("Files(%+v): %d files in %v", optionsFor1M, len(files), d)
	if len(files) < 950_000 || len(files) > 1_050_000 {
		t.Errorf("%d files, want about 1,000,000", len(files))
	}
	rs := txnRanges(t, files)
	for i := 1; i < len(rs); i++ {
		if rs[i][0] != rs[i-1][1]+1 {
			t.Fatalf("gap between %v and %v", rs[i-1], rs[i])
		}
	}
}

func BenchmarkFiles(b *testing.B) {
	for _, o := range []samplegen.Options{samplegen.DefaultOptions(2_500), optionsFor1M} {
		b.Run(strconv.Itoa(o.Epochs), func(b *testing.B) {
			for b.Loop() {
				samplegen.Files(o)
			}
		})
	}
}
