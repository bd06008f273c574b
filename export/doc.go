// Package export writes a catalog's metadata files back out in Aptos's
// legacy layout: into a LocalFs directory ([Dir]) or through an Aptos
// command adapter ([Adapter]). The catalog archive, the third export
// format, lives in package archive.
//
// # One write side: Target
//
// [Target] is the write side of a legacy storage, as storage.Source is the
// read side; [Dir] and [Adapter] implement it, as storage.Local and
// storage.CommandAdapter implement Source. The interface lives here, not in
// package storage, because publishing a catalog needs the catalog's files
// and the ordering rules below, and storage knows nothing of the catalog;
// the command adapter's primitive commands (save_metadata_line,
// backup_metadata_file) stay in storage. The CLI builds the Target its
// flags name in one place and calls [Snapshot.Publish] (or [Publish]); the
// result ([Result]) has one shape for both.
//
// # What export owns
//
// The storage is live: Aptos's backup coordinator keeps adding files while
// metactl works. Export owns exactly the names the catalog holds (and its
// own staging folder): a file at such a name whose bytes differ is
// rewritten (a truncated copy, the other compression, a compacted chunk
// whose content changed), since Aptos assumes a handle's content never
// changes and import refuses a storage file that conflicts. An entry of metadata/ or metadata_backup/ that the
// catalog does not know is never removed or overwritten; it is listed in
// Result.Kept with a reason: [KeptNew] for a valid metadata file ("new in
// the storage, not in the catalog: run import"; the drop-in compaction
// imports before it publishes), [KeptOther] for anything else, and
// [KeptDeleted] for a file the journal records as deleted by cleanup.
// Options.Prune removes those last ones, and nothing else (Result.Removed).
// Deletions are read from the catalog's deleted-files records
// (catalog.Tx.DeletedFiles) of generations the journal records as cleanup
// operations, and a storage file is removed only if its content (after
// gzip decoding) has the deleted file's SHA-256: a file of the same name
// with other content is not the one cleanup deleted, and is kept.
//
// Another chain's storage is refused before anything changes: a Dir reads
// every file at a name the catalog holds (it compares them anyway) and any
// identity.meta, an Adapter the files it would move and identity.meta, and
// a file holding another identity, or content the catalog never held under
// that name (not its current content, not a deleted file's, not a name the
// catalog itself rewrote; a truncated or unparsable copy is repaired, not
// refused) gives a *ForeignError naming each (catalog.ErrConflict).
// Options.Force goes past them (Result.Overridden). Files an undo of a
// compaction removed are the catalog's own (it wrote them) and, like
// cleanup's, removed by Options.Prune (cleanup.PrunableGenerations).
//
// Options.DryRun reads the storage and returns the same Result a real run
// would, changing nothing: no file, folder, lock or staging folder is
// created, and mtimes stay as they were.
//
// A Dir refuses, before anything is written, a path naming the metadata/
// or metadata_backup/ folder itself (the parent is suggested) and a
// non-empty folder holding none of metadata/, metadata_backup/ and the
// staging folder; a missing or empty folder is a new storage unless
// Dir.Existing is set (the drop-in compaction). Errors wrap
// storage.ErrNotStorage.
//
// # Reading the catalog
//
// Export only READS the catalog, in one read-only transaction (db.View):
// it sees one committed generation, whole, and never blocks other readers;
// it records nothing in the catalog (no journal entry, no generation bump),
// so an export can run with the catalog opened read-only. [TakeSnapshot]
// copies that generation's files out of the transaction and releases it;
// the slow part, writing files, runs on the copy, so a caller that opened
// the catalog only for the export can close it (and release its lock)
// before writing anything. [Publish] does both steps.
//
// # Legacy directory
//
// [Dir] makes DIR/metadata hold exactly the live files and
// DIR/metadata_backup the moved ones, each byte-identical to its catalog
// content (or its deterministic gzip with Dir.Gzip), in an order
// that is safe for Aptos readers listing the folder at the same time:
//
//  1. write every live file that is missing from metadata/ or differs
//     from the bytes export would write (identical files are skipped, so
//     a second export of the same generation writes nothing);
//  2. write the moved files into metadata_backup/ the same way;
//  3. only then remove from metadata/ the files the catalog moved: the
//     move. Their backup copy already exists, so a reader always sees
//     complete files and full coverage. Copies in metadata_backup/ of
//     files the catalog has live again are removed too;
//  4. classify the entries of either folder the catalog does not know
//     (Result.Kept), removing with Options.Prune only the files cleanup
//     deleted (Result.Removed);
//  5. remove temporary files that interrupted exports left in the staging
//     folder, then the staging folder itself.
//
// Every file is written atomically: a temporary file in DIR/.metactl-staging
// (beside metadata/, on the same filesystem, and never inside metadata/ or
// metadata_backup/, where Aptos lists and parses every entry, dotfiles
// included) is created exclusively without following links and written;
// once every file of the phase is written, they are made durable at once
// (syncfs(2) on Linux, one journal commit where one fsync per file cost a
// commit each; elsewhere each temporary file is fsynced as it is written),
// and only then is each renamed into place. Within a phase, up to
// Dir.Workers files are written (and then renamed) at once (one errgroup
// with SetLimit, the package's only pool); phases never overlap. If a
// phase fails, its temporary files not yet renamed are removed. Each
// folder is fsynced at the end of the phase that changed it, before the
// next phase starts: a rename is
// atomic whether or not its folder was synced, and syncing once per phase
// (rather than once per file) is what orders "backup copy durable" before
// "original removed" at a fraction of the cost. A crash at any point leaves
// only whole files, old or new, in metadata/ and metadata_backup/; the next
// export converges and removes the leftovers.
//
// A new storage (neither metadata/ nor metadata_backup/ exists yet) takes
// a faster path with the same guarantee. Nothing is there to compare,
// move or keep, and no Aptos reader lists a folder that does not exist, so
// the files are written under their own names straight into
// DIR/.metactl-staging/metadata/ and .metactl-staging/metadata_backup/
// (folders this export creates), Dir.Workers at a time, without a
// temporary name or an fsync each; then all of them are made durable at
// once (syncfs(2) on Linux, one journal commit instead of one per file;
// elsewhere each file is fsynced as it is written, Dir.Workers at a
// time), the staged folders are fsynced, and metadata_backup/, then
// metadata/, are renamed into DIR, which is fsynced after each rename. A
// crash before the last rename leaves no metadata/ folder, the state
// before the export; after it, metadata/ is complete: it appears whole or
// not at all. The next export removes what a killed one staged
// (Result.LeftoversRemoved counts those files). The failpoints below fire
// on this path too: "export.after-temp-write" after each staged file,
// "export.between-writes-and-moves" once everything staged is durable, and
// "export.after-rename" after each folder's rename.
//
// Every path is handled relative to a directory file descriptor, with
// openat/renameat/unlinkat and O_NOFOLLOW/AT_SYMLINK_NOFOLLOW, so a symbolic
// link is never followed: a symbolic link at DIR/metadata,
// DIR/metadata_backup, DIR/.metactl-staging, at a catalog file's name in
// either folder, or at a temporary file's name is refused with an error
// naming it ([ErrSymlink]), and nothing is written outside DIR. (DIR itself
// may be a symbolic link: it is the operator's choice of target.) Names the
// catalog holds are checked with aptos.ValidName before anything is
// written. An export holds an exclusive flock on DIR for its duration;
// a second concurrent export of the same DIR fails with [ErrBusy] instead
// of deleting the first one's temporary files.
//
// Failpoints (package internal/failpoint): "export.after-temp-write" (a
// temporary file is written, not yet synced or renamed; other writers may
// hold partial temporary files, all in the staging folder),
// "export.after-rename" (after each rename; "export.after-rename@N" for the
// Nth), and "export.between-writes-and-moves" (after phases 1 and 2 are
// durable, before any removal).
//
// # Command adapter
//
// [Adapter] follows the same order through an Aptos
// command adapter: list the remote, save_metadata_line for live files the
// remote lacks, then backup_metadata_file for files the catalog moved that
// the remote still lists live, and classify remote files the catalog does
// not know (reading each, to tell a new metadata file from anything else). The adapter's config decides how files are stored (the sample
// configs gzip them). Content cannot be compared cheaply through the
// adapter, so a listed name counts as present: Aptos assumes a handle's
// content never changes, and so does this export. Nothing is ever deleted
// remotely (the adapter has no delete command).
package export
