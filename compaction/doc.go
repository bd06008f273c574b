// Package compaction does what Aptos's `aptos-db-tool backup-maintenance
// compact` does (BackupCompactor::run, docs/aptos-format.md §6), on a catalog,
// as ONE write transaction: the compacted files, the moves and the new
// timestamps file are committed together or not at all, and the transaction
// cannot commit if the view digest moved.
//
// [Compute] plans a run from its inputs (pure, unit-testable with any
// clock); [Run] plans and applies it inside catalog.DB.Update; [DryRun]
// plans it in a read-only transaction and predicts what each write would
// do.
//
// # What a run does (Aptos's algorithm)
//
//  1. files = the keys of the latest timestamps map (the live
//     CompactionTimestamps entry with the largest file_compacted_at; ties:
//     the file whose handle sorts last) plus every live handle. This is
//     Aptos's MetadataView::get_file_handles; with no timestamps entry the
//     map is empty and files are the live handles.
//  2. Each list of the view (sorted, exact duplicates dropped, same range
//     with another manifest kept) is cut into consecutive chunks of its
//     factor from index 0; the last chunk may be short. Epoch endings,
//     then transactions, then state snapshots. Epoch and transaction
//     chunks must be continuous (next first == previous last + 1), else
//     the run fails with Aptos's message, verbatim:
//     "Epoch ending backup ranges is not continuous expecting epoch X, got Y"
//     or "txn backup ranges is not continuous expecting version X, got Y."
//     (a [*ContinuityError], wrapping aptos.ErrInvalid: nothing changes,
//     CLI exit 3). Snapshot chunks are not checked. The continuity check
//     is per chunk only: a gap across a chunk boundary compacts fine.
//  3. Each chunk becomes metadata/epoch_ending_compacted_<a>-<b>.meta,
//     metadata/transaction_compacted_<a>-<b>.meta or
//     metadata/state_snapshot_compacted_epoch_<a>_<b>.meta (a, b: first
//     epoch / version of the first entry, last of the last; snapshots use
//     epochs), holding each entry re-serialized by aptos.EncodeLine in
//     order. These handles are new_files.
//  4. For each f in files: f in new_files is left out of the new map (and
//     never moved); f with a timestamp t is expired if now > t + R
//     (strictly; R in whole seconds), else kept as f -> t; f with null, or
//     not a key, gets f -> now. Identity and old compaction_timestamps
//     files are ordinary files here: they are timestamped, and moved once
//     expired.
//  5. Expired live files become Moved (metadata_backup/).
//  6. A new file metadata/compaction_timestamps_<now>.meta holds
//     {file_compacted_at: now, compaction_timestamps: the new map}.
//
// # Decisions
//
// One transaction. Aptos writes files one by one, then moves, then writes
// the timestamps file; a crash leaves any prefix of that behind. Here the
// failpoints compact.after-plan, compact.after-write, compact.after-move,
// compact.after-timestamps (and catalog.DB.Update's compact.before-commit) all
// lie inside the bbolt write transaction, so a kill at any of them leaves
// the catalog exactly as it was; compact.after-commit leaves the after-state.
// Exporting the result to a storage (writing new files before moving old
// ones) is the export package's job.
//
// Large runs on a scratch copy. One bbolt transaction holds every page it
// dirties in memory until its commit: a first run over a million entries
// rewrites every page of the entry index (each count goes from 1 to 2)
// and adds the compacted files, about 270 MB of pages, held beside the
// records bbolt keeps until then (peak RSS 930 MiB). So from
// [DefaultBulkEntries] entries in the view (Options.BulkEntries), Run
// uses the backend's catalog.BulkUpdater when it has one (the bbolt
// backend does; etcd does not, and keeps one Update): the same
// operation is made on a scratch copy of the catalog file, committing
// every few megabytes (catalog.BulkWriteTx.Checkpoint after each file
// written or moved), then synced and renamed over the catalog. It is
// still one operation: the scratch file is nobody else's, the view digest
// check runs before its last commit, and the rename publishes it whole
// (the failpoints above, plus compact.before-publish just before the
// rename: a kill there, or anywhere before, leaves the catalog as it was;
// the next writable open removes the scratch file). The operation, its
// journal record and its change records are those of the one-transaction
// run, so undo works the same. The copy costs a write of the catalog's
// size, and room for it beside the catalog while the run lasts (out of
// space, the run fails and the catalog is unchanged); below the threshold
// (mainnet's tens of thousands of files) one transaction is cheaper.
//
// Deterministic order. Rust visits files in HashMap order and writes the
// map's keys in random order. Here files are visited in sorted order, Move,
// Skipped and Timestamped are sorted, and the map's keys are written sorted
// (aptos.AppendLine). The set of results does not depend on the order.
//
// One clock reading. Aptos reads the clock twice: once for the expiry test
// and the new stamps, once more for file_compacted_at, which can therefore
// be now+1. Here both are Tx.Now (one reading per transaction): a run at
// instant now writes compaction_timestamps_<now>.meta whose stamps are all
// at most now. Plan.Now is that reading, in Unix seconds.
//
// Expiry arithmetic. now > t + R is evaluated without overflow: a t + R
// beyond u64 never expires (Rust would panic in a debug build and wrap in a
// release build). A timestamp in the future is kept as is.
// RemoveCompactedFileAfter is truncated to whole seconds, as Aptos's
// --remove-compacted-file-after is an integer number of seconds.
//
// Compacted handles that already exist. Identical content, live: nothing is
// written (catalog.Unchanged, PlannedFile.Exists), and the handle is still
// in new_files, as Aptos's save_metadata_lines still returns the handle of
// a file it skipped. Other content: the chunk's membership shifted (one
// entry inserted earlier in the list moves every later boundary,
// docs/aptos-format.md §12 items 7 and 8; typically a second snapshot of
// an epoch); the file is
// overwritten (NewFile.Replace). Aptos on LocalFs keeps the old file
// instead; then an entry that only the new chunk holds is in no compacted
// file, and once its original expires and moves, it is gone from metadata/.
// Command adapters overwrite, as the storage trait documents. Overwriting
// is what keeps every entry in metadata/, and the view digest check inside
// the transaction proves that nothing was lost. (A reader that caches by
// handle, as Aptos's metadata cache does, can hold the old content of such
// a handle; that hazard is Aptos's own with command adapters.) A compacted
// handle that exists as Moved (superseded by an earlier run) and is
// computed again becomes Live again, revived if identical, replaced if not.
//
// Two chunks under one name. Several state snapshots of one epoch split
// across a chunk boundary (any factor), or, with factor 1, two entries of
// one range that differ only in their manifest, make two chunks whose
// compacted names are the same. Aptos writes both under that name (LocalFs
// keeps the first, command adapters the last) and so loses the other's
// entries once the originals move; a storage in that state can never be
// compacted safely by Aptos again. metactl never refuses and never loses:
// the chunks' entries go into that one file together, in view order
// (PlannedFile.Chunks counts them), so the file name stays the one Aptos
// would choose, the view digest is unchanged (checked inside the
// transaction), and the run succeeds. Such chunks are always consecutive
// (a name is fixed by the first and last numbers of a chunk and the lists
// are sorted by them), so merging keeps each file sorted. Aptos reads the
// merged file like any other: a compacted file is a list of lines.
//
// The timestamps file when its handle exists. A second run in the same
// second finds compaction_timestamps_<now>.meta already live. If the new
// map is identical, PutFile returns Unchanged, and a run that changed
// nothing else commits nothing (generation and file bytes unchanged). If
// it differs, the file is overwritten (Replace). Aptos's LocalFs keeps the
// older file, a command adapter overwrites it. Overwriting is chosen
// because the newer map was computed from the catalog as it is now and
// supersedes the older one: keeping the older map would silently drop the
// stamps of files that arrived between the two runs (delaying their move by
// a run) and leave the catalog disagreeing with the plan it reported; and
// production buckets use command adapters, so the result matches what Aptos
// leaves there. Note that at the second run the file is itself a live,
// unstamped handle, so its own map stamps it (exactly as with a command
// adapter). Concretely, compacting twice at the same instant with nothing
// new: the second run rewrites only that file (its map gains the file
// itself; one Replaced handle, generation +1, view digest unchanged), and
// a third run changes nothing.
//
// Expired handles that are not live files. A stale key of the map (a file
// that left the catalog, or was moved by someone else) can expire. Aptos's
// move fails and is ignored (PR #16043); here it is listed in
// Plan.Skipped. Either way it is dropped from the new map. A stale key not
// yet expired keeps its timestamp, and a stale key with null is stamped
// now, exactly as Aptos does.
//
// Identity. identity.meta is moved like any other file once expired
// (docs/aptos-format.md §12 item 12). The catalog's identity survives it
// (it is recorded in the catalog itself), and compaction never writes an
// identity file.
//
// Nothing to do. With no live file and no entry (an empty catalog, or one
// whose files are all moved) there is nothing to compact or timestamp,
// and the run writes nothing: no timestamps file (Plan.TimestampsFile is
// ""), no journal change. Aptos writes a timestamps file with an empty map
// there; metactl does not, so a compaction pointed at the wrong (empty)
// storage leaves no file in it.
//
// Options. A factor below 1 (Rust's slice::chunks panics) or a negative
// grace period is an error wrapping [ErrFactor], returned before the
// catalog is touched (the CLI maps it to a usage error). Run records the
// options in the journal (Tx.SetInputs: "epoch_ending_factor=100", ...,
// "remove_compacted_file_after_secs=86400") and a one-line summary
// (Tx.SetNote, [Plan.Summary]). Aptos's compacted_version gauge is not
// emitted.
//
// # Cost
//
// A run holds the view and the plan (one record per compacted file, no
// content: Run builds each file's content while writing it) and the new
// timestamps map in memory; the map has one key per file that is not a
// current compacted file, so the first run over N original files writes
// a line of about 55·N bytes. BenchmarkCompact (issue 11's row: 1M
// entries in files of 100 lines, METACTL_BENCH_LARGE=1) and
// BenchmarkCompact1M (1M one-line files) measure it at a million
// entries.
package compaction
