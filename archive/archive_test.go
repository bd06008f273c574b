package archive_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
)

// source is the source label of the tests' files, as if imported from a
// local storage (TestPlaintextLayout pins it).
const source = "local:/srv/backup"

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
	db := catalogtest.Open(t)
	catalogtest.PutFrom(t, db, source, catalogtest.CompactedStorage()...)
	st := catalogtest.SummaryOf(t, db)
	data, h := catalogtest.Archive(t, db)
	if !archive.IsArchive(data) {
		t.Errorf("IsArchive(% x) = false", data[:4])
	}
	want := archive.Header{Format: "metactl-archive", Version: 2, Generation: st.Gen, ViewDigest: st.Digest,
		Files: len(catalogtest.CompactedStorage()), Entries: st.Entries, Identity: catalogtest.CompactedStorage()[0].Lines[0].Identity.ID.String(),
		Journal: int(st.Gen)}
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
	files := catalogtest.Files(t, db)
	if len(recs) != len(files) {
		t.Fatalf("read %d records, want %d", len(recs), len(files))
	}
	for i, f := range files {
		r := recs[i]
		if r.Handle != f.Handle || string(r.State) != f.State.String() || r.Source != f.Source || !r.ImportedAt.Equal(f.ImportedAt) ||
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
	db := catalogtest.Open(t)
	catalogtest.PutFrom(t, db, source, catalogtest.CompactedStorage()[:1]...)
	data, _ := catalogtest.Archive(t, db)
	plain := decompress(t, data)
	f := catalogtest.Files(t, db)[0]
	st := catalogtest.SummaryOf(t, db)
	ts := f.ImportedAt.Format(time.RFC3339Nano)
	var op catalog.Operation
	db.View(t.Context(), func(tx catalog.Tx) error {
		return tx.Operations(func(o *catalog.Operation) bool { op = *o; return false })
	})
	opLine, err := json.Marshal(&op)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"format":"metactl-archive","version":2,"generation":1,"identity":"%s","view_digest":"%s","files":1,"entries":0,"journal":1}`+"\n"+
		`{"handle":"metadata/identity.meta","state":"live","source":"local:/srv/backup","imported_at":"%s","state_changed_at":"%s","size":%d,"sha256":"%s"}`+"\n"+
		"%s\n"+
		`{"op":%s}`+"\n",
		catalogtest.CompactedStorage()[0].Lines[0].Identity.ID, st.Digest, ts, ts, len(f.Content), hex.EncodeToString(f.SHA256[:]), f.Content, opLine)
	sum := sha256.Sum256([]byte(body))
	want := body + `{"end":true,"files":1,"sha256":"` + hex.EncodeToString(sum[:]) + `"}` + "\n"
	if string(plain) != want {
		t.Errorf("plaintext:\n%s\nwant:\n%s", plain, want)
	}
}

func TestSameGenerationSamePlaintext(t *testing.T) {
	db := catalogtest.Open(t)
	catalogtest.PutFrom(t, db, source, catalogtest.CompactedStorage()...)
	a, ha := catalogtest.Archive(t, db)
	time.Sleep(20 * time.Millisecond) // a later export of the same generation
	b, hb := catalogtest.Archive(t, db)
	if *ha != *hb {
		t.Errorf("headers differ: %+v vs %+v", ha, hb)
	}
	// Never compare compressed bytes: only the plaintext is a contract.
	if pa, pb := decompress(t, a), decompress(t, b); !bytes.Equal(pa, pb) {
		t.Errorf("plaintexts of the same generation differ:\n%s\n%s", pa, pb)
	}

	// Another generation gives another plaintext.
	catalogtest.PutFrom(t, db, source, catalogtest.File{Name: "transaction_30-44.meta", State: catalog.Live, Lines: []aptos.Metadata{aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: 30, LastVersion: 44, Manifest: "transaction_30-.0001/transaction.manifest"})}})
	c, hc := catalogtest.Archive(t, db)
	if hc.Generation != ha.Generation+1 || bytes.Equal(decompress(t, a), decompress(t, c)) {
		t.Errorf("a new generation gave the same archive (generation %d)", hc.Generation)
	}
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
