package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"

	"github.com/metactl/metactl/aptos"
)

// ErrNoBackupCommand is returned by [CommandAdapter.BackupMetadataFile] when
// the config has no backup_metadata_file command (Aptos panics there).
var ErrNoBackupCommand = errors.New("command adapter config has no backup_metadata_file command")

const (
	// maxHandleOutput bounds what save_metadata_line may print: a handle.
	maxHandleOutput = 64 << 10
	// maxListOutput bounds a listing: about 3 million 80-byte lines.
	maxListOutput = 256 << 20
)

// CommandAdapter is an Aptos command adapter backup storage
// (docs/aptos-format.md §9): each operation runs a bash snippet from a YAML
// config. It is safe for concurrent use; every call runs its own process.
//
// Calls block for as long as their command runs. Give ctx a deadline when
// the commands talk to a network: a command that never exits, or one that
// breaks the stdout contract (reads stdin before closing stdout), would
// otherwise hang the call, as it hangs Aptos. When ctx is done the
// command's whole process group is killed.
type CommandAdapter struct {
	cfg CommandAdapterConfig
	env []string // cfg.EnvVars as KEY=value

	// Timeouts bound every call; a call that runs longer is killed with
	// its process group and fails with a [*TimeoutError] naming the call
	// and its handle. The zero value sets no limit.
	Timeouts Timeouts

	// Stderr, if not nil, receives a copy of every command's standard
	// error as it is written. It must be safe for concurrent use if calls
	// run concurrently. The last 4 KiB of stderr are kept for errors
	// either way.
	Stderr io.Writer
}

// NewCommandAdapter returns the adapter for cfg. It fails only on an
// environment variable name that cannot be used (empty, or containing "="
// or NUL).
func NewCommandAdapter(cfg CommandAdapterConfig) (*CommandAdapter, error) {
	a := &CommandAdapter{cfg: cfg}
	a.cfg.EnvVars = slices.Clone(cfg.EnvVars)
	for i, e := range cfg.EnvVars {
		if err := checkEnvKey(e.Key, fmt.Sprintf("env_vars[%d]", i), "command adapter config"); err != nil {
			return nil, err
		}
		a.env = append(a.env, e.Key+"="+e.Value)
	}
	return a, nil
}

// Config returns a copy of the adapter's config.
func (a *CommandAdapter) Config() CommandAdapterConfig {
	cfg := a.cfg
	cfg.EnvVars = slices.Clone(a.cfg.EnvVars)
	return cfg
}

// CanBackup reports whether the config has a backup_metadata_file command,
// without which [CommandAdapter.BackupMetadataFile] fails.
func (a *CommandAdapter) CanBackup() bool { return a.cfg.Commands.BackupMetadataFile != "" }

// List runs list_metadata_files and, if configured, metactl's
// list_metadata_backup_files.
//
// list_metadata_files output is split into lines as Rust's str::lines does
// ("\n" or "\r\n" ends a line, no empty line after a final newline); every
// line must be a handle "metadata/<name>" with name one path element, or List
// fails naming the line. list_metadata_backup_files lines may be a bare name
// or "metadata_backup/<name>". Names are returned sorted, duplicates once.
// MovedListed is true only when list_metadata_backup_files is configured.
func (a *CommandAdapter) List(ctx context.Context) (Listing, error) {
	out, err := a.output(ctx, cmdListMetadataFiles, a.cfg.Commands.ListMetadataFiles)
	if err != nil {
		return Listing{}, err
	}
	live, err := parseListing(out, aptos.MetadataDir, false)
	if err != nil {
		return Listing{}, &CommandError{Op: cmdListMetadataFiles, Err: err}
	}
	l := Listing{Live: live, Moved: []string{}}
	if a.cfg.Commands.ListMetadataBackupFiles == "" {
		return l, nil
	}
	out, err = a.output(ctx, cmdListMetadataBackupFiles, a.cfg.Commands.ListMetadataBackupFiles)
	if err != nil {
		return Listing{}, err
	}
	if l.Moved, err = parseListing(out, aptos.MetadataBackupDir, true); err != nil {
		return Listing{}, &CommandError{Op: cmdListMetadataBackupFiles, Err: err}
	}
	l.MovedListed = true
	return l, nil
}

// output runs a command that takes no parameters and returns its stdout.
func (a *CommandAdapter) output(ctx context.Context, op, script string) ([]byte, error) {
	p, err := a.start(ctx, call{op: op, script: script, stdout: true})
	if err != nil {
		return nil, err
	}
	out, err := readOutput(p.stdout, maxListOutput)
	if err != nil {
		return nil, p.abort(err)
	}
	if err := p.wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// readOutput reads a command's stdout to EOF, refusing more than limit bytes.
func readOutput(r io.Reader, limit int64) ([]byte, error) {
	out, err := readAtMost(r, limit, 0, false)
	if errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("stdout longer than %d bytes", limit)
	}
	if err != nil {
		return nil, fmt.Errorf("read stdout: %w", err)
	}
	return out, nil
}

