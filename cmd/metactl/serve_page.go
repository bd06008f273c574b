//go:build unix

package main

import (
	"context"
	"net/http"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/web"
)

// page returns the coverage page's handler (package web), reading the
// catalog as every /v1 request does: opened read-only for one
// transaction, closed after it, so a writer waits at most for one request.
func (s *server) page() http.Handler {
	return web.New(web.Options{
		View: func(ctx context.Context, fn func(catalog.Tx) error) error {
			ra := *s.a
			cli := *s.a.cli
			cli.Catalog = s.catalog
			ra.cli, ra.ctx = &cli, ctx
			db, done, err := ra.openRead("serve page")
			if err != nil {
				return err
			}
			defer done()
			return db.View(ctx, fn)
		},
		Fail: s.fail,
	})
}
