package workflow_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
	"github.com/metactl/metactl/workflow"
)

// TestClassify: what a location names, and which ones Check refuses for
// reading and for writing, with the exact error.
func TestClassify(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	meta := write("x.meta", catalogtest.Content(catalogtest.Transaction(0, 9, "t/m")))
	arc := write("a.mcar", []byte{0x28, 0xb5, 0x2f, 0xfd, 0})
	cat := filepath.Join(dir, "metactl.db")
	catalogtest.OpenManual(t, catalogtest.Options{Path: cat}).Close()
	other := write("other", []byte("hello\n"))
	for _, tc := range []struct {
		location   string
		kind       workflow.Kind
		read, wrte string
	}{
		{filepath.Join(dir, "missing.db"), workflow.Missing, "", ""},
		{"etcd://127.0.0.1:2379/p", workflow.URL, "", ""},
		{cat, workflow.CatalogFile, "", ""},
		{other, workflow.CatalogFile, "", ""}, // damage is catalog.Open's to report
		{dir, workflow.Directory, "catalog " + dir + " is a directory, not a catalog file", "catalog " + dir + " is a directory, not a catalog file"},
		{meta, workflow.MetadataFile, "catalog " + meta + " is a metadata file, not a catalog", "catalog " + meta + " is a metadata file, not a catalog"},
		{arc, workflow.ArchiveFile, "", "catalog " + arc + " is an archive, and a write needs a catalog"},
		{"/dev/null", workflow.Special, "", ""},
	} {
		if k := workflow.Classify(tc.location); k != tc.kind {
			t.Errorf("Classify(%s) = %v, want %v", tc.location, k, tc.kind)
		}
		for _, c := range []struct {
			write bool
			want  string
		}{{false, tc.read}, {true, tc.wrte}} {
			err := workflow.Check(tc.location, c.write)
			if c.want == "" && err != nil || c.want != "" && (err == nil || err.Error() != c.want || !errors.Is(err, catalog.ErrNotCatalog)) {
				t.Errorf("Check(%s, write %v) = %v, want %q", tc.location, c.write, err, c.want)
			}
		}
	}
}

// TestOpenExistingCreatesNothing: a write that cannot start a catalog is
// refused on a missing one, through the open mode, leaving nothing.
func TestOpenExistingCreatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metactl.db")
	l := &workflow.Location{Path: path, Opts: func(ro bool, cmd string) *catalog.Options {
		return &catalog.Options{ReadOnly: ro, Command: cmd}
	}}
	if _, err := l.OpenExisting(t.Context(), "cleanup"); !errors.Is(err, catalog.ErrNoCatalog) {
		t.Fatalf("OpenExisting of a missing catalog: %v, want ErrNoCatalog", err)
	}
	if l.Exists() {
		t.Errorf("OpenExisting left a catalog behind")
	}
}
