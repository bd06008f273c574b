package catalogtest

import (
	"bytes"
	"testing"

	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/export"
)

// Archive returns db written as an archive (export.WriteArchive), and its header.
func Archive(t testing.TB, db catalog.DB) ([]byte, *archive.Header) {
	t.Helper()
	var buf bytes.Buffer
	h, err := export.WriteArchive(t.Context(), &buf, db)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), h
}
