// Package cleanup deletes superseded (moved) metadata files from the
// catalog for good, in one write transaction, and purges the change
// records the catalog keeps for undo once the grace period has passed.
//
// Moved files are the ones compaction superseded (Aptos keeps them in
// metadata_backup/). [Run] deletes those whose state changed before
// now - OlderThan; live files are never touched. A deleted file stays
// recorded as deleted ([catalog.Tx].DeletedFiles, which 'export --prune'
// reads) and its content stays in the catalog for Retain
// ([catalog.DefaultRetention], 30 days, by default), so 'metactl undo' can
// restore it. The same run purges the change records of operations older
// than that (content included): the undo window is Retain, and the records
// a catalog keeps are bounded by what one grace period writes. A purge
// cannot be undone; the undo of a cleanup restores the files it deleted,
// not the records it purged.
//
// [Plan] computes the same deletions in a read-only transaction and writes
// nothing (--dry-run).
package cleanup
