package importer

import (
	"fmt"
	"math"
	"testing"

	"github.com/metactl/metactl/storage"
)

func TestProvenanceRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		source, folder string
		st             storage.Stat
	}{
		{"local-fs:/data/storage", "metadata", storage.Stat{Size: 134, ModTime: 1796575413356772039}},
		{"archive:local-fs:/a (b)", "metadata_backup", storage.Stat{Size: 0, ModTime: 0}},
		{"", "metadata", storage.Stat{Size: math.MaxInt64, ModTime: 1}},
	} {
		p := Provenance(tc.source, tc.folder, tc.st)
		// The text recorded in catalogs since stats were recorded.
		if want := fmt.Sprintf("%s (%s/ %d bytes, mtime %d)", tc.source, tc.folder, tc.st.Size, tc.st.ModTime); p != want {
			t.Errorf("Provenance = %q, want %q", p, want)
		}
		src, folder, st, ok := splitProvenance(p)
		if !ok || src != tc.source || folder != tc.folder || st != tc.st {
			t.Errorf("%q: got %q %q %+v %v", p, src, folder, st, ok)
		}
	}
	// A file dated before 1970 gets the same text (which splitProvenance
	// does not take back: its stat is not trusted to skip a read).
	if p, want := Provenance("s", "metadata", storage.Stat{Size: 1, ModTime: math.MinInt64}), "s (metadata/ 1 bytes, mtime -9223372036854775808)"; p != want {
		t.Errorf("Provenance = %q, want %q", p, want)
	}
	for _, bad := range []string{"", "local-fs:/x", "x (metadata/ 1 bytes, mtime 2", "x (other/ 1 bytes, mtime 2)",
		"x (metadata/ -1 bytes, mtime 2)", "x (metadata/ 1 bytes, mtime )", "x (metadata/ 1 bytes mtime 2)"} {
		if _, _, _, ok := splitProvenance(bad); ok {
			t.Errorf("%q parsed as a provenance with a stat", bad)
		}
	}
}
