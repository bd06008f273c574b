//go:build unix

// Command metactl-adapter is the lean twin of 'metactl adapter': the same
// command line and the same answers, in a binary that links only what the
// bridge's calls need on a catalog file (no etcd client, gRPC, Prometheus
// or CLI parser, whose package initialisation alone costs more than a
// whole call). Aptos spawns one process per call, 40,000 for a fresh
// metadata sync, so a call's start-up is most of its cost
// (docs/aptos-bridge.md, "What a call costs"). 'metactl adapter-config'
// writes configs that call it when it is installed beside metactl and the
// catalog is a file; for any other catalog location, or a command line it
// does not know, it runs metactl itself with the same arguments.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	_ "github.com/metactl/metactl/catalog/boltstore" // catalog files
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/internal/timespan"
	"github.com/metactl/metactl/workflow"
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
	return a, seenAdapter && a.call != "" && a.catalog != "" && !workflow.IsURL(a.catalog) &&
		(a.localFsDir == "") != (a.config == "")
}

func main() {
	a, ok := parse(os.Args[1:])
	if !ok {
		full()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, a)
	stop()
	os.Exit(code)
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

func run(ctx context.Context, a args) int {
	w, err := wrapped(a)
	if err != nil {
		return report(err)
	}
	timeout := a.lockTimeout
	if timeout <= 0 {
		timeout = -1
	}
	b := &workflow.Bridge{Storage: w, Timeout: a.adapterTimeout, Open: func(ctx context.Context, readOnly bool) (catalog.DB, error) {
		if _, err := os.Stat(a.catalog); err != nil && !readOnly {
			// A write never creates a catalog (as metactl adapter).
			return nil, fmt.Errorf("open catalog %q: %w (create it with 'metactl import')", a.catalog, catalog.ErrNoCatalog)
		}
		return catalog.Open(ctx, a.catalog, &catalog.Options{ReadOnly: readOnly, Timeout: timeout, Command: "metactl adapter " + a.call})
	}}
	res, err := b.Run(ctx, a.call, workflow.CallIO{Getenv: os.LookupEnv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() > 0 {
		return exit.ExitCode()
	}
	if err != nil {
		return report(err)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(os.Stderr, "metactl: warning: %s\n", w)
	}
	return exitOK
}

func wrapped(a args) (*workflow.Wrapped, error) {
	if a.config == "" {
		return workflow.NewWrapped(a.localFsDir, "")
	}
	return workflow.NewWrappedTimeout(a.config, a.adapterTimeout)
}

// report prints err as metactl does and returns its exit code.
func report(err error) int {
	fmt.Fprintf(os.Stderr, "metactl: %v\n", err)
	var busy *catalog.BusyError
	var input *importer.InputError
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
	case errors.As(err, &input), errors.Is(err, aptos.ErrInvalid), errors.Is(err, catalog.ErrConflict):
		return exitInvalid
	}
	return exitError
}
