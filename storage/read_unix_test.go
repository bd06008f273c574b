//go:build unix

package storage

import (
	"bytes"
	"compress/gzip"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadRest covers what readRegular does when its one read does not
// return the size fstat gave (a short read, or a file that grew since):
// it reads on to the end, refusing plain content past the limit and
// decoding gzip content as a stream.
func TestReadRest(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write([]byte(strings.Repeat("y", 3000))); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	// Incompressible content: its gzip form is larger than itself.
	noise := make([]byte, 2000)
	if _, err := rand.NewChaCha8([32]byte{1}).Read(noise); err != nil {
		t.Fatal(err)
	}
	var gzNoise bytes.Buffer
	zw = gzip.NewWriter(&gzNoise)
	if _, err := zw.Write(noise); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content []byte
		already int // bytes read before readRest
		max     int64
		want    string
		decoded bool
		wantErr string
	}{
		{name: "short read", content: []byte(strings.Repeat("x", 2000)), already: 7, max: 1 << 20, want: strings.Repeat("x", 2000)},
		{name: "nothing read yet", content: []byte("abc"), already: 0, max: 1 << 20, want: "abc"},
		{name: "grew past the limit", content: []byte(strings.Repeat("x", 2000)), already: 10, max: 1000, wantErr: "file too large: more than 1000 bytes"},
		{name: "gzip grew past the limit", content: gz.Bytes(), already: 2, max: 10, wantErr: "file too large: more than 10 bytes decompressed"},
		{name: "gzip", content: gz.Bytes(), already: 2, max: 1 << 20, want: strings.Repeat("y", 3000)},
		{name: "gzip past the limit decoded", content: gzNoise.Bytes(), already: 2, max: 2010, want: string(noise), decoded: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.meta")
			if err := os.WriteFile(path, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			data := make([]byte, tc.already)
			if _, err := f.Read(data); err != nil && tc.already > 0 {
				t.Fatal(err)
			}
			r := fdReader{fd: int(f.Fd()), dir: filepath.Dir(path), name: "f.meta"}
			got, decoded, err := r.readRest(data, tc.max)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrTooLarge) {
					t.Fatalf("readRest = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if decoded != tc.decoded {
				t.Errorf("decoded = %v, want %v", decoded, tc.decoded)
			}
			if IsGzip(got) {
				got, err = Decode(got, tc.max)
				if err != nil {
					t.Fatal(err)
				}
			}
			if string(got) != tc.want {
				t.Errorf("readRest = %d bytes, want %d", len(got), len(tc.want))
			}
		})
	}
}
