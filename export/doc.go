// Package export writes a catalog's metadata files back out in Aptos's
// legacy layout: into a LocalFs folder ([Dir], over
// [storage.LocalWriter]) or through an Aptos command adapter ([Adapter]).
// Both implement [Target], the write side of a legacy storage; a caller
// takes a [Snapshot] of the catalog and calls [Snapshot.Publish], whose
// [Result] has one shape for both. The catalog archive, the third export
// format, is package archive's.
//
// Vocabulary:
//
//   - Written, moved, unchanged: what a publish did to the catalog's files.
//   - Kept: an entry of the storage the catalog does not know, left alone
//     and classified ([KeptNew] a valid metadata file to import,
//     [KeptDeleted] a file cleanup deleted, [KeptOther] anything else).
//   - Removed: a kept-deleted file that Options.Prune removed.
//   - A new storage: neither metadata/ nor metadata_backup/ exists yet.
//
// Invariants:
//
//   - Order: every new live file is written and durable before any file
//     is moved or removed, so an Aptos reader of the storage sees whole
//     files and full coverage at every moment.
//   - A file is replaced by rename of a durable temporary file, never
//     written in place; a new storage's metadata/ appears whole or not at
//     all.
//   - Export owns exactly the names the catalog holds (and its staging
//     folder); nothing else is overwritten or removed, except with Prune a
//     file whose content is the one cleanup deleted.
//   - Another chain's storage is refused before anything changes: a file
//     at a catalog name with content the catalog never held there, or
//     another identity, is a [*ForeignError] (Options.Force goes past it).
//   - A symbolic link is never followed ([ErrSymlink]); one export at a
//     time per folder ([ErrBusy]).
//   - Options.DryRun returns the Result a real run would and changes
//     nothing.
//
// The phases, the failpoints and the command adapter's order:
// docs/design.md §10.4.
package export
