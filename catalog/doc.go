// Package catalog is the API of metactl's catalog: a transactional model of
// one Aptos backup storage's metadata (the files, the Aptos view derived from
// them, a generation counter and a journal). It holds interfaces, value types
// and errors only; the backends live in subpackages (boltstore: one bbolt
// file; etcdstore: etcd) and register themselves, as database/sql drivers do.
//
// # Vocabulary
//
//   - [File]: a metadata file: handle ("metadata/x.meta"), exact content,
//     [State] (Live in metadata/, Moved to metadata_backup/), provenance,
//     SHA-256.
//   - [DB]: an open catalog. [DB.View] runs a read-only [Tx]; [DB.Update] a
//     [WriteTx] that bumps the generation and appends an [Operation] to the
//     journal.
//   - [Open] picks the backend from the location: "<scheme>://..." goes to
//     the backend registered for that scheme with [Register], a plain path to
//     the one registered as [FileScheme]. A program links backends in with a
//     blank import.
//   - [Options] are honoured by every backend: read-only, [Mode] (create a
//     missing catalog, [MustExist] or [MustBeNew]), lock timeout, clock,
//     command name. [Create] builds a new catalog in one bulk write.
//   - Optional interfaces a DB may implement, asked for by type assertion:
//     [BulkUpdater] (a large write on a scratch copy) and [EmptyRemover]
//     (behind [RemoveIfEmpty]).
//   - A backend passes internal/catalogtest's conformance table before it
//     is wired in.
//
// # Invariants
//
//   - A reader sees one committed generation, whole; a write is published
//     once, all or nothing, and fn runs exactly once.
//   - A write that changes no file (nor quarantine record) publishes
//     nothing; otherwise the generation grows by one and the journal
//     gains one record.
//   - The view, its digest and the stats change in the same transaction as
//     the files; [WriteTx.PreserveView] makes a write that would change the
//     view fail before it is published.
//   - A handle's content changes only through [NewFile.Replace]; a second
//     chain's Identity is refused ([ErrConflict]).
//   - Every backend bounds lock waits by [Options.Timeout] and reports
//     [*BusyError]; damage is [ErrCorrupt], a missing catalog [ErrNoCatalog].
//
// Why the interface has this shape: docs/design.md §9.
//
// # Quarantine
//
// A storage file that fails to parse or validate can be set aside instead
// of refusing a whole import (import --quarantine): [WriteTx.Quarantine]
// records a [QuarantinedFile] (handle, folder, error, bytes, provenance),
// [WriteTx.Release] removes it, [Tx.QuarantinedFiles] lists them.
// Quarantine records are not files: no view, compaction or export sees
// them, and [Operation.Quarantined] counts a write's changes to them (a
// write that only quarantines still publishes). Every backend carries
// them; the bbolt backend keeps them in an optional bucket.
package catalog
