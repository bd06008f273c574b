// Package catalog is metactl's transactional model of one Aptos backup
// storage's metadata: the files, the Aptos view derived from them, a
// generation counter and a journal. It defines the backend interface
// ([DB], [Tx], [WriteTx]) that everything above it uses, and the embedded
// backend, one bbolt file; it is the only package that imports bbolt.
//
// # Vocabulary
//
// The Aptos model (metadata lines, handles, the view, the digest) is package
// aptos; the catalog stores it.
//
//   - [File]: a metadata file: handle ("metadata/x.meta"), content (its
//     lines, exactly as imported or written), [State] (Live in metadata/, or
//     Moved to metadata_backup/), provenance and SHA-256.
//   - [DB]: an open catalog. [DB.View] runs a read-only transaction ([Tx]);
//     [DB.Update] a read-write one ([WriteTx]) that bumps the generation
//     and appends an [Operation] to the journal.
//   - [Open] picks the backend from the location string: a file path opens
//     the bbolt backend; "<scheme>://..." goes to the backend registered
//     for that scheme with [Register] (the etcd backend registers "etcd").
//
// # The backend interface, and why it has this shape
//
// The interface is cut at the catalog's nouns (files, view, journal,
// generation), not at key-value operations, and is what both an embedded
// bbolt file and a distributed store such as etcd can honour with the same
// guarantees:
//
//   - Read transaction ([DB.View], [Tx]): one committed generation, whole.
//     bbolt gives it with a read-only MVCC transaction; etcd with reads at
//     one revision of the generation that "<prefix>/current" names. A Tx
//     has no error-free way to observe a second generation.
//   - Write transaction with generation ([DB.Update], [WriteTx]): all or
//     nothing, serialized against every other writer, the generation bumped
//     by exactly one when a file changed and not at all otherwise. bbolt
//     gives it with one read-write transaction under its flock; etcd cannot
//     (a transaction is limited to 128 operations and about 1.5 MiB), so it
//     holds a lease-based write lock naming the holder, builds generation
//     G+1 aside (for example with this package's bbolt backend on a scratch
//     file), stores it under "<prefix>/gen/<G+1>/" in as many transactions as
//     it needs, and publishes it with one compare-and-swap of
//     "<prefix>/current" from G to G+1. Both publish once; a crash before
//     that leaves generation G. Update therefore calls fn exactly once and
//     never retries it; fn must act only through its WriteTx.
//   - Journal ([Tx.Operations], [Operation]): one record per published
//     generation, written in the same publication as the change it
//     describes; a generation number is never reused.
//   - Files ([Tx.File], [Tx.ForEachFile], [WriteTx.PutFile], ...): values,
//     copied out of the transaction, in handle order. No cursor, bucket,
//     revision or lease appears in the interface, so nothing above catalog
//     can depend on one backend.
//   - View ([Tx.View], [Tx.StorageState], [Tx.ViewDigest]): the derived
//     Aptos view is the backend's to maintain in step with the files (the
//     bbolt backend keeps an entry index and the digest in the same
//     transaction); [WriteTx.PreserveView] makes a write that would change
//     it fail before it is published.
//   - Locks: every backend bounds its waits by Options.Timeout and returns
//     a [*BusyError] naming the holder, so "busy" means the same thing (and
//     the same exit code) on every backend.
//
// Left out on purpose: range reads by revision, watches and multi-catalog
// transactions (nothing needs them yet), and a retry loop inside Update
// (a caller that read outside the lock compares [Tx.Generation] inside fn
// and recomputes, which is the caller's knowledge, not the backend's).
//
// # Invariants
//
//   - Every write is published once, whole: a reader, in this process or
//     another (or, with etcd, on another host), sees one committed
//     generation whole, never part of a write.
//   - The entry index, the view digest and the kept stats (the storage
//     state's maxima and the live and moved file counts, so status reads
//     a few keys instead of walking a million) are updated in the same
//     transaction as the files they derive from, so they cannot drift.
//     A catalog written before the stats were kept is walked until its
//     next write stores them.
//   - A write that changes no file is rolled back: the generation counts
//     real changes, and re-importing the same source leaves the file
//     byte-for-byte unchanged.
//   - A transaction that calls [WriteTx.PreserveView] (compaction) cannot
//     commit if the view digest moved: losing an entry is impossible.
//   - A handle's content never changes, except through an explicit
//     NewFile.Replace; otherwise the write fails with [ErrConflict].
//   - The catalog belongs to one chain: an Identity line that differs from
//     the recorded identity is refused.
//
// # Processes and locks (the bbolt backend)
//
// bbolt takes an exclusive flock for a writable open and a shared one for a
// read-only open. [Open] always waits at most Options.Timeout and then
// returns a [*BusyError] naming the writer, whose pid, command and start
// time it finds in the sidecar file "<catalog>.lock". Writers take that
// sidecar exclusively before bbolt's lock and keep it until Close; readers
// take it shared only while opening, which gives writers preference over a
// stream of readers. Hold a writable DB for one transaction, then Close it.
//
// # Large writes: Create and the scratch file
//
// One bbolt write transaction keeps every page it dirties in memory until
// its commit, so a write of a million lines in one transaction peaks at
// several times the data. [Create] builds a NEW catalog instead on a
// scratch file beside it, "<catalog>.build-<pid>", that nobody else
// opens:
//
//   - It holds the catalog's lock file exclusively for the whole build,
//     as any writer does: a second writer waits (or gets [*BusyError]
//     naming the builder), readers find no catalog yet.
//   - The scratch file runs without fsync, even when it grows (bbolt's
//     NoSync and NoGrowSync); a goroutine fsyncs it every 100 ms through
//     its own descriptor, behind the writer, so the fsync at the end has
//     little left to write. [BulkWriteTx.Checkpoint]
//     commits its bbolt transaction every Options.CheckpointBytes
//     (DefaultCheckpointBytes, 2 MiB) and begins the next; the operation's
//     own state (before-images for the change records, digest, stats,
//     journal record) stays in memory and is written by the last
//     transaction, so the result is byte for byte what Open and one Update
//     would leave (TestCreateEqualsOneUpdate). Entry-index changes, which
//     arrive in file order, not key order, are spilled as sorted runs to
//     an unlinked temporary file in the catalog's folder (sorted and
//     written on another goroutine) and merged at the end (on another
//     goroutine too), so the index is written in key order, append-only.
//   - At the end: one fsync of the scratch file, then link(2) to the
//     catalog's name (atomic, and it never replaces a catalog), the
//     scratch name removed, the folder fsynced. An opener that arrived
//     meanwhile has put an empty catalog there (Open creates one before it
//     waits for the lock) but has not opened it: Create checks it is empty
//     and renames the scratch file over it; any other file there is
//     [ErrExist] and the caller falls back to Open and Update.
//   - A failure, ctx ending, or bad input from fn removes the scratch file
//     and the lock file: no catalog appears. A killed build leaves the
//     scratch file (and the lock file); the next writer (Create, or a
//     writable Open, both under the lock file) removes it. No process
//     ever writes into an orphaned file: scratch files are created and
//     removed only under the exclusive lock file, and the catalog's name
//     is only ever given to a finished file.
//
// Create is for new catalogs. A large write to an existing catalog
// (compaction of a million entries) uses the same mechanism on a copy:
// [BulkUpdater.UpdateBulk], which the bbolt backend implements.
//
//   - Under the writer's locks, with no transaction open, the catalog
//     file is copied (in the kernel, copy_file_range) to the scratch name
//     beside it, with the catalog's permissions and, where the process may
//     set them, owner and group. A catalog path that is a symbolic link
//     has its target copied and replaced, never the link.
//   - fn runs there with checkpoints, exactly as in Create: the view
//     digest check (PreserveView), the journal record and the change
//     records come from the last transaction, so the operation is the one
//     Update would commit, and undo reverses it the same way
//     (TestUpdateBulk). Entry-index changes to keys already indexed are
//     applied in place as they come (index), so they need no spilling.
//   - One fsync of the scratch file (synced behind the writer meanwhile,
//     as in Create), failpoint "<kind>.before-publish",
//     rename(2) over the catalog (atomic), the folder fsynced, failpoint
//     "<kind>.after-commit", and the DB reopens its bbolt handle on the
//     new file. A failure or a no-op before the rename removes the scratch
//     file and leaves the catalog byte for byte as it was; a kill leaves
//     the scratch file for the next writer to remove.
//   - Readers never see a partial state: no reader has the catalog open
//     while a writer holds it (bbolt's flock), the scratch file is nobody
//     else's, and the rename publishes the new file whole. A hard link to
//     the catalog file under another name keeps the old content.
//
// The copy costs a write of the catalog's size, so small writes stay in
// one Update (compaction switches at compaction.DefaultBulkEntries).
// BulkWriteTx.Checkpoint is a no-op outside Create and UpdateBulk, so code
// written for a BulkWriteTx also runs inside Update. The etcd backend has
// no UpdateBulk: its writes are built on a scratch bbolt file anyway.
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
// changed), or the cleanup that purged its change records. Operations
// committed before change records existed have none and are refused.
//
// A file removed for good ([WriteTx.DeleteFile], or an undo removing what an
// operation added) is recorded as deleted: [Tx.DeletedFiles] lists these
// records in handle order and [Tx.Deleted] reads one. A [DeletedFile]
// carries the handle, the state the file had (so where it lived in a legacy
// folder), the deleting generation and time, the SHA-256 and size of its
// content (export --prune: remove a file only if its content has that
// digest), and Retained, whether the catalog still holds the content. A
// handle that is added again loses its deleted record.
//
// Change records, and with them the content of deleted and replaced
// files, are kept for a grace period, [DefaultRetention] (30 days) unless
// the cleanup says otherwise: the undo window. [WriteTx.PurgeRetained]
// drops the change records of operations older than a cutoff, leaving a
// tombstone per operation that names the purging generation, and is
// called by every cleanup; so the records a catalog holds are bounded by
// what one grace period writes. Deleted records stay.
//
// Catalogs written before change records lack the "changes" and "deleted"
// buckets: they read as empty and the first write creates them, so the
// schema version stays 1.
package catalog
