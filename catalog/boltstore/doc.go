// Package boltstore is the embedded catalog backend: one catalog in one
// bbolt file. It registers itself with package catalog for plain paths
// ([catalog.FileScheme]); a program links it in with a blank import. It is the
// only package that imports bbolt.
//
// # Vocabulary
//
//   - Buckets and keys: schema.go, the only file that spells them.
//   - Lock file "<catalog>.lock": writers hold it exclusively until Close
//     and record a [catalog.Holder] in it; readers take it shared while they
//     open, which gives writers preference over a stream of readers.
//   - Scratch file "<catalog>.build-<pid>": where [Create] builds a new
//     catalog and UpdateBulk ([catalog.BulkUpdater]) rewrites one, with
//     checkpoints, before it is linked or renamed into place.
//   - Change records: per write and handle, the file before and after, so
//     DB.Undo can reverse a write exactly; kept for [catalog.DefaultRetention].
//
// # Invariants
//
//   - A catalog file appears whole or not at all; the catalog's name is only
//     ever given to a finished file, and a crash leaves the before- or
//     after-state (plus a scratch file the next writer removes).
//   - The entry index, view digest, stats, journal record and change
//     records are written in the same bbolt transaction as the files.
//   - A damaged file gives [catalog.ErrCorrupt] with a hint, never a crash:
//     the meta pages are validated before mapping and memory faults become
//     errors.
//   - A transaction that changed nothing is rolled back: the file stays
//     byte for byte the same.
//
// The mechanisms and their reasons: docs/design.md §9.2.
package boltstore
