package serve

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/catalog"
)

// Paths of the API; Handle adds others.
const (
	PathStatus  = "/v1/status"
	PathLs      = "/v1/ls"
	PathRead    = "/v1/read"
	PathPlan    = "/v1/plan"
	PathVerify  = "/v1/verify"
	PathLog     = "/v1/log"
	PathArchive = "/v1/archive"
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
	PathMetrics = "/metrics"
)

// MaxPage is the largest page of a paged listing (limit).
const MaxPage = 10000

func (s *Server) routes() {
	s.mux.Handle(PathStatus, s.wrap(PathStatus, classPriority, s.status))
	s.mux.Handle(PathLs, s.wrap(PathLs, classNormal, s.ls))
	s.mux.Handle(PathRead, s.wrap(PathRead, classNormal, s.read))
	s.mux.Handle(PathPlan, s.wrap(PathPlan, classNormal, s.plan))
	s.mux.Handle(PathVerify, s.wrap(PathVerify, classNormal, s.verify))
	s.mux.Handle(PathLog, s.wrap(PathLog, classNormal, s.log))
	s.mux.Handle(PathArchive, s.wrap(PathArchive, classNormal, s.archive))
	s.mux.Handle(PathHealthz, s.wrap(PathHealthz, classUncapped, s.healthz))
	s.mux.Handle(PathReadyz, s.wrap(PathReadyz, classUncapped, s.readyz))
	s.mux.Handle(PathMetrics, s.wrap(PathMetrics, classUncapped, func(w http.ResponseWriter, r *http.Request) error {
		s.m.handler.ServeHTTP(w, r)
		return nil
	}))
}

// NotFound answers 404 with the error document, for a path no route
// serves; Handler uses it for "/" unless a route was added there.
func (s *Server) NotFound() http.Handler {
	return s.wrap("other", classUncapped, func(w http.ResponseWriter, r *http.Request) error {
		return &statusError{http.StatusNotFound, api.UsageError{Err: fmt.Errorf("%s: no such path (see 'metactl serve --help')", r.URL.Path)}}
	})
}

// Fail answers err as the error document, with the status its kind asks
// for (for handlers added with Handle).
func (s *Server) Fail(w http.ResponseWriter, r *http.Request, err error) { s.fail(w, r, err) }

// View runs fn in one read-only transaction of the catalog, opened for it
// and closed after it as every request does (for handlers added with
// Handle).
func (s *Server) View(ctx context.Context, fn func(catalog.Tx) error) error {
	db, err := s.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(ctx, fn)
}

// HealthHandler answers /healthz and /readyz only, for a separate plain
// listener that probes reach without credentials.
func (s *Server) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(PathHealthz, s.wrap(PathHealthz, classUncapped, s.healthz))
	mux.Handle(PathReadyz, s.wrap(PathReadyz, classUncapped, s.readyz))
	mux.Handle("/", s.wrap("other", classUncapped, func(w http.ResponseWriter, r *http.Request) error {
		return &statusError{http.StatusNotFound, api.UsageError{Err: fmt.Errorf("%s: this listener answers /healthz and /readyz only", r.URL.Path)}}
	}))
	return mux
}

// withDB opens the catalog for one request; 304 when the client holds the
// current generation's document already.
func (s *Server) withDB(w http.ResponseWriter, r *http.Request, fn func(db catalog.DB) error) error {
	db, err := s.open(r.Context())
	if err != nil {
		return err
	}
	defer db.Close()
	if r.Header.Get("If-None-Match") != "" {
		var g uint64
		if err := db.View(r.Context(), func(tx catalog.Tx) error { g = tx.Generation(); return nil }); err != nil {
			return err
		}
		if notModified(r, etag(g)) {
			begin(w, r, g, http.StatusOK)
			return nil
		}
	}
	return fn(db)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) error {
	q, err := params(r, []string{"coverage"})
	if err != nil {
		return err
	}
	withCoverage, err := q.bool("coverage")
	if err != nil {
		return err
	}
	if withCoverage {
		// It reads the whole view index.
		release, err := s.takeExpensive()
		if err != nil {
			return err
		}
		defer release()
	}
	return s.withDB(w, r, func(db catalog.DB) error {
		doc, _, err := api.StatusOf(r.Context(), db, withCoverage)
		if err != nil {
			return err
		}
		return writeDoc(w, r, doc.Generation, http.StatusOK, doc)
	})
}

func (s *Server) read(w http.ResponseWriter, r *http.Request) error {
	q, err := params(r, []string{"handle"}, "handle")
	if err != nil {
		return err
	}
	if len(q["handle"]) == 0 {
		return paramError("handle", "give at least one")
	}
	return s.withDB(w, r, func(db catalog.DB) error {
		doc, err := api.ReadOf(r.Context(), db, q["handle"])
		if err != nil {
			return err
		}
		return writeDoc(w, r, doc.Generation, http.StatusOK, doc)
	})
}

