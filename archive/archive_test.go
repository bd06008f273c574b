package archive_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
)

type testFile struct {
	name  string
	state catalog.State
	lines []catalog.Metadata
}

func (f testFile) content() []byte {
	var b []byte
	for i := range f.lines {
		b = append(b, catalog.EncodeLine(&f.lines[i])...)
	}
	return b
}

func u64p(v uint64) *uint64 { return &v }

// testStorage is a compacted storage: compacted files live, originals
// moved, an identity and a timestamps file.
func testStorage() []testFile {
	var id catalog.HashValue
	for i := range id {
		id[i] = byte(i*11 + 1)
	}
	e0 := catalog.NewEpochEnding(catalog.EpochEndingBackup{FirstEpoch: 0, LastEpoch: 0, FirstVersion: 0, LastVersion: 0, Manifest: "epoch_ending_0-.a1b2/epoch_ending.manifest"})
	e1 := catalog.NewEpochEnding(catalog.EpochEndingBackup{FirstEpoch: 1, LastEpoch: 1, FirstVersion: 1, LastVersion: 14, Manifest: "epoch_ending_1-.00ff/epoch_ending.manifest"})
	t0 := catalog.NewTransaction(catalog.TransactionBackup{FirstVersion: 0, LastVersion: 14, Manifest: "transaction_0-.3c4d/transaction.manifest"})
	t1 := catalog.NewTransaction(catalog.TransactionBackup{FirstVersion: 15, LastVersion: 29, Manifest: "transaction_15-.9e8f/transaction.manifest"})
	s1 := catalog.NewStateSnapshot(catalog.StateSnapshotBackup{Epoch: 1, Version: 14, Manifest: "state_epoch_1_ver_14.77aa/state.manifest"})
	return []testFile{
		{"identity.meta", catalog.Live, []catalog.Metadata{catalog.NewIdentity(id)}},
		{"epoch_ending_0-0.meta", catalog.Moved, []catalog.Metadata{e0}},
		{"epoch_ending_1-1.meta", catalog.Moved, []catalog.Metadata{e1}},
		{"epoch_ending_compacted_0-1.meta", catalog.Live, []catalog.Metadata{e0, e1}},
		{"transaction_0-14.meta", catalog.Moved, []catalog.Metadata{t0}},
		{"transaction_15-29.meta", catalog.Live, []catalog.Metadata{t1}},
		{"transaction_compacted_0-29.meta", catalog.Live, []catalog.Metadata{t0, t1}},
		{"state_snapshot_ver_14.meta", catalog.Live, []catalog.Metadata{s1}},
		{"compaction_timestamps_1700000000.meta", catalog.Live, []catalog.Metadata{catalog.NewCompactionTimestamps(catalog.CompactionTimestamps{
			FileCompactedAt: 1700000000,
			Timestamps:      map[string]*uint64{"metadata/identity.meta": nil, "metadata/transaction_15-29.meta": u64p(1700000000)},
		})}},
	}
}

