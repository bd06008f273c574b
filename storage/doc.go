// Package storage reads and writes the legacy Aptos backup storages that
// metactl imports from and exports to: a LocalFs folder ([Local] reads it,
// [LocalWriter] writes it) and a command-adapter config
// ([CommandAdapter]). It knows handles, folders, gzip and shell commands;
// it knows nothing of the catalog or of the lines inside metadata files,
// and it never prints.
//
// Vocabulary:
//
//   - A handle is "metadata/<name>", a live file, or
//     "metadata_backup/<name>", a file compaction moved away
//     ([aptos.ParseHandle]).
//   - A [Listing] holds the names of both folders as the storage spells
//     them, sorted and unique, unvalidated: the importer names what it
//     refuses.
//   - A [Source] is what the importer reads; a [ReaderSource] opens one
//     reader for many files.
//   - [StagingDir] is metactl's own folder in a LocalFs storage, where
//     files are written before they are renamed into place.
//
// Invariants:
//
//   - Nothing below a LocalFs storage folder is followed if it is a
//     symbolic link, to read or to write: every folder and file is opened
//     relative to its parent with O_NOFOLLOW, and only regular files are
//     read, compared, replaced or removed ([ErrNotRegular], [ErrSymlink]).
//     This safe-open layer exists once, here.
//   - Gzip is detected by content, never by name, and decoded as
//     `gzip -cd` does ([Decode]); every read enforces a limit on the
//     decompressed size while it reads ([DefaultMaxFileSize],
//     [ErrTooLarge]).
//   - A name that reaches a shell is a ShellSafeName ([aptos.ValidName]).
//   - Command-adapter calls run as Aptos runs them (bash, the config's
//     env_vars, Aptos's stdout contracts), each in its own process group,
//     killed with it when ctx ends; a failure is a [*CommandError].
//   - A LocalWriter holds the storage folder's flock while it works: one
//     writer at a time ([ErrBusy]).
//
// Each command's contract, the list_metadata_backup_files extension and
// the decisions where Aptos is silent: docs/design.md §10.1.
package storage
