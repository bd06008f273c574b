// Package remote reads a catalog that `metactl serve` serves, for
// `--catalog http(s)://HOST:PORT`: each read-only query is one request,
// answered from one generation, and decodes into the same api document the
// local catalog gives, so the output is the same bytes. A command that needs
// the whole catalog (export) fetches the generation's archive (Archive) and
// reads that, so it too sees one generation.
//
// A remote catalog is read-only: writes are refused by the CLI before any
// request.
package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/catalog"
)

// IsURL reports whether a catalog location names a served catalog
// (http:// or https://).
func IsURL(location string) bool {
	return strings.HasPrefix(location, "http://") || strings.HasPrefix(location, "https://")
}

// Options are the connection settings, named as the etcd ones are.
type Options struct {
	// CACert verifies the server's certificate with this PEM bundle
	// instead of the system's.
	CACert string
	// Cert and Key are a client certificate, for a server that asks for
	// one.
	Cert, Key string
	// User and Password are HTTP basic auth; User may be "name:password".
	User, Password string
	// Timeout bounds each request's wait for response headers (0: 30s);
	// a body (an archive) may take longer.
	Timeout time.Duration
	// Wait is how long a request answered 503 (busy, a cap reached) is
	// tried again, after the Retry-After the server names; 0: not at all.
	// The CLI passes --lock-timeout, as a local catalog's lock wait.
	Wait time.Duration
}

// Client reads one served catalog.
type Client struct {
	base           *url.URL
	http           *http.Client
	user, password string
	wait           time.Duration
}

