// Package api holds metactl's JSON documents, the shapes that `--json`
// prints and that `serve` answers, and the read queries that build them
// from a catalog. The CLI and the HTTP server call the same functions, so a
// document is the same bytes whichever way it is asked for (Encode writes
// them), and a remote catalog's documents decode into the same types.
//
// # Vocabulary
//
// A document is one JSON object; a query (Status, Ls, Read, Plan, Verify,
// Log) reads one committed generation in one read-only transaction and
// names it in the document's "generation". A failure is the [Error]
// document; its "exit" is the CLI's exit code ([ExitCode]).
package api
