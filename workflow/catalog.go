package workflow

import (
	"context"
	"fmt"
	"strings"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
)

// Catalog is the catalog a workflow works on. The command implements it
// from its flags (the location, the lock timeout, archives read as
// catalogs); a workflow opens the catalog only through it.
type Catalog interface {
	// Location is the catalog's location: a file path or a URL.
	Location() string
	// Options are the options to open the catalog with for command.
	Options(readOnly bool, command string) *catalog.Options
	// CheckWrite refuses a location that cannot hold a catalog to write,
	// before anything is read.
	CheckWrite() error
	// Exists reports whether the catalog exists (a location behind a URL
	// counts as existing).
	Exists() bool
	// OpenRead opens the catalog read-only; done closes it and removes
	// anything opening it created.
	OpenRead(ctx context.Context, command string) (db catalog.DB, done func(), err error)
	// OpenWrite opens the catalog for one write transaction, creating it
	// if it is missing.
	OpenWrite(ctx context.Context, command string) (catalog.DB, error)
	// OpenExisting is OpenWrite for a workflow that cannot start a
	// catalog: a missing one is refused.
	OpenExisting(ctx context.Context, command string) (catalog.DB, error)
	// RemoveIfFresh removes the catalog if it did not exist before
	// (existed false) and no write was committed to it.
	RemoveIfFresh(existed bool)
}

// Hooks are how a workflow reports while it runs. Nil fields do nothing.
type Hooks struct {
	// Warn receives the warnings of a step as soon as the step ends.
	Warn func([]importer.Warning)
	// Working reports work that cannot count; the returned function is
	// called when the work ends.
	Working func(what string) (done func())
}

func (h Hooks) warn(ws []importer.Warning) {
	if h.Warn != nil {
		h.Warn(ws)
	}
}

func (h Hooks) working(what string) func() {
	if h.Working == nil {
		return func() {}
	}
	return h.Working(what)
}

// withOp names the operation in front of err, once: an error that
// already starts with it is returned as it is.
func withOp(op string, err error) error {
	if msg := err.Error(); strings.HasPrefix(msg, op+":") || strings.HasPrefix(msg, op+" ") {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}
