package importer

import (
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
	} {
		p := Provenance(tc.source, tc.folder, tc.st)
		src, folder, st, ok := splitProvenance(p)
		if !ok || src != tc.source || folder != tc.folder || st != tc.st {
			t.Errorf("%q: got %q %q %+v %v", p, src, folder, st, ok)
		}
	}
	for _, bad := range []string{"", "local-fs:/x", "x (metadata/ 1 bytes, mtime 2", "x (other/ 1 bytes, mtime 2)",
		"x (metadata/ -1 bytes, mtime 2)", "x (metadata/ 1 bytes, mtime )", "x (metadata/ 1 bytes mtime 2)"} {
		if _, _, _, ok := splitProvenance(bad); ok {
			t.Errorf("%q parsed as a provenance with a stat", bad)
		}
	}
}
