package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// Command returns the config's bash snippet for the call named op (a
// commands key such as "open_for_read"), or "" if the config has none.
func (a *CommandAdapter) Command(op string) string {
	c := &a.cfg.Commands
	switch op {
	case cmdCreateBackup:
		return c.CreateBackup
	case cmdCreateForWrite:
		return c.CreateForWrite
	case cmdOpenForRead:
		return c.OpenForRead
	case cmdSaveMetadataLine:
		return c.SaveMetadataLine
	case cmdListMetadataFiles:
		return c.ListMetadataFiles
	case cmdBackupMetadataFile:
		return c.BackupMetadataFile
	case cmdListMetadataBackupFiles:
		return c.ListMetadataBackupFiles
	}
	return ""
}

// Passthrough runs the config's command op exactly as Aptos runs it
// (docs/aptos-format.md §9.2), with params ("KEY=value", winning over the
// environment and env_vars) and the given stdin, stdout and stderr handed
// to bash as they are: an *os.File is passed to the child itself, so its
// bytes, its end of file and its closing reach the command untouched (a
// create_for_write that closes stdout before reading stdin works). It is
// how the command-adapter bridge hands a data file call to the storage it
// wraps.
//
// The command runs in its own process group, killed whole when ctx is
// done. A command that exits non-zero gives a *CommandError wrapping the
// *exec.ExitError, whose ExitCode the caller passes on; one killed by ctx
// wraps ctx's error.
func (a *CommandAdapter) Passthrough(ctx context.Context, op string, params []string, stdin io.Reader, stdout, stderr io.Writer) error {
	script := a.Command(op)
	if script == "" {
		return &CommandError{Op: op, Err: fmt.Errorf("the config has no %s command", op)}
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", shellPrelude+script)
	env := append(os.Environ(), a.env...)
	cmd.Env = append(env, params...)
	cmd.WaitDelay = waitDelay
	setProcessGroup(cmd)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if cerr := context.Cause(ctx); cerr != nil {
		return &CommandError{Op: op, Err: cerr}
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return &CommandError{Op: op, Err: err}
	}
	return &CommandError{Op: op, Err: err}
}