func (s *Server) plan(w http.ResponseWriter, r *http.Request) error {
	q, err := params(r, []string{"target_version", "ledger_history_start_version", "replay_all", "strict"})
	if err != nil {
		return err
	}
	var req api.PlanRequest
	if req.TargetVersion, err = q.uint("target_version"); err != nil {
		return err
	}
	if req.LedgerHistoryStartVersion, err = q.uint("ledger_history_start_version"); err != nil {
		return err
	}
	if req.ReplayAll, err = q.bool("replay_all"); err != nil {
		return err
	}
	if req.Strict, err = q.bool("strict"); err != nil {
		return err
	}
	// A plan builds the view (tens of MB for 100k files).
	release, err := s.takeExpensive()
	if err != nil {
		return err
	}
	defer release()
	return s.withDB(w, r, func(db catalog.DB) error {
		doc, err := api.PlanOf(r.Context(), db, req)
		if doc == nil {
			return err
		}
		status := http.StatusOK
		if err != nil {
			status, _ = httpStatus(err)
		}
		return writeDoc(w, r, doc.Generation, status, doc)
	})
}

func (s *Server) log(w http.ResponseWriter, r *http.Request) error {
	q, err := params(r, []string{"n", "files"})
	if err != nil {
		return err
	}
	limit := uint64(20) // as log's -n
	if n, err := q.uint("n"); err != nil {
		return err
	} else if n != nil {
		limit = *n
	}
	if _, err := q.bool("files"); err != nil {
		return err // the document always lists the files; accepted for the CLI's --files
	}
	return s.withDB(w, r, func(db catalog.DB) error {
		doc, err := api.LogOf(r.Context(), db, int(min(limit, 1<<31)))
		if err != nil {
			return err
		}
		return writeDoc(w, r, doc.Generation, http.StatusOK, doc)
	})
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) error {
	if _, err := params(r, nil); err != nil {
		return err
	}
	g, err := s.currentGeneration(r.Context())
	if err != nil {
		return err
	}
	if notModified(r, etag(g)) {
		begin(w, r, g, http.StatusOK)
		return nil
	}
	gen := s.generation(g)
	doc, ok := gen.verify.peek()
	if !ok {
		release, err := s.takeExpensive()
		if err != nil {
			return err
		}
		defer release()
		if doc, err = gen.verify.get(r.Context(), func() (*api.Verify, error) { return s.buildVerify(g) }); err != nil {
			return err
		}
	}
	return writeDoc(w, r, doc.Generation, http.StatusOK, doc)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
	return nil
}

// readyz is 200 when the catalog opens, within BusyTimeout.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	g, err := s.currentGeneration(r.Context())
	s.up.Store(err == nil)
	if err != nil {
		return &statusError{http.StatusServiceUnavailable, fmt.Errorf("not ready: %w", err)}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Metactl-Generation", itoa(g))
	io.WriteString(w, "ok\n")
	return nil
}

// archive streams the current generation's archive, built once per
// generation into the scratch folder; each client reads its own
// descriptor, so a stalled one holds a descriptor and nothing more, until
// the write deadline cuts it off.
func (s *Server) archive(w http.ResponseWriter, r *http.Request) error {
	if _, err := params(r, nil); err != nil {
		return err
	}
	g, err := s.currentGeneration(r.Context())
	if err != nil {
		return err
	}
	gen := s.generation(g)
	a, ok := gen.archive.peek()
	if !ok {
		release, err := s.takeExpensive()
		if err != nil {
			return err
		}
		a, err = gen.archive.get(r.Context(), func() (*archiveFile, error) { return s.buildArchive(g) })
		release()
		if err != nil {
			return err
		}
	}
	f, err := os.Open(a.path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("X-Metactl-Generation", itoa(a.gen))
	h.Set("ETag", `"`+itoa(a.gen)+`"`)
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", fmt.Sprintf("metactl-%d.mcar", a.gen)))
	// Streaming a file is not work: the slot goes to the next request,
	// so a slow or stalled reader holds a descriptor and nothing more.
	if rec, ok := w.(*recorder); ok {
		rec.releaseWorker()
	}
	http.ServeContent(&progressWriter{w, http.NewResponseController(w), s.opts.WriteTimeout}, r, "", a.modTime, f)
	return nil
}

// progressWriter moves the write deadline on at every write: a long
// download goes on while it progresses, a stalled client is cut off.
type progressWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.rc.SetWriteDeadline(time.Now().Add(p.d))
	return p.ResponseWriter.Write(b)
}