// parseListing turns listing output into sorted unique names. Every line
// must be "<dir>/<name>", or, if bare is set, just "<name>".
func parseListing(out []byte, dir string, bare bool) ([]string, error) {
	names := []string{}
	n := 0 // the line's number
	for b := range aptos.Lines(out) {
		n++
		line := string(b)
		name, ok := strings.CutPrefix(line, dir+"/")
		if !ok && bare {
			name, ok = line, true
		}
		if !ok || !aptos.ValidElement(name) {
			if bare {
				return nil, fmt.Errorf(`line %d: %q is neither a file name nor a "%s/<name>" handle`, n, line, dir)
			}
			return nil, fmt.Errorf(`line %d: %q is not a "%s/<name>" handle`, n, line, dir)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// ReadFile runs open_for_read with FILE_HANDLE=handle and returns its stdout,
// decompressed as [Decode] does: sample configs already pipe through
// `gzip -cd`, but one that prints the stored bytes as they are works too.
// The output is decoded while it is read, so more than max decompressed bytes
// ([ErrTooLarge]) stop and kill the command; the exit status is checked at
// EOF. max <= 0 means [DefaultMaxFileSize].
//
// handle must be "metadata/<name>" or "metadata_backup/<name>" with name a
// ShellSafeName ([aptos.ValidName]): sample configs expand $FILE_HANDLE unquoted,
// so another name could be split or globbed by the shell.
func (a *CommandAdapter) ReadFile(ctx context.Context, handle string, max int64) ([]byte, error) {
	maxSize := effectiveMax(max)
	if _, _, err := shellSafeHandle(handle); err != nil {
		return nil, refused(cmdOpenForRead, handle, err)
	}
	p, err := a.start(ctx, call{
		op:     cmdOpenForRead,
		target: handle,
		script: a.cfg.Commands.OpenForRead,
		params: []string{"FILE_HANDLE=" + handle},
		stdout: true,
	})
	if err != nil {
		return nil, err
	}
	data, err := decodeStream(p.stdout, maxSize, 0)
	if err != nil {
		return nil, p.abort(err)
	}
	if err := p.wait(); err != nil {
		return nil, err
	}
	return data, nil
}

// SaveMetadataFile runs save_metadata_line with FILE_NAME=name and writes
// content to its stdin, as Aptos's save_metadata_lines does. name must pass
// [aptos.ValidName]. Following the stdout contract of Aptos
// (docs/aptos-format.md §9.2), stdout is read to EOF first, and only then is
// content written and stdin closed; the command must therefore print its
// handle and close stdout (`exec 1>&-`) before it reads stdin. The exit status
// is checked last.
//
// It returns what the command printed, trailing whitespace trimmed, as the
// handle: "metadata/<name>" with current sample configs, "" with stale ones
// that print nothing. The caller decides whether that is acceptable.
func (a *CommandAdapter) SaveMetadataFile(ctx context.Context, name string, content []byte) (handle string, err error) {
	if err := aptos.ValidName(name); err != nil {
		return "", &CommandError{Op: cmdSaveMetadataLine, Err: err}
	}
	p, err := a.start(ctx, call{
		op:     cmdSaveMetadataLine,
		target: name,
		script: a.cfg.Commands.SaveMetadataLine,
		params: []string{"FILE_NAME=" + name},
		stdin:  true,
		stdout: true,
	})
	if err != nil {
		return "", err
	}
	out, err := readOutput(p.stdout, maxHandleOutput)
	if terr := p.timedOut(); terr != nil && ctx.Err() == nil {
		p.stdin.Close()
		p.abort(terr)
		return "", p.fail(fmt.Errorf("%w while waiting for stdout to close (save_metadata_line must print the handle and run `exec 1>&-` before reading stdin)", terr))
	}
	if cerr := ctx.Err(); cerr != nil {
		// Most likely a config that reads stdin before closing stdout
		// (stale samples do): say so, since the deadline alone explains
		// nothing.
		p.stdin.Close()
		p.abort(cerr)
		return "", p.fail(fmt.Errorf("%w while waiting for stdout to close (save_metadata_line must print the handle and run `exec 1>&-` before reading stdin)", cerr))
	}
	if err != nil {
		p.stdin.Close()
		return "", p.abort(err)
	}
	_, werr := p.stdin.Write(content)
	if cerr := p.stdin.Close(); werr == nil {
		werr = cerr
	}
	if err := p.wait(); err != nil {
		return "", err
	}
	if werr != nil {
		// The command exited 0 without reading all of its input.
		return "", p.fail(fmt.Errorf("write stdin: %w", werr))
	}
	return strings.TrimRightFunc(string(out), unicode.IsSpace), nil
}

// BackupMetadataFile runs backup_metadata_file with FILE_NAME set to the name
// in handle, which must be "metadata/<name>" with name a ShellSafeName. Its
// output is ignored; only the exit status counts. Without a
// backup_metadata_file command it returns [ErrNoBackupCommand] and runs
// nothing.
func (a *CommandAdapter) BackupMetadataFile(ctx context.Context, handle string) error {
	if !a.CanBackup() {
		return ErrNoBackupCommand
	}
	dir, name, err := shellSafeHandle(handle)
	if err != nil {
		return refused(cmdBackupMetadataFile, handle, err)
	}
	if dir != aptos.MetadataDir {
		return &CommandError{Op: cmdBackupMetadataFile, Target: handle, Err: fmt.Errorf(`%w: only "metadata/<name>" files can be moved`, aptos.ErrInvalidHandle)}
	}
	p, err := a.start(ctx, call{
		op:     cmdBackupMetadataFile,
		target: handle,
		script: a.cfg.Commands.BackupMetadataFile,
		params: []string{"FILE_NAME=" + name},
	})
	if err != nil {
		return err
	}
	return p.wait()
}

// shellSafeHandle parses handle and checks that its name is a ShellSafeName.
func shellSafeHandle(handle string) (dir, name string, err error) {
	if dir, name, err = aptos.ParseHandle(handle); err != nil {
		return "", "", err
	}
	if err = aptos.ValidName(name); err != nil {
		return "", "", err
	}
	return dir, name, nil
}

// refused is the error of a call refused before running: the target is named
// only if the handle parsed, since a [aptos.ParseHandle] error already quotes it.
func refused(op, handle string, err error) error {
	if errors.Is(err, aptos.ErrInvalidHandle) {
		handle = ""
	}
	return &CommandError{Op: op, Target: handle, Err: err}
}
