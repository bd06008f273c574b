// Package archive implements metactl's catalog archive: one
// zstd-compressed file holding the whole state of a catalog (every
// metadata file, live and moved, with its provenance, and the journal),
// versioned, integrity-checked and reproducible: one download instead of
// thousands of small files. [Write] writes a stream of files, states and
// journal records ([Source]) as an archive; [Read], [ReadAll] and [Reader]
// decode and verify one; [IsArchive] recognises one from its first bytes.
//
// Vocabulary:
//
//   - The plaintext: the decompressed bytes (what `zstd -d` prints), a
//     header line, one record line and the content per file in handle
//     order, the journal lines, a trailer line ([Header], [FileRecord],
//     [Op]).
//   - A frame: Write cuts the plaintext into independent zstd frames of
//     [FrameSize] bytes; readers accept any framing.
//   - The version: writers write [FormatVersion]; readers also read
//     version 1 (no journal).
//
// Invariants:
//
//   - A format only: it owns the byte format, is the only user of zstd in
//     metactl, and imports no catalog package. A catalog becomes an
//     archive through [export.WriteArchive], and an archive goes into a
//     catalog through [importer.ReadArchive].
//   - Two archives of the same generation have the same plaintext, byte
//     for byte (compare plaintexts, never compressed files).
//   - A reader refuses anything that is not exactly the layout
//     ([ErrBadArchive]); each record is handed out only after its own
//     SHA-256 matched, and the archive as a whole is good only once the
//     trailer is verified, so a caller commits only then.
//
// The byte layout, the versions and every check a reader makes:
// docs/design.md §10.5.
package archive
