//go:build unix

package main

import (
	"context"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/workflow"
)

// appCatalog is --catalog as a [workflow.Catalog]: the app's checks and
// openers. The app opens with its own context, the one it passes to every
// workflow.
type appCatalog struct{ a *app }

var _ workflow.Catalog = appCatalog{}

func (c appCatalog) Location() string { return c.a.cli.Catalog }
func (c appCatalog) Options(readOnly bool, command string) *catalog.Options {
	return c.a.options(readOnly, command)
}
func (c appCatalog) CheckWrite() error { return checkCatalogPath(c.a.cli.Catalog, true) }
func (c appCatalog) Exists() bool      { return c.a.catalogExists() }
func (c appCatalog) OpenRead(_ context.Context, command string) (catalog.DB, func(), error) {
	return c.a.openRead(command)
}
func (c appCatalog) OpenWrite(_ context.Context, command string) (catalog.DB, error) {
	return c.a.openWrite(command)
}
func (c appCatalog) OpenExisting(_ context.Context, command string) (catalog.DB, error) {
	return c.a.openExisting(command)
}
func (c appCatalog) RemoveIfFresh(existed bool) { c.a.removeIfFresh(existed) }

// hooks are the app's warnings and progress, for a workflow.
func (a *app) hooks() workflow.Hooks {
	return workflow.Hooks{Warn: a.warn, Working: a.working}
}

// warn prints the warnings on stderr, one per line; the --json document
// lists them too.
func (a *app) warn(ws []importer.Warning) {
	for _, w := range ws {
		a.warnf("%s", w)
	}
}

// copyCatalog copies the catalog of --catalog, whatever its backend, to a
// new catalog file at path (a drop-in dry run syncs into such a copy): a
// snapshot of its current generation, as copy makes.
func (a *app) copyCatalog(ctx context.Context, path string) error {
	db, done, err := a.openRead("compact --dry-run")
	if err != nil {
		return err
	}
	defer done()
	_, err = catalog.Snapshot(ctx, db, path)
	return err
}
