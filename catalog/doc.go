// Package catalog is metactl's transactional model of one Aptos backup
// storage's metadata, kept in a bbolt file. It is the only package that
// imports bbolt; nothing bbolt-specific appears in its exported API, so a
// later backend (etcd, whose storage engine is bbolt) can implement the
// same nouns.
//
// # Vocabulary
//
// The Aptos model (metadata lines, handles, the view, the digest) is package
// aptos; the catalog stores it.
//
//   - [File]: a metadata file: handle ("metadata/x.meta"), content (its
//     lines, exactly as imported or written), [State] (Live in metadata/, or
//     Moved to metadata_backup/), provenance and SHA-256.
//   - [DB] and [Tx]: the catalog file and its transactions. [DB.View] runs
//     a read-only transaction; [DB.Update] a read-write one that bumps the
//     generation and appends an [Operation] to the journal.
//
// # Invariants
//
//   - Every write is one bbolt transaction: a reader, in this process or
//     another, sees one committed generation whole, never part of a write.
//   - The entry index, the view digest and the kept stats (the storage
//     state's maxima and the live and moved file counts, so status reads
//     a few keys instead of walking a million) are updated in the same
//     transaction as the files they derive from, so they cannot drift.
//     A catalog written before the stats were kept is walked until its
//     next write stores them.
//   - A write that changes no file is rolled back: the generation counts
//     real changes, and re-importing the same source leaves the file
//     byte-for-byte unchanged.
//   - A transaction that calls [Tx.PreserveView] (compaction) cannot commit
//     if the view digest moved: losing an entry is impossible.
//   - A handle's content never changes, except through an explicit
//     NewFile.Replace; otherwise the write fails with [ErrConflict].
//   - The catalog belongs to one chain: an Identity line that differs from
//     the recorded identity is refused.
//
// # Processes and locks
//
// bbolt takes an exclusive flock for a writable open and a shared one for a
// read-only open. [Open] always waits at most Options.Timeout and then
// returns a [*BusyError] naming the writer, whose pid, command and start
// time it finds in the sidecar file "<catalog>.lock". Writers take that
// sidecar exclusively before bbolt's lock and keep it until Close; readers
// take it shared only while opening, which gives writers preference over a
// stream of readers. Hold a writable DB for one transaction, then Close it.
//
// # Caveats
//
//   - A damaged file (truncated, zeroed, random bytes, not bbolt) gives
//     [ErrCorrupt] with a hint, never a crash: Open validates bbolt's meta
//     pages before mapping the file, and every bbolt call runs with memory
//     faults turned into errors.
//   - Values returned from a Tx are copies and stay valid after it ends.
//   - The journal records at most 1000 handles per kind of change per
//     operation; counts are always exact. The exact set is in the change
//     records (below).
//
// # Change records, undo and deleted files
//
// Every write stores, beside its journal record, one change record per
// file handle it changed: the file as it was before (absent, or its record
// with state, times and provenance; with its content where the write
// replaced or deleted it) and its state and SHA-256 after. [DB.Undo] uses
// them to reverse one operation exactly, as a new write of kind "undo"
// whose [Operation.Undoes] names the reversed generation. Undo refuses with
// an [*UndoRefusedError] (wrapping [ErrUndoRefused]) naming the operation in
// the way: a later one that changed the same files, or that used the view
// the undone one left (the digest check before commit: the digest must end
// at the digest before the undone generation plus what later operations
// changed), or the cleanup that purged content it needs. Operations
// committed before change records existed have none and are refused.
//
// A file removed for good ([Tx.DeleteFile], or an undo removing what an
// operation added) is recorded as deleted: [Tx.DeletedFiles] lists these
// records in handle order and [Tx.Deleted] reads one. A [DeletedFile]
// carries the handle, the state the file had (so where it lived in a legacy
// folder), the deleting generation and time, the SHA-256 and size of its
// content (export --prune: remove a file only if its content has that
// digest), and Retained, whether the catalog still holds the content. A
// handle that is added again loses its deleted record.
//
// The content of deleted and replaced files is retained for undo for a
// grace period, [DefaultRetention] (30 days) unless the cleanup says
// otherwise: [Tx.PurgeRetained] drops the content kept by operations older
// than a cutoff and is called by every cleanup. Deleted records and the
// contentless parts of change records stay.
//
// Catalogs written before change records lack the "changes" and "deleted"
// buckets: they read as empty and the first write creates them, so the
// schema version stays 1.
package catalog
