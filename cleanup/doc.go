// Package cleanup deletes superseded (moved) metadata files from the
// catalog for good, in one write transaction, and purges the content the
// catalog retained for undo once the grace period has passed.
//
// Moved files are the ones compaction superseded (Aptos keeps them in
// metadata_backup/). [Run] deletes those whose state changed before
// now - OlderThan; live files are never touched. A deleted file stays
// recorded as deleted (catalog.Tx.DeletedFiles, which 'export --prune'
// reads) and its content stays in the catalog for Retain
// (catalog.DefaultRetention, 30 days, by default), so 'metactl undo' can
// restore it. The same run purges content retained longer than that, so a
// catalog's retained content is bounded by what one grace period deletes.
// A purge cannot be undone; the undo of a cleanup restores the files it
// deleted, not the content it purged.
//
// [Plan] computes the same deletions in a read-only transaction and writes
// nothing (--dry-run).
package cleanup
