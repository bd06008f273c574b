// Package archive implements metactl's catalog archive: one zstd-compressed
// file holding the whole state of a catalog (every metadata file, live and
// moved, with its provenance), versioned, integrity-checked and
// reproducible. It is the fast way to ship a catalog: one download instead
// of thousands of small files.
//
// [Write] writes a stream of files, their states and the journal records
// ([Source]) as an archive; [Read], [ReadAll] and [Reader] decode and
// verify one; [IsArchive] recognises one from its first bytes. The package
// is a file format only: it owns the byte format, is the only user of zstd
// in metactl, and imports no catalog package. A catalog becomes an archive
// through export.WriteArchive (one read-only transaction), and an archive
// goes into a catalog through the importer like every other source
// (importer.ReadArchive).
//
// # Layout
//
// An archive is a sequence of zstd frames whose decompressed bytes,
// concatenated, are the plaintext (what `zstd -d` prints). Write cuts the
// plaintext into independent frames of [FrameSize] bytes, compressed in
// parallel, and puts the trailer line in a frame of its own; readers
// accept any framing, one frame or many (archives written before
// metactl cut frames hold one). The plaintext is:
//
//	header line     {"format":"metactl-archive","version":2,"generation":G,
//	                 "identity":"<64 hex or empty>","view_digest":"<64 hex>",
//	                 "files":N,"entries":E,"journal":J}\n
//	N times, in handle byte order:
//	  record line   {"handle":"metadata/<name>","state":"live"|"moved",
//	                 "source":"...","imported_at":"<RFC 3339, ns>",
//	                 "state_changed_at":"<RFC 3339, ns>","size":S,
//	                 "sha256":"<64 hex of the content>"}\n
//	  content       exactly S bytes: the file's bytes as the catalog holds them
//	  "\n"          one separator byte (not part of the content)
//	J times, oldest first (generations ascending, none after G):
//	  journal line  {"op":{<one Op: the catalog's journal record, field for field>}}\n
//	trailer line    {"end":true,"files":N,"sha256":"<64 hex>"}\n
//
// Each JSON line is a single line of compact JSON (encoding/json's output,
// field order as shown; the line breaks above are for reading only). The
// trailer's sha256 covers every plaintext byte before the trailer line:
// the header line, every record line, content and separator, and every
// journal line. Nothing follows the trailer. "journal" is left out of the
// header when J is 0.
//
// # Versions
//
// Version 2 added the journal, so an archive keeps the catalog's history:
// `metactl --catalog X.mcar log` shows the journal as it was at export and
// `verify` reports the generation the archive was made at. Readers accept
// version 1 (no journal lines, no "journal" field; it reads with an empty
// journal, so `log` on it shows no operation while `verify` still reports
// the archived generation)
// and version 2, and refuse any other version naming the versions they
// read. Writers write version 2 only.
//
// Generation, identity, view digest and entry count are the catalog's at
// the archived generation; times are the ones the catalog stores, never
// the time of the export. So two archives of the same generation have
// identical plaintext, byte for byte. Their compressed bytes may differ
// (compressed output is not stable across zstd library versions): hash and
// compare the plaintext, never the compressed file.
//
// # Verification
//
// A reader refuses, with an error wrapping [ErrBadArchive], anything that is
// not exactly this layout: a stream that is not zstd or is corrupt (zstd's
// frame checksum is on), a wrong format name or version, a record out of
// handle order or duplicated, a handle that is not "metadata/<ShellSafeName>",
// a line longer than [MaxLineSize], content larger than [MaxFileSize] or a
// plaintext larger than [MaxPlainSize], content whose SHA-256 differs from
// its record, a missing or wrong trailer, a file count that differs from
// the header, and bytes after the trailer. Each record is handed out only
// after its own SHA-256 matched, but the archive as a whole is good only
// once the trailer has been verified (Reader.Next returns io.EOF, Read and
// ReadAll return nil): callers must collect records and commit only then,
// as importer.ReadArchive does. Journal lines are checked too: only in
// version 2, only after every record, as many as the header says,
// generations strictly ascending and none after the archived generation.
//
// # Import
//
// importer.ReadArchive verifies the whole archive and hands its files to
// the importer as one batch; its commit checks, in the write transaction,
// that the resulting view digest and entry count equal the archive's
// header. The catalog's generation after an import is its own (one more
// than before), not the archive's.
package archive
