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
//   - The entry index and the view digest are updated in the same
//     transaction as the files they derive from, so they cannot drift.
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
//     operation; counts are always exact.
package catalog
