// Package export writes a catalog's metadata files back out in Aptos's
// legacy layout (design §6): into a LocalFs directory ([ToDir]) or through
// an Aptos command adapter ([ToCommandAdapter]). The catalog archive, the
// third export format, lives in package archive.
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
// before writing anything. [ToDir] and [ToCommandAdapter] do both steps.
//
// # Legacy directory
//
// [Snapshot.ToDir] makes DIR/metadata hold exactly the live files and
// DIR/metadata_backup the moved ones, each byte-identical to its catalog
// content (or its deterministic gzip with DirOptions.Gzip), in an order
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
//  4. report entries of either folder the catalog does not know
//     (DirResult.Unknown), removing them only with DirOptions.Prune;
//  5. remove temporary files that interrupted exports left in the staging
//     folder, then the staging folder itself.
//
// Every file is written atomically: a temporary file in DIR/.metactl-staging
// (beside metadata/, on the same filesystem, and never inside metadata/ or
// metadata_backup/, where Aptos lists and parses every entry, dotfiles
// included) is created exclusively without following links, written,
// fsynced, then renamed into place. Within a phase, up to
// DirOptions.Workers files are written at once (concurrent fsyncs share the
// filesystem's journal commits); phases never overlap. Each folder is
// fsynced at the end of
// the phase that changed it, before the next phase starts: a rename is
// atomic whether or not its folder was synced, and syncing once per phase
// (rather than once per file) is what orders "backup copy durable" before
// "original removed" at a fraction of the cost. A crash at any point leaves
// only whole files, old or new, in metadata/ and metadata_backup/; the next
// export converges and removes the leftovers.
//
// Every path is handled relative to a directory file descriptor, with
// openat/renameat/unlinkat and O_NOFOLLOW/AT_SYMLINK_NOFOLLOW, so a symbolic
// link is never followed: a symbolic link at DIR/metadata,
// DIR/metadata_backup, DIR/.metactl-staging, at a catalog file's name in
// either folder, or at a temporary file's name is refused with an error
// naming it ([ErrSymlink]), and nothing is written outside DIR. (DIR itself
// may be a symbolic link: it is the operator's choice of target.) Names the
// catalog holds are checked with catalog.ValidName before anything is
// written. An export holds an exclusive flock on DIR for its duration;
// a second concurrent export of the same DIR fails with [ErrBusy] instead
// of deleting the first one's temporary files.
//
// Failpoints (package internal/failpoint): "export.after-temp-write" (a
// temporary file is written and fsynced, not yet renamed; other writers may
// hold partial temporary files, all in the staging folder),
// "export.after-rename" (after each rename; "export.after-rename@N" for the
// Nth), and "export.between-writes-and-moves" (after phases 1 and 2 are
// durable, before any removal).
//
// # Command adapter
//
// [Snapshot.ToCommandAdapter] follows the same order through an Aptos
// command adapter: list the remote, save_metadata_line for live files the
// remote lacks, then backup_metadata_file for files the catalog moved that
// the remote still lists live, and report remote files the catalog does not
// know. The adapter's config decides how files are stored (the sample
// configs gzip them). Content cannot be compared cheaply through the
// adapter, so a listed name counts as present: Aptos assumes a handle's
// content never changes, and so does this export. Nothing is ever deleted
// remotely (the adapter has no delete command).
package export
