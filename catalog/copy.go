package catalog

import (
	"context"
	"errors"
	"fmt"
)

// Snapshotter is implemented by a DB that can write its current generation
// to a new catalog file; see [Snapshot]. Both backends of this repository
// implement it.
type Snapshotter interface {
	// Snapshot writes the current generation, journal and history
	// included, to a new catalog file at path (refused if path exists),
	// synced, and returns the generation it wrote.
	Snapshot(ctx context.Context, path string) (uint64, error)
}

// Snapshot writes the current generation of db to a new catalog file at
// path, which must not exist: a file the file backend opens, holding the
// same catalog (copy between backends, a drop-in dry run's scratch copy).
// It returns the generation written, or an error wrapping
// errors.ErrUnsupported if db's backend cannot.
func Snapshot(ctx context.Context, db DB, path string) (uint64, error) {
	s, ok := db.(Snapshotter)
	if !ok {
		return 0, fmt.Errorf("snapshot of %s: %w", db.Location(), errors.ErrUnsupported)
	}
	return s.Snapshot(ctx, path)
}

// LoadFunc makes the new catalog at location a copy of the catalog file
// at path (a [Snapshot]) and returns its generation; see [Load]. opts has
// its defaults filled in.
type LoadFunc func(ctx context.Context, location, path string, opts *Options) (uint64, error)

var loaders = map[string]LoadFunc{}

// RegisterLoad gives the backend registered under scheme a [Load]. Call
// it from the backend's init function, after Register.
func RegisterLoad(scheme string, load LoadFunc) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if backends[scheme] == nil || load == nil || loaders[scheme] != nil {
		panic(fmt.Sprintf("catalog.RegisterLoad: scheme %q not registered, registered twice, or nil LoadFunc", scheme))
	}
	loaders[scheme] = load
}

// Load makes the catalog at location, which must not hold a catalog yet,
// a copy of the catalog file at path (written by [Snapshot]): the same
// generation, files, index, digest and journal. The new catalog appears
// whole or not at all; path is left as it is. Load returns the generation
// published, an error wrapping ErrExist if location already holds a
// catalog, or one wrapping errors.ErrUnsupported if its backend has no
// Load.
func Load(ctx context.Context, location, path string, opts *Options) (uint64, error) {
	o := opts.WithDefaults()
	scheme := backendScheme(location)
	backendsMu.RLock()
	load := loaders[scheme]
	backendsMu.RUnlock()
	if load == nil {
		return 0, fmt.Errorf("load catalog %q: %w", location, errors.ErrUnsupported)
	}
	return load(ctx, location, path, o)
}
