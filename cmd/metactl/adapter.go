//go:build unix

package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"time"

	"github.com/metactl/metactl/adaptercall"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/workflow"
)

type adapterCmd struct {
	storageFlags
	Call string `arg:"" name:"call" enum:"create_backup,create_for_write,open_for_read,save_metadata_line,list_metadata_files,backup_metadata_file" help:"The command-adapter call: create_backup, create_for_write, open_for_read, save_metadata_line, list_metadata_files or backup_metadata_file."`
}

func (c *adapterCmd) Help() string {
	return `Answers one call of an Aptos command-adapter config written by 'metactl
adapter-config', with Aptos's variables (BACKUP_NAME, BACKUP_HANDLE,
FILE_NAME, FILE_HANDLE) and stdin/stdout contracts:

  list_metadata_files    the live files of one catalog generation
  open_for_read          a metadata file from the catalog (also one moved, or
                         deleted within the undo window, since a client
                         listed it); any other handle: the wrapped storage's
                         own command, bytes, stderr and exit status unchanged
  save_metadata_line     prints the handle, reads the lines, validates them as
                         import does, commits them in one transaction, then
                         writes them through to the wrapped storage
  backup_metadata_file   one move transaction, then the move in the storage
  create_backup, create_for_write
                         the wrapped storage's own command, unchanged

Readers open the catalog read-only and never take the writer lock. A
write-through that fails after the commit is a warning: the catalog holds the
file and the next 'metactl export' to the storage writes it. See
docs/aptos-bridge.md.`
}

func (c *adapterCmd) Validate() error {
	if err := c.storageFlags.validate(); err != nil {
		return err
	}
	if !c.given() {
		return usagef("give the wrapped storage: --command-adapter-config FILE or --local-fs-dir DIR")
	}
	return nil
}

func (c *adapterCmd) Run(a *app) error {
	if c.Call == workflow.CallListMetadataFiles && os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		// A listing is a short process whose garbage is about its
		// answer: collecting it cost a third of the CPU of a fresh
		// list of 100k files on etcd, and freed nothing the process
		// needed. The memory limit brings the collector back should a
		// catalog make the heap grow past it.
		debug.SetGCPercent(-1)
		debug.SetMemoryLimit(256 << 20)
	}
	var stdout io.WriteCloser = nopWriteCloser{a.stdout}
	if f, ok := a.stdout.(*os.File); ok {
		stdout = f
	}
	return c.answer(a, os.LookupEnv, stdout, func(ctx context.Context) (catalog.DB, error) {
		if err := checkCatalogPath(a.cli.Catalog, false); err != nil {
			return nil, err
		}
		return catalog.Open(ctx, a.cli.Catalog, a.options(true, "adapter "+c.Call))
	})
}

// answer answers the call with the call variables of getenv, writing to
// stdout and a.stderr: this process's own call (Run), or one the adapter
// server was asked (adapter_server.go). openRead opens the catalog for the
// read calls; writes open it as Run's own.
func (c *adapterCmd) answer(a *app, getenv func(string) (string, bool), stdout io.WriteCloser, openRead func(context.Context) (catalog.DB, error)) error {
	// The metadata reads never touch the wrapped storage: its config is
	// loaded and checked only for the calls that use it.
	var w *workflow.Wrapped
	if adaptercall.NeedsStorage(c.Call, getenv) {
		var err error
		if w, err = c.wrapped(); err != nil {
			return withOp("adapter", err)
		}
	}
	b := &workflow.Bridge{Storage: w, Timeout: time.Duration(c.AdapterTimeout), Open: func(ctx context.Context, readOnly bool) (catalog.DB, error) {
		if readOnly {
			return openRead(ctx)
		}
		return a.openExisting("adapter " + c.Call)
	}}
	if r, err := a.remote(); err != nil {
		return err
	} else if r != nil {
		// A served catalog answers the read calls; writes are refused
		// when they open the catalog (a served catalog is read-only).
		b.Served = &workflow.ServedCatalog{Client: r}
	}
	res, err := b.Run(a.ctx, c.Call, workflow.CallIO{Getenv: getenv, Stdin: os.Stdin, Stdout: stdout, Stderr: a.stderr})
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() > 0 {
		// A data call's own command failed: its stderr went through
		// already; pass its exit status back and add nothing.
		return silentExit(exit.ExitCode())
	}
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		a.warnf("%s", w)
	}
	return nil
}

// wrapped returns the wrapped storage; a command adapter's calls are
// bounded by --adapter-timeout.
func (s *storageFlags) wrapped() (*workflow.Wrapped, error) {
	if s.CommandAdapterConfig == "" {
		return workflow.NewWrapped(s.LocalFsDir, "")
	}
	ca, err := s.loadAdapter()
	if err != nil {
		return nil, err
	}
	return workflow.WrapAdapter(s.CommandAdapterConfig, ca)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
