// Package aptos is the model of Aptos backup-storage metadata: the five
// kinds of metadata line, their serde_json codec, file handles and names,
// the derived view and its digest, and the queries Aptos answers from it.
// It imports the standard library only, so every rule of the format exists
// once and every other package (the catalog, storages, the archive, the
// importer) uses the same one.
//
// # Vocabulary
//
//   - [Metadata]: one line of an Aptos metadata file, one of five variants
//     ([Kind]). [ParseLine] and [AppendLine] convert it to and from the
//     serde_json bytes that Aptos's Rust tools read and write, byte for
//     byte; [AppendPretty] prints it as serde_json's pretty printer does.
//   - Handles: "metadata/<name>" for live files and
//     "metadata_backup/<name>" for moved ones ([LiveHandle], [MovedHandle],
//     [ParseHandle]); names obey Aptos's ShellSafeName ([ValidName]).
//   - [View]: what the live files say, derived exactly as Aptos's
//     MetadataView derives it (sorted, exact duplicates dropped). Queries
//     (StorageState, SelectTransactionBackups, ...) give Aptos's answers.
//   - [EntryKey]: the canonical byte encoding of a view entry, whose byte
//     order is the view's order.
//   - [Digest]: the view digest, an order-independent hash of the view's
//     entry set, maintained entry by entry with [Digest.Add] and
//     [Digest.Subtract].
//
// The format facts these rules follow, with their sources in aptos-core,
// are written down in docs/aptos-format.md.
package aptos
