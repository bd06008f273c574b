// Package storage reads and writes the legacy Aptos backup storages that
// metactl imports from and exports to: a LocalFs directory ([Local]) and a
// command adapter config ([CommandAdapter]). It knows handles, folders,
// gzip and shell commands; it knows nothing of the catalog or of the JSON
// lines inside metadata files, and it never prints. It depends only on the
// standard library and go.yaml.in/yaml/v3.
//
// # Handles and names
//
// A metadata file lives in one of two folders of a backup storage
// (docs/aptos-format.md §1.2): [aptos.MetadataDir] ("metadata") for live files
// and [aptos.MetadataBackupDir] ("metadata_backup") for the files compaction
// moved away. Aptos's FileHandle for a live file is "metadata/<name>"; for a
// moved file this package uses "metadata_backup/<name>", which is where every
// sample config and LocalFs put it. [aptos.ParseHandle] splits a handle,
// [aptos.LiveHandle] and [aptos.MovedHandle] build one.
//
// A [Listing] holds names (not handles), sorted and unique, exactly as the
// storage spells them: listings are not validated with [aptos.ValidName], because
// Aptos does not either (docs/aptos-format.md §4) and the importer must be
// able to name what it refuses. [aptos.ValidName] is Aptos's ShellSafeName,
// required of every name this package writes.
//
// # Reading: gzip and size limits
//
// Every Aptos sample config stores objects gzip-compressed under their
// plain .meta name, while LocalFs writes plain text (docs/aptos-format.md
// §1.3), so a metadata folder copied out of a bucket holds gzip files and a
// LocalFs one plain files. Readers therefore detect gzip by its magic bytes 1f
// 8b, not by the name, and decode like `gzip -cd`: all members concatenated,
// zero padding after the last member ignored, any other trailing bytes refused
// (gzip exits non-zero there, so Aptos would fail too). See [Decode].
//
// Every read takes a limit on the decompressed size ([DefaultMaxFileSize]
// when <= 0) and enforces it while reading, so a gzip bomb costs at most
// limit+1 bytes of memory before it is refused with [ErrTooLarge]. A broken
// gzip stream gives [ErrCorrupt].
//
// # Local
//
// [NewLocal] refuses a path that is not a storage folder before anything is
// read ([CheckLocalDir], [ErrNotStorage]): one without a metadata/ folder,
// or one naming the metadata/ or metadata_backup/ folder itself (the parent
// is suggested), so a slip is never taken for an empty storage.
//
// [Local] mirrors Aptos's LocalFs. List returns every entry of both folders
// (dotfiles, non-.meta files, subdirectories and symbolic links included;
// nothing is skipped silently) and treats a missing folder as empty.
// ReadFile accepts only "metadata/<name>" and "metadata_backup/<name>"
// handles with name a single path element; it opens the file with
// O_NOFOLLOW and O_NONBLOCK and refuses anything but a regular file
// ([ErrNotRegular]): a symbolic link planted as a metadata file is never
// followed, a named pipe never blocks. The metadata folder itself may be a
// symbolic link. Plain files are checked against the limit with fstat
// before reading. On Unix each file costs four system calls: open, fstat,
// one read of the size fstat gave (plus one byte, which shows a file that
// grew; only then, or after a short read, is it read on to its end) and
// close. To read many files, [Local.Reader] opens the two folders once and
// opens each file relative to its folder (openat), so the kernel resolves
// one path element per file; the importer uses it through [ReaderSource].
// Local only reads: writing a legacy folder atomically is the
// export package's job (export/doc.go).
//
// # Command adapter
//
// [CommandAdapter] runs the bash snippets of an Aptos command adapter config
// (docs/aptos-format.md §9). Each call runs
//
//	bash -c "set -o nounset -o errexit -o pipefail; <command>"
//
// with the environment os.Environ(), then the config's env_vars, then the
// call's own variables (the last value of a key wins, so call parameters win
// over env_vars and env_vars over the process environment). The stdout
// contracts are Aptos's:
//
//   - list_metadata_files: stdout read whole and split with Rust's str::lines
//     rules; every line must be "metadata/<name>".
//   - open_for_read (FILE_HANDLE): stdout is the content, decoded as above
//     while it is read; the exit status is checked at EOF.
//   - save_metadata_line (FILE_NAME): stdout is read to EOF first and, with
//     trailing whitespace trimmed, is the returned handle; only then is the
//     content written to stdin and stdin closed; the exit status is checked
//     last. The command must print its handle and close stdout
//     (`exec 1>&-`) before it reads stdin.
//   - backup_metadata_file (FILE_NAME = basename of the handle): output
//     ignored, exit status checked.
//
// create_backup and create_for_write are required in the config, as Aptos
// requires them, but metactl never writes backups, so they are never run.
//
// # The list_metadata_backup_files extension
//
// Aptos cannot list metadata_backup/. metactl accepts one extra, optional
// command key, list_metadata_backup_files, that prints the moved files one
// per line, each either a bare name or a "metadata_backup/<name>" handle.
// Aptos ignores unknown keys, so one config serves both tools. Without it,
// Listing.MovedListed is false and the importer cannot learn which files
// were moved. For a GCS bucket, for example:
//
//	list_metadata_backup_files: |
//	  (gsutil -q ls gs://$BUCKET/$SUB_DIR/metadata_backup/ ||:) \
//	    | sed -ne "s#gs://.*/metadata_backup/#metadata_backup/#p"
//
// testdata/local_folder_gzip.yaml is a complete config for a local folder
// shaped like the GCS sample.
//
// # Errors
//
// Command adapter failures are [*CommandError] values whose text is
// "command adapter <op> [<handle or name>]: <cause>[: <stderr tail>]", for
// example `command adapter list_metadata_files: exit status 1: AccessDenied`.
// Sentinels, matched with errors.Is: [ErrTooLarge], [ErrCorrupt],
// [ErrNotRegular], [aptos.ErrInvalidHandle], [aptos.ErrIllegalName],
// [ErrNoBackupCommand], fs.ErrNotExist (Local, missing file) and the
// context's error (a call ended by ctx).
//
// # Decisions
//
// Where Aptos is silent, undefined or unsafe, this package decided:
//
//   - env_vars as a map. Aptos reads only a list of {key, value}; the newest
//     upstream local_folder sample writes a map, which Aptos rejects.
//     metactl accepts both (the map in document order), since the intent is
//     unambiguous. Values may be any YAML scalar and are taken as written
//     (`value: 100` is "100"); a null value, an empty key or a key with "="
//     is an error. Duplicate keys anywhere are an error. A required key
//     present with a null value counts as missing.
//   - Required commands must be present but may be "" (Aptos accepts that);
//     a backup_metadata_file of "" counts as absent.
//   - Stderr is captured, not inherited as in Aptos, since only cmd/metactl
//     may print: its last 4 KiB go into the error. [CommandAdapter.Stderr]
//     can forward a live copy (for a verbose mode).
//   - Each command runs in its own process group; when ctx is done the group
//     is killed with SIGKILL, so pipelines and their children die too. Give
//     ctx a deadline: a command that never exits, or a stale config whose
//     save_metadata_line reads stdin before closing stdout (docs/aptos-format.md §11: the
//     local_folder, Azure, OCI and Scaleway samples), otherwise hangs, as it
//     hangs Aptos. Stdin is the null device for commands that take none.
//   - Names that reach the shell are ShellSafeNames. Sample configs expand
//     $FILE_HANDLE and $FILE_NAME unquoted, so ReadFile and
//     BackupMetadataFile refuse a handle whose name fails [aptos.ValidName] (for
//     example a listed ".hidden" or "a b") instead of letting the shell
//     split or glob it; SaveMetadataFile validates its name as Aptos does.
//     Local.ReadFile passes no name to a shell and accepts any single path
//     element, so the importer sees such files and refuses them itself.
//   - BackupMetadataFile only moves "metadata/<name>" handles, and returns
//     [ErrNoBackupCommand] when the config has no backup_metadata_file (Aptos
//     panics).
//   - Listing lines: a list_metadata_files line that is not
//     "metadata/<name>" (an empty line, a nested path, another folder) fails
//     the whole listing naming the line, since Aptos would fail on it later
//     anyway; duplicate lines are merged. A "\r" survives only where Rust's
//     str::lines keeps it (not followed by "\n"), and then fails aptos.ValidName
//     in the importer.
//   - SaveMetadataFile returns the printed handle verbatim (trimmed): ""
//     for configs that print none, two lines for the A0eb test config.
//     Whether that is acceptable is the exporter's call. Output longer than
//     64 KiB is an error; a listing may be up to 256 MiB.
//   - If a command fails on its own while its output is being refused
//     (corrupt gzip), the exit status is reported rather than the decode
//     error, as it explains more.
//   - A ".." substring inside a name ("a..b", a valid ShellSafeName) is
//     fine; only a ".." element, "/", NUL and absolute paths are refused.
package storage
