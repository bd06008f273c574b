// Package workflow holds metactl's workflows: the steps a command runs
// over the catalog, the storage and the library packages (importer,
// compaction, export), so that a command only parses its flags, calls one
// function of this package and renders what it returns.
//
// Vocabulary:
//
//   - A [Catalog] is the catalog a workflow works on, as the caller names
//     it: how to open it to read, to write, or only if it exists, and how
//     to remove what a failed first write left behind.
//   - [Import] is the import strategy: read and validate a storage without
//     the catalog lock, then commit it in one transaction; a first import
//     streams into a catalog built aside.
//   - [DropIn] is the drop-in replacement for Aptos's backup-maintenance
//     compact: sync the storage into the catalog, compact the catalog,
//     publish the result back to the storage (or, in a dry run, predict all
//     three and change nothing).
//   - A [Bridge] answers the calls of a command-adapter config written by
//     [AdapterConfig] (bridge*.go): Aptos's own tools list, read, save
//     and move metadata through the catalog, in transactions, while data
//     files pass through to the wrapped storage's own commands.
//
// Invariants:
//
//   - The catalog lock is held only while a transaction commits, never
//     while a storage is read or written.
//   - A failed first write leaves no catalog behind.
//   - A dry run changes neither the catalog nor the storage.
//   - Nothing here prints or exits; progress and warnings go to the
//     caller's hooks.
package workflow
