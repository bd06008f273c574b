//go:build unix

// Command metactl keeps an Aptos backup storage's metadata in a
// transactional catalog. Run "metactl --help" for the commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/metactl/metactl/internal/failpoint"
)

func main() {
	// Failpoints are armed here and only here: the libraries never read
	// the environment (see internal/failpoint).
	if err := failpoint.Enable(os.Getenv(failpoint.EnvVar)); err != nil {
		fmt.Fprintf(os.Stderr, "metactl: %s: %v\n", failpoint.EnvVar, err)
		os.Exit(exitUsage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
