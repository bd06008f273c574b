// Package web serves metactl's coverage page: one self-contained HTML
// document at "/" (its script and style are embedded in the binary with
// go:embed and inlined into the page; it uses the system's fonts, so it
// makes no request anywhere but its own origin), and the data it polls.
//
// # What the handler serves
//
//	GET /               the page
//	GET /coverage.json  the coverage.Report of the current generation, with
//	                    its SVG drawing ("svg"), computed in one read-only
//	                    transaction
//	GET /coverage.svg   the same drawing alone
//
// Anything else goes to Options.NotFound. The page also polls serve's own
// documents, by relative URL and from the same origin (so it works behind
// basic auth, TLS and a path prefix): v1/status, v1/log and v1/verify.
//
// # Staying current without lying
//
//   - coverage.json and coverage.svg carry an ETag made of the generation
//     and the view digest, and answer If-None-Match with 304 after reading
//     only those two (one short read transaction); the page sends the ETag
//     of every document it holds, so polling an idle catalog costs a few
//     key reads.
//   - The document of a generation is computed once, by one request at a
//     time, and kept until the generation changes: many open pages cost
//     one computation per generation.
//   - Every read is one read-only transaction through Options.View, which
//     serve implements by opening the catalog for the request and closing
//     it after, so a writer in another process waits at most for one
//     request (the page never blocks a writer for longer).
//   - The page shows the generation each part was read at, and when a poll
//     fails or no poll succeeded for a while it says STALE, with the time
//     of the numbers it still shows and the error, instead of showing old
//     numbers as current.
//
// # Scale
//
// The timeline comes from the view's entry index, aggregated by package
// coverage into at most a few thousand segments per row; the page never
// lists files. BenchmarkCoverageJSON measures the whole answer.
package web
