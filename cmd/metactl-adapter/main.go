//go:build unix

// Command metactl-adapter is the lean twin of 'metactl adapter': the same
// command line and the same answers, in a binary that links only what the
// bridge's calls need on a catalog file (no etcd client, gRPC, Prometheus
// or CLI parser, whose package initialisation alone costs more than a
// whole call). Aptos spawns one process per call, 40,000 for a fresh
// metadata sync, so a call's start-up is most of its cost
// (docs/aptos-bridge.md, "What a call costs").
//
// It answers the calls a sync or a restore makes, list_metadata_files
// and open_for_read of metadata from the catalog, and the data calls
// (create_backup, create_for_write, open_for_read of a data file) on a
// wrapped LocalFs folder, with the package adaptercall alone: nothing
// that writes a catalog (importer, compaction, export, the archive format
// and its zstd) is linked in, nor the storage layer with its YAML parser.
// For anything else it runs metactl itself, found beside it, with the
// same arguments: the writes (save_metadata_line, backup_metadata_file: a
// few per backup), the data calls on a wrapped command-adapter config (a
// bucket: its YAML is parsed there), a catalog location that is not a
// catalog file (a URL, an archive, a folder, a missing or damaged file:
// whatever the read-only open refuses but a busy lock), a handle the
// catalog does not hold, and a command line it does not know. 'metactl adapter-config' writes
// configs that call it when it is installed beside metactl. On a catalog
// that is not a file, it sends the read calls to the per-host adapter
// server instead (served.go).
//
// A generated config runs it with GOMAXPROCS=1 and the caller's value in
// METACTL_ADAPTER_CALLER_GOMAXPROCS, which it puts back before it runs
// anything (restoreEnv); it watches for SIGINT and SIGTERM only once it
// waits (callContext). Both spare a call scheduler threads it has no use
// for (docs/aptos-bridge.md, "What a call costs").
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/metactl/metactl/adaptercall"
	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	_ "github.com/metactl/metactl/catalog/boltstore" // catalog files
	"github.com/metactl/metactl/internal/timespan"
)

// Exit codes, as metactl documents them.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitInvalid     = 3
	exitBusy        = 5
	exitNotFound    = 6
	exitInterrupted = 130
)

// args is the command line adapter-config writes:
// --catalog LOC [--lock-timeout DUR] adapter [--adapter-timeout DUR]
// (--local-fs-dir DIR | --command-adapter-config FILE) CALL.
type args struct {
	catalog, localFsDir, config, call string
	lockTimeout, adapterTimeout       time.Duration
}

// parse reads the command line; ok is false for anything else, which the
// full metactl then handles.
func parse(argv []string) (a args, ok bool) {
	a.lockTimeout, a.adapterTimeout = 30*time.Second, 10*time.Minute
	seenAdapter := false
	for i := 0; i < len(argv); i++ {
		w := argv[i]
		val := func() (string, bool) {
			if i+1 >= len(argv) {
				return "", false
			}
			i++
			return argv[i], true
		}
		var v string
		var have bool
		switch {
		case w == "adapter" && !seenAdapter:
			seenAdapter = true
			continue
		case w == "--catalog" && !seenAdapter:
			if a.catalog, have = val(); !have {
				return a, false
			}
		case w == "--lock-timeout" && !seenAdapter, w == "--adapter-timeout" && seenAdapter:
			if v, have = val(); !have {
				return a, false
			}
			d, err := timespan.Parse(v)
			if err != nil {
				return a, false
			}
			if w == "--lock-timeout" {
				a.lockTimeout = d
			} else {
				a.adapterTimeout = d
			}
		case w == "--local-fs-dir" && seenAdapter:
			if a.localFsDir, have = val(); !have {
				return a, false
			}
		case w == "--command-adapter-config" && seenAdapter:
			if a.config, have = val(); !have {
				return a, false
			}
		case seenAdapter && a.call == "" && !strings.HasPrefix(w, "-"):
			a.call = w
		default:
			return a, false
		}
	}
	return a, seenAdapter && a.call != "" && a.catalog != "" && !catalog.IsURL(a.catalog) &&
		(a.localFsDir == "") != (a.config == "")
}

func main() {
	restoreEnv()
	a, ok := parse(os.Args[1:])
	if !ok {
		if code, ok := viaServer(os.Args[1:]); ok {
			os.Exit(code)
		}
		full()
	}
	os.Exit(run(newCallContext(), a))
}

// callContext is a call's context: SIGINT and SIGTERM cancel it, as they
// cancel metactl's (the call ends "interrupted", exit 130). But it starts
// watching for them only when something waits on it (Done): a wait for
// the catalog's lock (a bucket's commands run in metactl, and the data
// calls on a LocalFs folder wait on nothing). Watching costs a
// goroutine blocked in the runtime's signal queue, which takes an OS
// thread of its own: about a fifth of an open_for_read's CPU
// (docs/aptos-bridge.md, "What a call costs"), and an open_for_read or a
// list_metadata_files that finds the catalog free never waits. Until
// then a signal ends the process as it does before main runs; the call
// has written nothing to the catalog, and is a moment from its end.
type callContext struct {
	context.Context // cancelled by the first signal once watched
	cancel          context.CancelFunc
	watch           sync.Once
}

func newCallContext() *callContext {
	c := &callContext{}
	c.Context, c.cancel = context.WithCancel(context.Background())
	return c
}

// Done starts the watch for SIGINT and SIGTERM on its first call.
func (c *callContext) Done() <-chan struct{} {
	c.watch.Do(func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		go func() {
			<-sig
			c.cancel()
		}()
	})
	return c.Context.Done()
}

