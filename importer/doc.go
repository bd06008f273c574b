// Package importer syncs a legacy Aptos backup storage's metadata into the
// catalog: [Read] reads a [storage.Source] (a LocalFs folder or a command
// adapter), [Prepare] takes files already in hand; each returns a [Batch],
// and [Batch.Commit] writes it.
// [FromStorage] and [Files] do both steps. It never prints; the caller
// renders the [Result] (with its [Warning]s) or the error.
//
// # Nobody waits for the source
//
// Reading a storage can take minutes (a bucket of 200k objects, a slow
// listing). Read and Prepare need no catalog: they list, download,
// decompress and validate with no lock held, while readers and writers of
// the catalog go on. Only Commit opens a write transaction, and it plans the
// changes inside it, against the generation it finds: if another writer
// committed since the batch was read (another import, a compaction), the
// plan is simply recomputed, with the same sync rules, never refused as
// stale. A caller opens the catalog for writing just before Commit and
// closes it just after, so a reader waits at most for that one commit.
//
// # How an import runs
//
//  1. Read: list metadata/ and metadata_backup/, then read every file,
//     Options.Concurrency at a time. Files are plain or gzip (detected by
//     content). Lines of any length are read whole, without a scanner
//     limit; a file over Options.MaxFileSize (256 MiB by default) is a
//     problem: "import metadata/x.meta: file is larger than 256 MiB".
//  2. Validate: parse every line as Aptos does (aptos.ParseFileAll) and
//     check it with aptos.ValidateEntry, which adds metactl's rules to
//     Aptos's (first <= last, no last of u64::MAX, safe manifest handles).
//     A file is UTF-8 text split as Rust's str::lines splits it: CRLF line
//     ends are fine, an empty line in the middle is not, and an empty file
//     (0 bytes) is valid and holds no line, since Aptos accepts it.
//  3. Commit: only if nothing at all is wrong, everything is written in one
//     catalog transaction (db.Update "import"), the parsed lines handed to
//     catalog.WriteTx.PutFile so nothing is parsed twice.
//
// Bad input gives an [*InputError] listing every problem found (up to
// Options.MaxProblems, then "... and N more"), one per line, each naming
// the file as the storage names it and the line:
//
//	import metadata/transaction_0-14.meta:3:59: missing field `manifest`
//	import metadata/transaction_15-29.meta:1: first_version 29 > last_version 15
//	import metadata_backup/x.meta: file is larger than 256 MiB
//
// A line that does not parse gets its column after the line number, as
// compilers print it. Nothing is written then: the catalog file stays
// byte-for-byte as it was. errors.Is(err, aptos.ErrInvalid) holds for
// every InputError, and errors.Is(err, catalog.ErrConflict) when one of its
// problems is a conflict.
//
// A source that fails (a listing or a read that errors, a command that
// exits non-zero, a file listed and then gone, ctx done) gives a plain
// error, and nothing is written either.
//
// # Sync rules
//
// Import is a sync from the storage into the catalog, safe to repeat while
// Aptos's own tools keep running beside metactl:
//
//   - A name in metadata/ is a live file, one in metadata_backup/ a moved
//     one. A name in both with the same content is one live file (Aptos's
//     move copies before it deletes); with other content it is a conflict.
//   - A new file is added in its state.
//   - A file the catalog has live and the storage has moved becomes moved.
//   - A file the catalog has moved and the storage lists as live stays
//     moved (the catalog wins) and is listed in Result.KeptMoved; an export
//     moves it in the storage.
//   - A file the catalog has and the storage no longer lists is kept, never
//     deleted (a partial listing must not destroy anything), and listed in
//     Result.Missing. A moved file is reported only if the source could
//     list metadata_backup/ (storage.Listing.MovedListed).
//   - The same handle with other content is a conflict: Aptos assumes a
//     handle's content never changes. The problem names both sides (the
//     digests, the sources, when the catalog's copy was imported).
//   - An Identity line that differs from the catalog's identity, or from
//     another Identity line of the same import, is a conflict: another
//     chain's storage.
//   - Re-importing the same storage changes nothing: the transaction is
//     rolled back, the generation stays, Result.Changed is false.
//
// # Stray entries
//
// Aptos's LocalFs lists every entry of metadata/ and parses each one, so a
// file that is not a metadata file there (".DS_Store", "README", an editor's
// "x.meta~", a "x.meta.tmp" left by a copy, a subdirectory) makes Aptos's
// own tools fail to load the storage. metactl imports only entries named
// as Aptos names metadata files, a ShellSafeName
// (`[a-zA-Z0-9][a-zA-Z0-9._-]{2,126}`) ending in ".meta", that are regular
// files. Every other entry, in metadata/ or metadata_backup/, is a stray:
// it is not read, and is listed in Result.Skipped; with Options.Strict it
// is a problem wrapping [ErrStray] instead. Dotfiles such as ".hidden.meta"
// are strays (not ShellSafeName). Symbolic links are strays too: metactl
// never follows them. An export writes only the catalog's files, so it
// leaves strays out of a fresh folder.
//
// # Concurrency and progress
//
// Reads run Options.Concurrency at a time, each file parsed and validated
// by the goroutine that read it (files in hand, as Prepare takes them, are
// parsed on all CPUs); a source that can open a reader for many files
// (storage.ReaderSource: a LocalFs folder) is read through one. Every
// other step, and every Options.Progress call, runs on the calling
// goroutine. The write transaction spans only the commit phase: readers of
// the catalog, in this process or another, wait at most for that commit.
//
// # Warnings
//
// What is worth an operator's attention but no reason to refuse the import
// is a [Warning] in Result.Warnings, with a code: a stray entry skipped and
// why ([WarnSkipped]: a dotfile, a name not ending in ".meta", a symbolic
// link, a sub-folder, a named pipe, ...), a zero-byte file
// ([WarnEmptyFile]), CRLF line ends ([WarnCRLF]), a file named as Aptos
// names one entry or chunk whose content says otherwise
// ([WarnNameMismatch]), compaction timestamps more than [FutureSlack]
// after Options.Now ([WarnFutureTimestamps]), and an import that leaves
// versions or epochs inside the restorable range uncovered that were
// covered before ([WarnGap]).
// Read and Prepare hold everything read in memory until the commit (a
// metadata file is small; Options.MaxFileSize bounds a hostile one).
//
// # A first import streams
//
// Into a catalog that does not exist yet, [NewCatalog] (what the CLI does
// for a first import) streams instead: it lists the source, then reads,
// validates and writes the files 256 at a time, in handle order, into a
// catalog built on a scratch file ([catalog.Create]), dropping each batch
// once written, with the next batch read on other goroutines meanwhile.
// Memory stays bounded (1M lines in files of 100: about 175 MiB peak
// instead of 1.4 GiB). All or nothing still holds: the first problem stops
// the writing but not the reading, so every problem is still reported (up
// to Options.MaxProblems), and no catalog, lock file or scratch file is
// left unless everything succeeds. A new catalog makes some work
// unnecessary: nothing to plan against, no view before, duplicates are
// the live entry lines less the entries after, and the gap warnings come
// from the ranges collected while streaming. The catalog's lock is held
// while the source is read (there is nothing to read from the catalog
// meanwhile). The Result and the catalog are those FromStorage would give
// (TestStreamedFirstImportEqualsOneTransaction). Its failpoints are the
// same names, all inside the build: "import.after-read" and
// "import.after-validate" after the last batch, "import.after-put",
// "import.before-commit"; "import.after-commit" once the catalog is in
// place.
//
// Failpoints (package internal/failpoint): "import.after-read" and
// "import.after-validate" (in Read and Prepare, before any catalog lock),
// and "import.after-put" inside the transaction
// after every file is written; the catalog adds "import.before-commit" and
// "import.after-commit".
package importer
