package archive_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/export"
	"github.com/metactl/metactl/internal/catalogtest"
)

// splitFrames cuts b into its zstd frames (RFC 8878 §3.1.1: frame header,
// blocks, optional checksum), failing on anything it cannot walk.
func splitFrames(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var frames [][]byte
	for len(b) > 0 {
		if len(b) < 6 || !archive.IsArchive(b) {
			t.Fatalf("no frame magic at % x", b[:min(len(b), 8)])
		}
		fhd := b[4]
		single := fhd&0x20 != 0
		n := 5
		if !single {
			n++ // window descriptor
		}
		n += []int{0, 1, 2, 4}[fhd&3]
		fcs := []int{0, 2, 4, 8}[fhd>>6]
		if fcs == 0 && single {
			fcs = 1
		}
		n += fcs
		for {
			if n+3 > len(b) {
				t.Fatalf("truncated block header at %d", n)
			}
			bh := uint32(b[n]) | uint32(b[n+1])<<8 | uint32(b[n+2])<<16
			n += 3
			size := int(bh >> 3)
			if (bh>>1)&3 == 1 { // RLE: one byte
				size = 1
			}
			n += size
			if bh&1 != 0 {
				break
			}
		}
		if fhd&4 != 0 {
			n += 4 // content checksum
		}
		frames = append(frames, b[:n])
		b = b[n:]
	}
	return frames
}

// TestWriteFrames: Write cuts the plaintext into frames of FrameSize
// bytes, the trailer line alone in the last one, and the frames together
// are the plaintext a reader verifies.
func TestWriteFrames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	catalogtest.BenchCatalogAt(t, path, 30_000, 100) // about 3 MB of plaintext
	db, err := catalog.Open(t.Context(), path, &catalog.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	data, h := catalogtest.Archive(t, db)
	plain := decompress(t, data)
	frames := splitFrames(t, data)
	body := len(plain) - (len(plain) - 1 - bytes.LastIndexByte(plain[:len(plain)-1], '\n')) // before the trailer
	if want := (body+archive.FrameSize-1)/archive.FrameSize + 1; len(frames) != want || want < 3 {
		t.Fatalf("%d frames for %d plaintext bytes, want %d", len(frames), len(plain), want)
	}
	var joined []byte
	for i, f := range frames {
		p := decompress(t, f)
		switch {
		case i < len(frames)-2 && len(p) != archive.FrameSize:
			t.Errorf("frame %d holds %d bytes, want %d", i, len(p), archive.FrameSize)
		case i == len(frames)-1 && !strings.HasPrefix(string(p), `{"end":true,`):
			t.Errorf("last frame %q, want the trailer line alone", p)
		}
		joined = append(joined, p...)
	}
	if !bytes.Equal(joined, plain) {
		t.Error("the frames decompressed one by one differ from the plaintext")
	}
	rh, recs, err := archive.ReadAll(bytes.NewReader(data))
	if err != nil || *rh != *h || len(recs) != h.Files {
		t.Fatalf("ReadAll: %v, header %+v, %d records; want %+v", err, rh, len(recs), h)
	}
}

// failAfter accepts n bytes, then fails every write.
type failAfter struct{ n int }

var errDiskFull = errors.New("disk full")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errDiskFull
	}
	f.n -= len(p)
	return len(p), nil
}

// TestWriteError: a failing writer fails Write with its error, wherever
// it fails (a middle frame, the trailer's frame).
func TestWriteError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	catalogtest.BenchCatalogAt(t, path, 30_000, 100)
	db, err := catalog.Open(t.Context(), path, &catalog.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	data, _ := catalogtest.Archive(t, db)
	frames := splitFrames(t, data)
	for _, n := range []int{0, len(frames[0]), len(data) - len(frames[len(frames)-1])} {
		_, err := export.WriteArchive(t.Context(), &failAfter{n: n}, db)
		if !errors.Is(err, errDiskFull) || !strings.HasPrefix(err.Error(), "write archive: ") {
			t.Errorf("after %d bytes: Write: %v, want write archive: ...: disk full", n, err)
		}
	}
}