// restoreEnv undoes what a generated config's command line set for this
// process alone (workflow.AdapterConfig): GOMAXPROCS=1, with the caller's
// value in [adaptercall.CallerGOMAXPROCS]. Whatever this process runs
// (metactl, the wrapped storage's commands, the adapter server) gets the
// caller's environment back; an empty value was an unset GOMAXPROCS, to
// the Go runtime the same thing.
func restoreEnv() {
	v, ok := os.LookupEnv(adaptercall.CallerGOMAXPROCS)
	if !ok {
		return
	}
	os.Unsetenv(adaptercall.CallerGOMAXPROCS)
	if v == "" {
		os.Unsetenv("GOMAXPROCS")
	} else {
		os.Setenv("GOMAXPROCS", v)
	}
}

// full replaces this process with metactl, found beside this binary.
func full() {
	self, err := os.Executable()
	if err == nil {
		bin := filepath.Join(filepath.Dir(self), "metactl")
		err = syscall.Exec(bin, append([]string{bin}, os.Args[1:]...), os.Environ())
		err = fmt.Errorf("run %s: %w", bin, err)
	}
	fmt.Fprintf(os.Stderr, "metactl: %v\n", err)
	os.Exit(exitError)
}

// run answers the call, or hands it to metactl (full), which does not
// return.
func run(ctx context.Context, a args) int {
	cio := adaptercall.CallIO{Getenv: os.LookupEnv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	switch a.call {
	case adaptercall.CallListMetadataFiles:
		return read(ctx, a, func(db catalog.DB) (bool, error) {
			_, err := adaptercall.List(ctx, db, os.Stdout)
			return false, err
		})
	case adaptercall.CallOpenForRead:
		h, ok := os.LookupEnv("FILE_HANDLE")
		if !ok {
			full()
		}
		if handle, ok := adaptercall.MetadataHandle(h); ok {
			return read(ctx, a, func(db catalog.DB) (bool, error) {
				content, _, err := adaptercall.ReadMetadata(ctx, db, handle)
				if err != nil {
					return errors.Is(err, catalog.ErrNotFound), err
				}
				if _, err := os.Stdout.Write(content); err != nil {
					return false, fmt.Errorf("adapter %s: %s: write stdout: %w", a.call, handle, err)
				}
				return false, nil
			})
		}
		return data(a, cio)
	case adaptercall.CallCreateBackup, adaptercall.CallCreateForWrite:
		return data(a, cio)
	}
	full() // the writes, and any other call
	return exitError
}

// read opens the catalog read-only and runs fn on it. An open that fails
// for any reason but a busy lock or an interrupt, and an error fn says
// metactl should word (a handle the catalog does not hold), go to metactl
// itself: nothing was written yet, and its answer is the reference one.
func read(ctx context.Context, a args, fn func(catalog.DB) (toFull bool, err error)) int {
	timeout := a.lockTimeout
	if timeout <= 0 {
		timeout = -1
	}
	db, err := catalog.Open(ctx, a.catalog, &catalog.Options{ReadOnly: true, Timeout: timeout, Command: "metactl adapter " + a.call})
	if err != nil {
		var busy *catalog.BusyError
		if !errors.As(err, &busy) && ctx.Err() == nil {
			full()
		}
		return report(fmt.Errorf("adapter %s: %w", a.call, err))
	}
	toFull, err := fn(db)
	// The catalog stays open when the answer is written: the process
	// exits now, and its exit unmaps the file and drops the shared lock
	// (Close's munmap was 2% of an open_for_read's CPU). Before metactl
	// runs, it is closed.
	switch {
	case err == nil:
		return exitOK
	case toFull && ctx.Err() == nil:
		db.Close()
		full()
	}
	db.Close()
	return report(fmt.Errorf("adapter %s: %w", a.call, err))
}

// data passes a data-file call to the wrapped storage. A LocalFs folder
// is answered here, as Aptos's LocalFs does ([adaptercall.LocalData], which
// metactl runs too). A bucket's command-adapter config goes to metactl, as
// does a folder that does not check out (metactl words the error): parsing
// the config's YAML needs a parser whose package initialisation (with
// regexp and the unicode tables) would cost every call, the metadata
// reads too, about a tenth of its CPU (docs/aptos-bridge.md, "A call's own
// CPU"); next to the bucket's own command (a cloud CLI) metactl's start-up
// is small.
func data(a args, cio adaptercall.CallIO) int {
	if a.config != "" {
		full()
	}
	dir, err := adaptercall.LocalFsDir(a.localFsDir)
	if err != nil {
		full()
	}
	params, err := adaptercall.DataParams(a.call, cio)
	if err == nil {
		err = adaptercall.LocalData(dir, a.call, params, cio)
	}
	if err != nil {
		return report(fmt.Errorf("adapter %s: %w", a.call, err))
	}
	return exitOK
}

// report prints err as metactl does and returns its exit code.
func report(err error) int {
	msg := err.Error()
	if errors.Is(err, context.Canceled) {
		// As metactl: the only cancellation is SIGINT/SIGTERM.
		msg = strings.ReplaceAll(msg, context.Canceled.Error(), "interrupted")
	}
	fmt.Fprintf(os.Stderr, "metactl: %s\n", msg)
	var busy *catalog.BusyError
	switch {
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, catalog.ErrCorrupt):
		return exitError
	case errors.As(err, &busy):
		return exitBusy
	case errors.Is(err, catalog.ErrNotFound), errors.Is(err, catalog.ErrNoCatalog):
		return exitNotFound
	case errors.Is(err, catalog.ErrNotCatalog):
		return exitUsage
	case errors.Is(err, aptos.ErrInvalid), errors.Is(err, catalog.ErrConflict):
		return exitInvalid
	}
	return exitError
}
