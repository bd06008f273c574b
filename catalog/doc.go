// Package catalog is the API of metactl's catalog: a transactional model of
// one Aptos backup storage's metadata (the files, the Aptos view derived from
// them, a generation counter and a journal). It holds interfaces, value types
// and errors only; the backends live in subpackages (boltstore, etcdstore)
// and register a URL scheme with [Register], as database/sql drivers do.
//
// # Vocabulary
//
//   - [File]: a metadata file: handle ("metadata/x.meta"), exact content,
//     [State] (Live in metadata/, Moved to metadata_backup/), provenance.
//   - [DB]: an open catalog, from [Open] (the scheme picks the backend, a
//     plain path opens a file). [DB.View] runs a read-only [Tx]; [DB.Update]
//     a [WriteTx] that bumps the generation and journals an [Operation].
//   - [Options]: read-only, [Mode] ([OpenOrCreate], [MustExist],
//     [MustBeNew]), lock timeout, clock, command; every backend honours them.
//   - [Create] builds a new catalog in one bulk write; [Snapshot] and [Load]
//     copy a whole catalog between backends; [RemoveIfEmpty] drops what a
//     failed first write left. Optional DB interfaces: [BulkUpdater],
//     [Snapshotter], [EmptyRemover], [FileReader] (a file of the newest
//     generation in one request to the storage: etcd).
//   - [QuarantinedFile]: a storage file kept aside with its error
//     ([WriteTx.Quarantine]); not a file, in no view.
//
// # Invariants
//
//   - A reader sees one committed generation, whole; a write is published
//     once, all or nothing, and its function runs exactly once.
//   - A write that changes no file nor quarantine record publishes nothing;
//     otherwise the generation grows by one and the journal gains a record.
//   - The view, its digest and the stats change with the files;
//     [WriteTx.PreserveView] fails a write that would change the view.
//   - A handle's content changes only through [NewFile.Replace]; another
//     chain's Identity is refused ([ErrConflict]).
//   - Lock waits are bounded by [Options.Timeout] ([*BusyError]); damage is
//     [ErrCorrupt], a missing catalog [ErrNoCatalog].
//   - A backend passes internal/catalogtest's conformance table before it is
//     wired in.
//
// Why the interface has this shape: docs/design.md §9.1.
package catalog
