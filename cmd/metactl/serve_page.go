//go:build unix

package main

import (
	"context"
	"net/http"
	"time"

	"github.com/metactl/metactl/serve"
	"github.com/metactl/metactl/web"
)

// page returns the coverage page's handler (package web), reading the
// catalog as every /v1 request does: opened read-only for one
// transaction, closed after it, so a writer waits at most for one request
// (or for the computation of one generation's document). Until ctx ends,
// the document of each new generation is computed ahead of the pages that
// will ask for it ([web.Handler.Watch]).
func page(ctx context.Context, s *serve.Server) http.Handler {
	h := web.New(web.Options{View: s.View, Fail: s.Fail, NotFound: s.NotFound()})
	go h.Watch(ctx, time.Second)
	return h
}
