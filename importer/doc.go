// Package importer syncs a legacy Aptos backup storage's metadata into a
// catalog: [Read] reads a [storage.Source], [Prepare] takes files already
// in hand, each returns a [Batch], and [Batch.Commit] writes it;
// [FromStorage] and [Files] do both steps; [NewCatalog] streams a first
// import into a new catalog; [ReadArchive] reads a catalog archive as one
// more source. It never prints; the caller renders the [Result] and its
// [Warning]s, or the error.
//
// Vocabulary:
//
//   - A sync: new files are added, a file the storage moved becomes moved,
//     a file the storage no longer lists is kept (Result.Missing), a file
//     the catalog moved stays moved (Result.KeptMoved).
//   - A problem: one bad file or line, named as the storage names it
//     ("import metadata/x.meta:3:59: ..."); an [*InputError] lists them all.
//   - A conflict: the same handle with other content, or another chain's
//     identity ([catalog.ErrConflict]).
//   - A stray: an entry of a metadata folder that is not a metadata file
//     (not a ShellSafeName ending in ".meta", or not a regular file); it is
//     skipped and listed, or refused with Options.Strict ([ErrStray]).
//
// Invariants:
//
//   - All or nothing: with any problem nothing is written and the catalog
//     stays byte for byte as it was; every problem is reported (up to
//     Options.MaxProblems).
//   - Nobody waits for the source: Read and Prepare hold no catalog lock;
//     Commit plans inside its write transaction against the generation it
//     finds.
//   - Re-importing the same storage changes nothing (Result.Changed false).
//   - Nothing is ever deleted by an import, and a symbolic link is never
//     followed.
//
// The steps of an import, the sync rules in full, the warnings and the
// streamed first import: docs/design.md §10.2.
package importer
