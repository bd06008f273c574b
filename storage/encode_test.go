package storage_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/metactl/metactl/storage"
)

// TestGzipperDeterministic pins the header metactl writes (`gzip -n`
// style: no name, MTIME 0, XFL 0, OS Unix) and checks that the output
// decodes back and depends on the content only, also across reuse.
func TestGzipperDeterministic(t *testing.T) {
	line := []byte(`{"Identity":{"id":"0x01"}}` + "\n")
	var g1, g2 storage.Gzipper
	a := bytes.Clone(g1.Compress(line))
	g1.Compress([]byte(strings.Repeat("other content\n", 100)))
	b := bytes.Clone(g1.Compress(line))
	c := g2.Compress(line)
	if !bytes.Equal(a, b) || !bytes.Equal(a, c) {
		t.Fatalf("same content, different bytes:\n%x\n%x\n%x", a, b, c)
	}
	wantHeader := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}
	if !bytes.HasPrefix(a, wantHeader) {
		t.Errorf("header %x, want %x", a[:10], wantHeader)
	}
	got, err := storage.Decode(a, 0)
	if err != nil || !bytes.Equal(got, line) {
		t.Errorf("Decode: %q, %v; want %q", got, err, line)
	}
	empty, err := storage.Decode(bytes.Clone(g2.Compress(nil)), 0)
	if err != nil || len(empty) != 0 {
		t.Errorf("empty content: Decode gives %q, %v", empty, err)
	}
}
