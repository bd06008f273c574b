// Package serve is metactl's HTTP server: the read-only documents of the
// api package, the catalog as an archive, health, readiness and metrics,
// for pods that must not open the catalog themselves.
//
// # Invariants
//
//   - Every /v1 document is built by the api function the CLI calls, from
//     one read-only transaction, and carries its generation
//     (X-Metactl-Generation, and a weak ETag W/"G" that If-None-Match
//     answers with 304).
//   - The catalog is opened for each request and closed after it, with a
//     short lock wait (Options.BusyTimeout): a writer in another process
//     waits at most for the requests running, and a busy or unreachable
//     catalog answers 503 with Retry-After instead of a hang.
//   - Resources are bounded: requests in flight (Options.MaxRequests),
//     expensive ones (verify, plan, status with coverage, an archive
//     build, a full listing;
//     Options.MaxExpensive), open connections (Options.MaxConns: a new one
//     closes the longest-idle), header, idle and write deadlines. Excess
//     load gets 503 with Retry-After, never an unbounded queue.
//   - What a generation costs to compute (its archive, its verify report,
//     its listing) is computed once and shared by every request for that
//     generation; the newest Options.KeepGenerations generations are kept.
//     An archive is one file per generation in the server's own scratch
//     folder, streamed to each client from its own descriptor.
//   - Every non-2xx answer is the [api.Error] document (a failed plan is its
//     plan document, whose "error" has the same shape).
package serve