// New makes a client for the catalog at location (http(s)://host:port,
// an optional path prefix).
func New(location string, opts Options) (*Client, error) {
	u, err := url.Parse(location)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, api.UsageError{Err: fmt.Errorf("remote catalog %q: want http(s)://HOST:PORT", location)}
	}
	if u.User != nil {
		return nil, api.UsageError{Err: fmt.Errorf("remote catalog %q: put credentials in METACTL_HTTP_USER and METACTL_HTTP_PASSWORD, not in the URL", u.Redacted())}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.CACert != "" {
		pem, err := os.ReadFile(opts.CACert)
		if err != nil {
			return nil, fmt.Errorf("remote catalog: CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("remote catalog: CA bundle %q holds no PEM certificate", opts.CACert)
		}
		tlsConf.RootCAs = pool
	}
	if opts.Cert != "" || opts.Key != "" {
		cert, err := tls.LoadX509KeyPair(opts.Cert, opts.Key)
		if err != nil {
			return nil, fmt.Errorf("remote catalog: client certificate: %w", err)
		}
		tlsConf.Certificates = []tls.Certificate{cert}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	tr.ResponseHeaderTimeout = timeout
	user, password := opts.User, opts.Password
	if name, pw, ok := strings.Cut(user, ":"); ok {
		user, password = name, pw
	}
	return &Client{base: u, http: &http.Client{Transport: tr}, user: user, password: password, wait: opts.Wait}, nil
}

// Error is a failure the server answered: its error document, whose exit
// code the CLI exits with.
type Error struct {
	Status     int
	Body       api.ErrorBody
	retryAfter int // seconds, from Retry-After
}

func (e *Error) Error() string { return e.Body.Message }

// ExitCode is the exit code the server's document names.
func (e *Error) ExitCode() int {
	if e.Body.Exit != 0 {
		return e.Body.Exit
	}
	return api.ExitError
}

// Is makes a 404 match catalog.ErrNotFound.
func (e *Error) Is(target error) bool {
	return target == catalog.ErrNotFound && e.Status == http.StatusNotFound
}

// get requests path with q and returns the response; a non-2xx answer is
// an *Error (its body read), except the statuses in keep, whose body the
// caller decodes.
func (c *Client) get(ctx context.Context, path string, q url.Values, keep ...int) (*http.Response, error) {
	deadline := time.Now().Add(c.wait)
	for {
		resp, err := c.get1(ctx, path, q, keep...)
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable {
			return resp, err
		}
		pause := time.Duration(max(1, min(e.retryAfter, 5))) * time.Second
		if time.Now().Add(pause).After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
}

func (c *Client) get1(ctx context.Context, path string, q url.Values, keep ...int) (*http.Response, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("remote catalog %s: %w", c.base.Redacted(), err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	for _, k := range keep {
		if resp.StatusCode == k {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	var doc api.Error
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if json.Unmarshal(b, &doc) != nil || doc.Error.Message == "" {
		msg := strings.TrimSpace(string(b))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if resp.StatusCode == http.StatusUnauthorized {
			msg = "unauthorized: give METACTL_HTTP_USER and METACTL_HTTP_PASSWORD"
		}
		doc.Error = api.ErrorBody{Code: api.ErrorCodes[api.ExitError], Exit: api.ExitError,
			Message: fmt.Sprintf("remote catalog %s: %s: %s", c.base.Redacted(), resp.Status, msg)}
	}
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return nil, &Error{Status: resp.StatusCode, Body: doc.Error, retryAfter: retry}
}

// doc requests path and decodes the JSON document into v.
func (c *Client) doc(ctx context.Context, path string, q url.Values, v any, keep ...int) (int, error) {
	resp, err := c.get(ctx, path, q, keep...)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return 0, fmt.Errorf("remote catalog %s: %s: %w", c.base.Redacted(), path, err)
	}
	return resp.StatusCode, nil
}

// Status is `status`, with the coverage if asked for.
func (c *Client) Status(ctx context.Context, withCoverage bool) (*api.Status, error) {
	q := url.Values{}
	if withCoverage {
		q.Set("coverage", "true")
	}
	var out api.Status
	_, err := c.doc(ctx, "/v1/status", q, &out)
	return &out, err
}

// Ls is `ls`; a zero state lists every file. It reads the listing in
// pages (cheap for the server, where a whole listing is an expensive
// request), all of one generation: the first page's, which the continue
// token pins. A server that no longer holds that generation (two writes
// since) answers 410, and the listing starts again, up to three times.
func (c *Client) Ls(ctx context.Context, state catalog.State) (*api.Ls, error) {
	var err error
	for range 3 {
		var out *api.Ls
		if out, err = c.ls(ctx, state); err == nil {
			return out, nil
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusGone {
			break
		}
	}
	return nil, err
}

func (c *Client) ls(ctx context.Context, state catalog.State) (*api.Ls, error) {
	q := url.Values{"limit": {strconv.Itoa(pageSize)}}
	if state != 0 {
		q.Set("state", state.String())
	}
	out := &api.Ls{Files: []api.LsFile{}}
	for first := true; ; first = false {
		var page api.Ls
		if _, err := c.doc(ctx, "/v1/ls", q, &page); err != nil {
			return nil, err
		}
		if first {
			out.Generation = page.Generation
		} else if page.Generation != out.Generation {
			return nil, fmt.Errorf("remote catalog %s: a page of generation %d in a listing of %d", c.base.Redacted(), page.Generation, out.Generation)
		}
		out.Files = append(out.Files, page.Files...)
		if page.Continue == "" {
			return out, nil
		}
		q.Set("continue", page.Continue)
	}
}

// pageSize is the listing's page: serve's largest (serve.MaxPage).
var pageSize = 10000

// Read is `read`: the named files, from one generation.
func (c *Client) Read(ctx context.Context, handles []string) (*api.Read, error) {
	var out api.Read
	_, err := c.doc(ctx, "/v1/read", url.Values{"handle": handles}, &out)
	return &out, err
}

// Plan is `plan`. A plan that fails is a document too: it is returned
// with its failure as the error.
func (c *Client) Plan(ctx context.Context, req api.PlanRequest) (*api.Plan, error) {
	q := url.Values{}
	if v := req.TargetVersion; v != nil {
		q.Set("target_version", strconv.FormatUint(*v, 10))
	}
	if v := req.LedgerHistoryStartVersion; v != nil {
		q.Set("ledger_history_start_version", strconv.FormatUint(*v, 10))
	}
	if req.ReplayAll {
		q.Set("replay_all", "true")
	}
	if req.Strict {
		q.Set("strict", "true")
	}
	var out api.Plan
	if _, err := c.doc(ctx, "/v1/plan", q, &out, http.StatusUnprocessableEntity); err != nil {
		return nil, err
	}
	if out.Error != nil {
		return &out, &Error{Status: http.StatusUnprocessableEntity, Body: *out.Error}
	}
	return &out, nil
}

// Verify is `verify`.
func (c *Client) Verify(ctx context.Context) (*api.Verify, error) {
	var out api.Verify
	_, err := c.doc(ctx, "/v1/verify", nil, &out)
	if err == nil && out.Report == nil {
		err = fmt.Errorf("remote catalog %s: /v1/verify: no report", c.base.Redacted())
	}
	return &out, err
}

// Log is `log`: at most limit operations, all for limit <= 0.
func (c *Client) Log(ctx context.Context, limit int) (*api.Log, error) {
	var out api.Log
	_, err := c.doc(ctx, "/v1/log", url.Values{"n": {strconv.Itoa(max(limit, 0))}}, &out)
	return &out, err
}

// Archive writes the current generation's archive to w and returns that
// generation.
func (c *Client) Archive(ctx context.Context, w io.Writer) (uint64, error) {
	resp, err := c.get(ctx, "/v1/archive", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	gen, _ := strconv.ParseUint(resp.Header.Get("X-Metactl-Generation"), 10, 64)
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return 0, fmt.Errorf("remote catalog %s: archive: %w", c.base.Redacted(), err)
	}
	return gen, nil
}
