//go:build unix

package main

import (
	"net/http"

	"github.com/metactl/metactl/serve"
	"github.com/metactl/metactl/web"
)

// page returns the coverage page's handler (package web), reading the
// catalog as every /v1 request does: opened read-only for one
// transaction, closed after it, so a writer waits at most for one request.
func page(s *serve.Server) http.Handler {
	return web.New(web.Options{View: s.View, Fail: s.Fail, NotFound: s.NotFound()})
}