func openCatalog(t testing.TB) *catalog.DB {
	t.Helper()
	db, err := catalog.Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"), &catalog.Options{NoSync: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func put(t testing.TB, db *catalog.DB, files []testFile) {
	t.Helper()
	_, err := db.Update(context.Background(), "import", func(tx *catalog.Tx) error {
		for _, f := range files {
			if _, err := tx.PutFile(catalog.NewFile{Handle: catalog.MetadataHandle(f.name), Content: f.content(), State: f.state, Source: "local:/srv/backup"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func catalogFiles(t testing.TB, db *catalog.DB) []*catalog.File {
	t.Helper()
	var out []*catalog.File
	err := db.View(func(tx *catalog.Tx) error {
		return tx.ForEachFile(true, func(f *catalog.File) error {
			out = append(out, f)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type catalogState struct {
	gen     uint64
	digest  catalog.Digest
	entries int
}

func stateOf(t testing.TB, db *catalog.DB) catalogState {
	t.Helper()
	var s catalogState
	if err := db.View(func(tx *catalog.Tx) error {
		s = catalogState{tx.Generation(), tx.ViewDigest(), tx.EntryCount()}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

func writeArchive(t testing.TB, db *catalog.DB) ([]byte, *archive.Header) {
	t.Helper()
	var buf bytes.Buffer
	h, err := archive.Write(context.Background(), &buf, db)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), h
}

func decompress(t testing.TB, b []byte) []byte {
	t.Helper()
	dec, err := zstd.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	out, err := io.ReadAll(dec)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compress(t testing.TB, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteReadRoundTrip(t *testing.T) {
	db := openCatalog(t)
	put(t, db, testStorage())
	st := stateOf(t, db)
	data, h := writeArchive(t, db)
	if !archive.IsArchive(data) {
		t.Errorf("IsArchive(% x) = false", data[:4])
	}
	want := archive.Header{Format: "metactl-archive", Version: 1, Generation: st.gen, ViewDigest: st.digest,
		Files: len(testStorage()), Entries: st.entries, Identity: testStorage()[0].lines[0].Identity.ID.String()}
	if *h != want {
		t.Errorf("header %+v, want %+v", *h, want)
	}
	rh, recs, err := archive.ReadAll(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if *rh != want {
		t.Errorf("read header %+v, want %+v", *rh, want)
	}
	files := catalogFiles(t, db)
	if len(recs) != len(files) {
		t.Fatalf("read %d records, want %d", len(recs), len(files))
	}
	for i, f := range files {
		r := recs[i]
		if r.Handle != f.Handle || r.State != f.State || r.Source != f.Source || !r.ImportedAt.Equal(f.ImportedAt) ||
			!r.StateChangedAt.Equal(f.StateChangedAt) || r.Size != len(f.Content) || r.SHA256 != hex.EncodeToString(f.SHA256[:]) ||
			!bytes.Equal(r.Content, f.Content) {
			t.Errorf("record %d = %+v, want file %+v", i, r, f)
		}
	}

	// Read (the streaming form) sees the same records.
	n := 0
	if err := archive.Read(bytes.NewReader(data), func(h *archive.Header, f *archive.FileRecord) error {
		if f.Handle != files[n].Handle {
			t.Errorf("Read record %d: %q, want %q", n, f.Handle, files[n].Handle)
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != len(files) {
		t.Errorf("Read saw %d records, want %d", n, len(files))
	}
}

func TestPlaintextLayout(t *testing.T) {
	db := openCatalog(t)
	put(t, db, testStorage()[:1])
	data, _ := writeArchive(t, db)
	plain := decompress(t, data)
	f := catalogFiles(t, db)[0]
	st := stateOf(t, db)
	ts := f.ImportedAt.Format(time.RFC3339Nano)
	body := fmt.Sprintf(`{"format":"metactl-archive","version":1,"generation":1,"identity":"%s","view_digest":"%s","files":1,"entries":0}`+"\n"+
		`{"handle":"metadata/identity.meta","state":"live","source":"local:/srv/backup","imported_at":"%s","state_changed_at":"%s","size":%d,"sha256":"%s"}`+"\n"+
		"%s\n",
		testStorage()[0].lines[0].Identity.ID, st.digest, ts, ts, len(f.Content), hex.EncodeToString(f.SHA256[:]), f.Content)
	sum := sha256.Sum256([]byte(body))
	want := body + `{"end":true,"files":1,"sha256":"` + hex.EncodeToString(sum[:]) + `"}` + "\n"
	if string(plain) != want {
		t.Errorf("plaintext:\n%s\nwant:\n%s", plain, want)
	}
}

func TestSameGenerationSamePlaintext(t *testing.T) {
	db := openCatalog(t)
	put(t, db, testStorage())
	a, ha := writeArchive(t, db)
	time.Sleep(20 * time.Millisecond) // a later export of the same generation
	b, hb := writeArchive(t, db)
	if *ha != *hb {
		t.Errorf("headers differ: %+v vs %+v", ha, hb)
	}
	// Never compare compressed bytes: only the plaintext is a contract.
	if pa, pb := decompress(t, a), decompress(t, b); !bytes.Equal(pa, pb) {
		t.Errorf("plaintexts of the same generation differ:\n%s\n%s", pa, pb)
	}

	// Another generation gives another plaintext.
	put(t, db, []testFile{{"transaction_30-44.meta", catalog.Live, []catalog.Metadata{catalog.NewTransaction(catalog.TransactionBackup{FirstVersion: 30, LastVersion: 44, Manifest: "transaction_30-.0001/transaction.manifest"})}}})
	c, hc := writeArchive(t, db)
	if hc.Generation != ha.Generation+1 || bytes.Equal(decompress(t, a), decompress(t, c)) {
		t.Errorf("a new generation gave the same archive (generation %d)", hc.Generation)
	}
}

func TestImportRoundTrip(t *testing.T) {
	src := openCatalog(t)
	put(t, src, testStorage())
	data, h := writeArchive(t, src)

	dst := openCatalog(t)
	res, err := archive.Import(t.Context(), dst, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != h.Files || res.StateChanged != 0 || res.Unchanged != 0 || !res.Operation.Changed() {
		t.Errorf("result %+v, want %d added", res, h.Files)
	}
	if got, want := stateOf(t, dst), stateOf(t, src); got.digest != want.digest || got.entries != want.entries || got.gen != 1 {
		t.Errorf("imported catalog %+v, source %+v", got, want)
	}
	sf, df := catalogFiles(t, src), catalogFiles(t, dst)
	if len(sf) != len(df) {
		t.Fatalf("imported %d files, want %d", len(df), len(sf))
	}
	for i := range sf {
		if sf[i].Handle != df[i].Handle || sf[i].State != df[i].State || !bytes.Equal(sf[i].Content, df[i].Content) {
			t.Errorf("file %d: %+v, want %+v", i, df[i], sf[i])
		}
		if want := "archive:" + sf[i].Source; df[i].Source != want {
			t.Errorf("%s: source %q, want %q", df[i].Handle, df[i].Source, want)
		}
	}
	var op catalog.Operation
	dst.View(func(tx *catalog.Tx) error {
		return tx.Operations(func(o *catalog.Operation) bool { op = *o; return false })
	})
	if op.Kind != "import" || op.Added.Count != h.Files {
		t.Errorf("journal: %+v", op)
	}

	// Importing it again changes nothing.
	res, err = archive.Import(t.Context(), dst, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged != h.Files || res.Operation.Changed() || stateOf(t, dst).gen != 1 {
		t.Errorf("re-import: %+v (generation %d)", res, stateOf(t, dst).gen)
	}

	// The imported catalog archives to the same view.
	_, h2 := writeArchive(t, dst)
	if h2.ViewDigest != h.ViewDigest || h2.Entries != h.Entries || h2.Files != h.Files || h2.Identity != h.Identity {
		t.Errorf("archive of the import: %+v, want view of %+v", h2, h)
	}
}

func TestImportIntoPartialCatalog(t *testing.T) {
	// A catalog that holds some of the archive's files, one in another
	// state, takes the rest and ends with the archive's view.
	src := openCatalog(t)
	put(t, src, testStorage())
	data, h := writeArchive(t, src)
	dst := openCatalog(t)
	part := testStorage()[:4]
	part[1].state = catalog.Live // epoch_ending_0-0: moved in the archive
	put(t, dst, part)
	res, err := archive.Import(t.Context(), dst, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != h.Files-4 || res.StateChanged != 1 || res.Unchanged != 3 {
		t.Errorf("result %+v", res)
	}
	if got := stateOf(t, dst); got.digest != h.ViewDigest {
		t.Errorf("digest %s, want %s", got.digest, h.ViewDigest)
	}
}

func TestImportRefusals(t *testing.T) {
	src := openCatalog(t)
	put(t, src, testStorage())
	data, _ := writeArchive(t, src)

	t.Run("conflict", func(t *testing.T) {
		dst := openCatalog(t)
		other := testStorage()[7] // state_snapshot_ver_14.meta
		other.lines = []catalog.Metadata{catalog.NewStateSnapshot(catalog.StateSnapshotBackup{Epoch: 1, Version: 14, Manifest: "state_epoch_1_ver_14.ffff/state.manifest"})}
		put(t, dst, []testFile{other})
		before := stateOf(t, dst)
		_, err := archive.Import(t.Context(), dst, bytes.NewReader(data))
		if !errors.Is(err, catalog.ErrConflict) {
			t.Fatalf("error %v, want one wrapping catalog.ErrConflict", err)
		}
		if !strings.Contains(err.Error(), `"metadata/state_snapshot_ver_14.meta"`) {
			t.Errorf("error %q does not name the file", err)
		}
		if after := stateOf(t, dst); after != before {
			t.Errorf("catalog changed: %+v, was %+v", after, before)
		}
	})
	t.Run("other live files", func(t *testing.T) {
		dst := openCatalog(t)
		put(t, dst, []testFile{{"transaction_30-44.meta", catalog.Live, []catalog.Metadata{catalog.NewTransaction(catalog.TransactionBackup{FirstVersion: 30, LastVersion: 44, Manifest: "transaction_30-.0001/transaction.manifest"})}}})
		before := stateOf(t, dst)
		_, err := archive.Import(t.Context(), dst, bytes.NewReader(data))
		if !errors.Is(err, archive.ErrViewMismatch) {
			t.Fatalf("error %v, want one wrapping ErrViewMismatch", err)
		}
		if after := stateOf(t, dst); after != before {
			t.Errorf("catalog changed: %+v, was %+v", after, before)
		}
	})
	t.Run("other identity", func(t *testing.T) {
		dst := openCatalog(t)
		var id catalog.HashValue
		id[0] = 0xee
		put(t, dst, []testFile{{"identity_other.meta", catalog.Moved, []catalog.Metadata{catalog.NewIdentity(id)}}})
		_, err := archive.Import(t.Context(), dst, bytes.NewReader(data))
		if !errors.Is(err, catalog.ErrConflict) {
			t.Fatalf("error %v, want one wrapping catalog.ErrConflict", err)
		}
		if got := stateOf(t, dst).gen; got != 1 {
			t.Errorf("generation %d, want 1", got)
		}
	})
}

func TestIsArchive(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want bool
	}{
		{[]byte{0x28, 0xb5, 0x2f, 0xfd, 0x04}, true},
		{[]byte{0x28, 0xb5, 0x2f, 0xfd}, true},
		{[]byte{0x28, 0xb5, 0x2f}, false},
		{[]byte{0x1f, 0x8b, 0x08, 0x00}, false},
		{[]byte(`{"EpochEndingBackup":`), false},
		{nil, false},
	} {
		if got := archive.IsArchive(tc.in); got != tc.want {
			t.Errorf("IsArchive(% x) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
