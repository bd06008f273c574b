// Command metactl-gen writes a deterministic, realistic Aptos backup storage
// (LocalFs layout: DIR/metadata/*.meta) for tests, benchmarks and demos.
//
//	metactl-gen --out DIR --epochs N [--gzip] [--seed S]
//	            [--versions-per-epoch V] [--txn-batch B]
//	            [--snapshot-interval N] [--no-identity] [--json]
//
// It prints a one-line summary, or the stats as one JSON object with --json.
// Exit status: 0 on success, 1 on error (such as a non-empty DIR/metadata),
// 2 on a usage error.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kong"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/internal/samplegen"
)

type cli struct {
	Out              string `required:"" placeholder:"DIR" help:"Storage root; files go to DIR/metadata, which must be missing or empty."`
	Epochs           int    `required:"" placeholder:"N" help:"Number of ended epochs (0..N-1)."`
	Gzip             bool   `help:"Write gzip bytes under the .meta names, as the bucket command-adapter configs store them."`
	Seed             int64  `default:"1" placeholder:"S" help:"Seed for every random choice."`
	VersionsPerEpoch uint64 `default:"2500000" placeholder:"V" help:"Mean versions per epoch (each epoch varies by ±20%)."`
	TxnBatch         uint64 `default:"1000000" placeholder:"B" help:"Coordinator transaction batch size."`
	SnapshotInterval int    `default:"1" placeholder:"N" help:"Take a state snapshot every N epochs, from epoch 0."`
	NoIdentity       bool   `help:"Do not write identity.meta."`
	JSON             bool   `name:"json" help:"Print the stats as JSON."`
}

type exitCode int

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) (code int) {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("metactl-gen"),
		kong.Description("Write a deterministic sample Aptos backup storage (DIR/metadata/*.meta)."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitCode(code)) }),
	)
	if err != nil {
		fmt.Fprintln(stderr, "metactl-gen:", err)
		return 1
	}
	defer func() {
		if r := recover(); r != nil {
			ec, ok := r.(exitCode)
			if !ok {
				panic(r)
			}
			code = int(ec) // --help
		}
	}()
	if _, err := parser.Parse(args); err != nil {
		fmt.Fprintf(stderr, "metactl-gen: %v\nRun 'metactl-gen --help' for usage.\n", err)
		return 2
	}
	if c.Epochs < 0 || c.SnapshotInterval < 1 || c.VersionsPerEpoch < 1 || c.TxnBatch < 1 {
		fmt.Fprintln(stderr, "metactl-gen: --epochs must be >= 0; --snapshot-interval, --versions-per-epoch and --txn-batch must be >= 1")
		return 2
	}
	st, err := samplegen.Generate(c.Out, samplegen.Options{
		Epochs:                 c.Epochs,
		VersionsPerEpoch:       c.VersionsPerEpoch,
		TxnBatch:               c.TxnBatch,
		SnapshotIntervalEpochs: c.SnapshotInterval,
		Seed:                   c.Seed,
		Gzip:                   c.Gzip,
		Identity:               !c.NoIdentity,
	})
	if err != nil {
		fmt.Fprintln(stderr, "metactl-gen:", err)
		return 1
	}
	if c.JSON {
		b, _ := json.Marshal(st)
		fmt.Fprintf(stdout, "%s\n", b)
		return 0
	}
	format := "plain"
	if st.Gzip {
		format = "gzip"
	}
	fmt.Fprintf(stdout, "wrote %d files (%d lines, %d bytes, %s) to %s/%s: %d epoch endings",
		st.Files, st.Lines, st.Bytes, format, st.Dir, aptos.MetadataDir, st.EpochEndings)
	if st.EpochEndings > 0 {
		fmt.Fprintf(stdout, " (last epoch %d at version %d)", st.LastEpoch, st.LastEpochVersion)
	}
	fmt.Fprintf(stdout, ", %d state snapshots", st.StateSnapshots)
	if st.StateSnapshots > 0 {
		fmt.Fprintf(stdout, " (last at epoch %d, version %d)", st.LastSnapshotEpoch, st.LastSnapshotVersion)
	}
	fmt.Fprintf(stdout, ", %d transaction batches", st.Transactions)
	if st.Transactions > 0 {
		fmt.Fprintf(stdout, " (versions 0-%d)", st.LastTransactionVersion)
	}
	if st.Identity != "" {
		fmt.Fprintf(stdout, ", identity %s", st.Identity)
	}
	fmt.Fprintln(stdout)
	return 0
}