// ls answers the listing: whole (an expensive request), or a page of at
// most limit files with a continue token that pins the generation of the
// first page.
func (s *Server) ls(w http.ResponseWriter, r *http.Request) error {
	q, err := params(r, []string{"state", "limit", "continue"})
	if err != nil {
		return err
	}
	state, err := api.ParseState(q.get("state"))
	if err != nil {
		return paramError("state", "%v", err)
	}
	limit, err := q.uint("limit")
	if err != nil {
		return err
	}
	if limit != nil && (*limit < 1 || *limit > MaxPage) {
		return paramError("limit", "want 1 to %d, got %d", MaxPage, *limit)
	}
	var tok *lsToken
	if q.has("continue") {
		if tok, err = parseToken(q.get("continue"), state); err != nil {
			return err
		}
		if limit == nil {
			l := uint64(1000)
			limit = &l
		}
	}
	if limit == nil {
		release, err := s.takeExpensive()
		if err != nil {
			return err
		}
		defer release()
	}
	var l *listing
	if tok != nil {
		gen := s.held(tok.gen)
		if gen == nil {
			return &statusError{http.StatusGone, api.UsageError{Err: fmt.Errorf("query parameter %q: generation %d is no longer held by this server: list again without continue", "continue", tok.gen)}}
		}
		if l, err = gen.listing.get(r.Context(), func() (*listing, error) {
			return nil, fmt.Errorf("generation %d was not listed", tok.gen)
		}); err != nil {
			return &statusError{http.StatusGone, api.UsageError{Err: fmt.Errorf("query parameter %q: %w: list again without continue", "continue", err)}}
		}
	} else if l, err = s.currentListing(r); err != nil {
		return err
	}
	if tok == nil && notModified(r, etag(l.gen)) {
		begin(w, r, l.gen, http.StatusOK)
		return nil
	}
	from := 0
	if tok != nil {
		from = tok.next
	}
	out, finish := begin(w, r, l.gen, http.StatusOK)
	if out == nil {
		return nil
	}
	bw := &errWriter{w: out}
	fmt.Fprintf(bw, "{\n  \"generation\": %d,\n  \"files\": [", l.gen)
	n, i := 0, from
	for ; i < len(l.ends); i++ {
		if state != 0 && l.states[i] != state {
			continue
		}
		if limit != nil && uint64(n) == *limit {
			break
		}
		if n == 0 {
			bw.write("\n    ")
		} else {
			bw.write(",\n    ")
		}
		bw.writeBytes(l.row(i))
		n++
	}
	// More only if a file of the state follows.
	for ; i < len(l.ends) && state != 0 && l.states[i] != state; i++ {
	}
	if n > 0 {
		bw.write("\n  ")
	}
	bw.write("]")
	if limit != nil && i < len(l.ends) {
		fmt.Fprintf(bw, ",\n  \"continue\": %q", (&lsToken{gen: l.gen, next: i, state: state}).String())
	}
	bw.write("\n}\n")
	if bw.err != nil {
		return bw.err
	}
	return finish()
}

// currentListing returns the listing of the generation the catalog is
// at, built once per generation.
func (s *Server) currentListing(r *http.Request) (*listing, error) {
	db, err := s.open(r.Context())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// The generation is read in one transaction and listed in another: a
	// writer that commits in between makes the listing another
	// generation's. It is built again for the new generation, a few
	// times, before the client is told to retry.
	for attempt := 1; ; attempt++ {
		var g uint64
		if err := db.View(r.Context(), func(tx catalog.Tx) error { g = tx.Generation(); return nil }); err != nil {
			return nil, err
		}
		gen := s.generation(g)
		l, err := gen.listing.get(r.Context(), func() (*listing, error) {
			l, err := s.buildListing(s.ctx, db)
			if err == nil && l.gen != g {
				err = &unavailableError{fmt.Errorf("ls: %w from generation %d while it was listed", errMovedOn, g)}
			}
			return l, err
		})
		if errors.Is(err, errMovedOn) && attempt < listingAttempts {
			continue
		}
		return l, err
	}
}

// errMovedOn marks a listing that a writer overtook; listingAttempts
// bounds how often currentListing builds it again.
var errMovedOn = errors.New("the catalog moved on")

const listingAttempts = 5

// lsToken is the continue token: the generation of the first page, the
// index of the next file, and the state asked for.
type lsToken struct {
	gen   uint64
	next  int
	state catalog.State
}

func (t *lsToken) String() string {
	st := "all"
	if t.state != 0 {
		st = t.state.String()
	}
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "v1:%d:%d:%s", t.gen, t.next, st))
}

func parseToken(s string, state catalog.State) (*lsToken, error) {
	bad := paramError("continue", "not a token this server gave")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 4 || parts[0] != "v1" {
		return nil, bad
	}
	gen, err1 := strconv.ParseUint(parts[1], 10, 64)
	next, err2 := strconv.Atoi(parts[2])
	st, err3 := api.ParseState(parts[3])
	if err1 != nil || err2 != nil || err3 != nil || next < 0 {
		return nil, bad
	}
	if st != state {
		return nil, paramError("continue", "the token lists state %s; give the same state as the first page", parts[3])
	}
	return &lsToken{gen: gen, next: next, state: st}, nil
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
	return len(b), nil
}

func (e *errWriter) write(s string)      { io.WriteString(e, s) }
func (e *errWriter) writeBytes(b []byte) { e.Write(b) }
