package catalog_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/metactl/metactl/catalog"
	_ "github.com/metactl/metactl/catalog/boltstore" // plain paths
)

func TestScheme(t *testing.T) {
	for _, tc := range []struct{ location, want string }{
		{"etcd://10.0.0.1:2379,10.0.0.2:2379/metactl/prod", "etcd"},
		{"my+backend.v2://x", "my+backend.v2"},
		{"/var/lib/metactl.db", ""},
		{"metactl.db", ""},
		{"./odd/a://b", ""},   // a path that happens to contain "://"
		{"Etcd://host/p", ""}, // schemes are registered lowercase
		{"://host", ""},
		{"1etcd://host", ""}, // a scheme starts with a letter
		{"et_cd://host", ""}, // and holds letters, digits, +, . and - only
		{"e://host", "e"},
		{"a-1.b+c://host", "a-1.b+c"},
	} {
		if got := catalog.Scheme(tc.location); got != tc.want {
			t.Errorf("Scheme(%q) = %q, want %q", tc.location, got, tc.want)
		}
		if got := catalog.IsURL(tc.location); got != (tc.want != "") {
			t.Errorf("IsURL(%q) = %v, want %v", tc.location, got, tc.want != "")
		}
	}
}

// fakeDB is not a catalog: it only records that Open handed the location
// to the registered backend, with defaults filled in.
type fakeDB struct {
	catalog.DB
	location string
	opts     catalog.Options
}

func (f *fakeDB) Location() string { return f.location }

func TestOpenDispatchesOnScheme(t *testing.T) {
	catalog.Register("opentest", func(ctx context.Context, location string, o *catalog.Options) (catalog.DB, error) {
		return &fakeDB{location: location, opts: *o}, nil
	})
	db, err := catalog.Open(t.Context(), "opentest://somewhere/prefix", &catalog.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	f := db.(*fakeDB)
	if f.location != "opentest://somewhere/prefix" || !f.opts.ReadOnly || f.opts.Timeout != catalog.DefaultTimeout || f.opts.Now == nil || f.opts.Command == "" {
		t.Errorf("backend got location %q, options %+v; want the whole location and defaults filled in", f.location, f.opts)
	}

	_, err = catalog.Open(t.Context(), "nosuch://x/y", nil)
	want := `open catalog "nosuch://x/y": unknown scheme "nosuch" (registered: ` + strings.Join(catalog.Schemes(), ", ") + `; a plain path opens a catalog file)`
	if !slices.Contains(catalog.Schemes(), "opentest") {
		t.Errorf("Schemes() = %v, want it to list opentest", catalog.Schemes())
	}
	if err == nil || err.Error() != want {
		t.Errorf("unknown scheme: %v\nwant %s", err, want)
	}

	// A plain path is the bbolt backend, and a failed open is a nil
	// interface, not a typed nil.
	db, err = catalog.Open(t.Context(), filepath.Join(t.TempDir(), "missing.db"), &catalog.Options{ReadOnly: true})
	if db != nil || !errors.Is(err, catalog.ErrNoCatalog) {
		t.Errorf("read-only open of a missing file: db %v, err %v; want nil and ErrNoCatalog", db, err)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	open := func(context.Context, string, *catalog.Options) (catalog.DB, error) { return nil, nil }
	catalog.Register("twicetest", open)
	for _, scheme := range []string{"twicetest", "Bad", "no/slash", ""} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", scheme)
				}
			}()
			catalog.Register(scheme, open)
		}()
	}
}
