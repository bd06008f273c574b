// Package compaction does what Aptos's `aptos-db-tool backup-maintenance
// compact` does (BackupCompactor::run, docs/aptos-format.md §6), on a
// catalog, as ONE write operation. [Compute] plans a run from its inputs
// (pure); [Run] plans and applies it in one write of the catalog;
// [DryRun] plans it read-only and predicts what each write would do.
//
// Vocabulary:
//
//   - A factor: the entries per compacted file, for each kind of entry
//     (epoch endings, transactions, state snapshots); a factor below 1 is
//     [ErrFactor].
//   - A chunk: consecutive entries of one kind, cut from the first in
//     sorted order, written as metadata/*_compacted_*.meta.
//   - The timestamps map: when each file was first seen superseded, in
//     metadata/compaction_timestamps_<now>.meta; a file whose stamp is
//     older than the grace period (Options.RemoveCompactedFileAfter) is
//     moved to metadata_backup/.
//   - A [Plan]: the files written, timestamped and moved, and Skipped.
//
// Invariants:
//
//   - The view (every epoch-ending, transaction and state-snapshot entry)
//     is unchanged by a run: the catalog's view digest check refuses the
//     commit otherwise.
//   - A run commits whole or not at all; a continuity gap inside a chunk
//     fails with Aptos's message ([*ContinuityError]) and changes nothing.
//   - The result is deterministic: sorted order, one clock reading (Tx.Now)
//     for the stamps and the file name.
//   - Nothing to compact (no live file) writes nothing.
//   - Large runs ([DefaultBulkEntries]) use the backend's
//     [catalog.BulkUpdater]; the result is the same operation.
//
// Aptos's algorithm step by step, and each decision where metactl differs
// from Aptos or Aptos is silent: docs/design.md §10.3.
package compaction
