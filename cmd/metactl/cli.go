//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/willabides/kongplete"

	"github.com/metactl/metactl/api"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/internal/timespan"
	"github.com/metactl/metactl/metrics"
)

const description = `metactl keeps the metadata of an Aptos backup storage in a transactional
catalog (one bbolt file): import the legacy metadata/ folder once, then read,
compact and export it with single ACID transactions, so readers never see a
half-written or vanished file and a crash never leaves damage behind.

Exit codes:
  0    success
  1    error
  2    usage error (bad flags or arguments, compaction factor 0, a --catalog
       that is a folder or a metadata file, an archive to a write command)
  3    invalid input: bad metadata line, conflict, continuity error, a storage
       path that is not a storage folder, a restore plan that stops short;
       nothing changed
  4    verify found problems, or a selftest property does not hold
  5    busy: the catalog lock was not acquired within --lock-timeout, or
       another export is writing to the same folder
  6    not found: the catalog, a handle or a generation named does not exist
  130  interrupted

Environment:
  METACTL_CATALOG    default for --catalog
  METACTL_NOW        fix the clock to these Unix seconds (tests and rehearsals)
  METACTL_FAILPOINT  crash-test failpoints (see internal/failpoint); never set in production
  ETCDCTL_USER       etcd catalogs with auth: name, or name:password
  ETCDCTL_PASSWORD   etcd catalogs with auth: the password (kept out of process listings)
  METACTL_HTTP_USER, METACTL_HTTP_PASSWORD
                     served catalogs (--catalog https://...) with basic auth`

// CLI is the kong grammar: global flags and one field per command. Each
// command lives in its own file.
type CLI struct {
	Catalog     string           `help:"Catalog file, etcd://HOST:PORT[,...]/PREFIX for a catalog in etcd, or http(s)://HOST:PORT for one that 'metactl serve' serves (read-only commands) (default: METACTL_CATALOG, else metactl.db in --metadata-cache-dir if the command has one, else ./metactl.db). Read-only commands also accept an archive made by 'export --archive'." env:"METACTL_CATALOG" placeholder:"PATH"`
	Etcd        etcdFlags        `embed:"" group:"etcd"`
	HTTP        httpFlags        `embed:"" group:"http"`
	LockTimeout duration         `help:"Wait at most this long for the catalog lock, then exit 5 naming the holder: seconds or a duration such as 30s, 2m (default: ${default})." default:"30s" placeholder:"DUR"`
	JSON        bool             `name:"json" help:"Print a stable JSON document on stdout instead of text."`
	MetricsFile string           `name:"metrics-textfile" help:"After the command, write Prometheus metrics (catalog, storage state, restorable frontier, this run) to this node-exporter textfile, atomically." type:"path" placeholder:"PATH"`
	Quiet       bool             `short:"q" help:"Show no progress (errors and warnings still go to stderr)."`
	LogFormat   string           `name:"log-format" help:"Format of everything on stderr (progress records, log lines, warnings, the final error): text or json (one JSON object a line with time, level and msg, for log collectors)." enum:"text,json" default:"text"`
	Version     kong.VersionFlag `help:"Print the version (module, VCS revision, Go version) and exit."`

	Import     importCmd     `cmd:"" help:"Import (sync) a legacy metadata folder, command-adapter storage or archive into the catalog."`
	Sync       syncCmd       `cmd:"" help:"Keep the catalog current from a storage: an incremental import, once or --every DUR until stopped."`
	Read       readCmd       `cmd:"" help:"Print every entry of the named metadata files as pretty JSON."`
	Ls         lsCmd         `cmd:"" help:"List the catalog's metadata files."`
	Status     statusCmd     `cmd:"" help:"Print the backup storage state, exactly as aptos-db-tool prints it."`
	Compact    compactCmd    `cmd:"" help:"Compact metadata files as Aptos's backup-maintenance compact does, in one transaction."`
	Cleanup    cleanupCmd    `cmd:"" help:"Delete moved (superseded) files older than a bound, in one transaction."`
	Verify     verifyCmd     `cmd:"" help:"Check the catalog file, its derived index and the view's continuity."`
	Plan       planCmd       `cmd:"" help:"Show which backups a restore to a target version would use."`
	Export     exportCmd     `cmd:"" help:"Write the catalog out: a legacy folder, a command-adapter storage, or one zstd archive."`
	Log        logCmd        `cmd:"" help:"Show the operation journal, newest first."`
	Serve      serveCmd      `cmd:"" help:"Serve the catalog's documents, an archive and metrics over HTTP."`
	Undo       undoCmd       `cmd:"" help:"Reverse one write operation from the journal, as a new transaction."`
	Copy       copyCmd       `cmd:"" help:"Copy a whole catalog, journal included, between a file, an archive (source only) and etcd."`
	Completion completionCmd `cmd:"" help:"Print a shell completion script (bash, zsh, fish)."`

	AdapterConfig adapterConfigCmd `cmd:"" name:"adapter-config" help:"Print an Aptos command-adapter config that runs Aptos's own tools through the catalog (the bridge)."`
	Adapter       adapterCmd       `cmd:"" help:"Answer one call of a config written by adapter-config (Aptos runs it)."`
	AdapterServer adapterServerCmd `cmd:"" name:"adapter-server" hidden:"" help:"The per-host server that answers metactl-adapter's read calls on a catalog that is not a file (metactl-adapter starts it)."`

	// Aptos's subcommand paths (aptos_aliases.go), hidden.
	BackupMaintenance backupMaintenanceCmd `cmd:"" name:"backup-maintenance" hidden:"" help:"Aptos's 'backup-maintenance compact', as an alias of compact."`
	Backup            backupCmd            `cmd:"" name:"backup" hidden:"" help:"Aptos's 'backup query backup-storage-state', as an alias of status."`

	Selftest       selftestCmd       `cmd:"" help:"Check that a filesystem honours fsync, rename and flock, and crash-test metactl on it."`
	SelftestHelper selftestHelperCmd `cmd:"" name:"selftest-helper" hidden:"" help:"The second process of selftest's probes."`
}

// version is set at build time with -ldflags "-X main.version=..."; when
// it is not, --version reports the module version from the build info.
var version = ""

type kongExit int

// run parses args, runs the command and returns the process exit code.
// It is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	var cli CLI
	a := &app{ctx: ctx, stdin: os.Stdin, stdout: stdout, stderr: stderr, cli: &cli, now: time.Now, progressEvery: defaultProgressEvery}
	defer func() {
		if r := recover(); r != nil {
			if c, ok := r.(kongExit); ok {
				code = int(c)
				return
			}
			panic(r)
		}
	}()
	parser, err := newParser(&cli, a, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "metactl: %v\n", err)
		return exitError
	}
	if os.Getenv("COMP_LINE") != "" {
		// The shell asks for completions (metactl completion): answer and exit.
		kongplete.Complete(parser)
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "metactl: %v\n", err)
		fmt.Fprintf(stderr, "run '%s --help' for usage\n", helpCommand(err))
		if slices.Contains(args, "--json") {
			// The parse failed, so cli.JSON may be unset: look for the flag.
			a.printJSON(newErrorJSON(err, err.Error(), exitUsage))
		}
		return exitUsage
	}
	if s := os.Getenv("METACTL_PROGRESS_EVERY"); s != "" {
		d, err := timespan.Parse(s)
		if err != nil {
			return a.report(usagef("METACTL_PROGRESS_EVERY=%q: %w", s, err))
		}
		a.progressEvery = d
	}
	if s := os.Getenv("METACTL_NOW"); s != "" {
		secs, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return a.report(usagef("METACTL_NOW=%q: want Unix seconds", s))
		}
		fixed := time.Unix(secs, 0).UTC()
		a.now = func() time.Time { return fixed }
	}
	cli.Catalog = defaultCatalog(cli.Catalog, kctx)
	if err := checkURL(cli.Catalog); err != nil {
		return a.report(err)
	}
	if isPipe(cli.Catalog) {
		// An archive from a pipe ("-", /dev/stdin, <(...)): read once
		// into a temporary file, then opened as any archive.
		path, cleanup, err := a.spool(cli.Catalog)
		if err != nil {
			return a.report(fmt.Errorf("--catalog %s: %w", cli.Catalog, err))
		}
		defer cleanup()
		cli.Catalog = path
	}
	start := time.Now()
	code = exitOK
	if err := kctx.Run(); err != nil {
		code = a.report(err)
	}
	if cli.MetricsFile != "" {
		command, _, _ := strings.Cut(kctx.Command(), " ")
		if c := aliasCommand(kctx.Command()); c != "" {
			command = c
		}
		run := &metrics.Run{Command: command, Start: start, Duration: time.Since(start), Exit: code}
		if err := a.writeMetrics(run); err != nil {
			// A warning: the command's own outcome decides the exit code.
			a.warnf("%v", err)
		}
	}
	return code
}

// newParser builds the kong parser of the grammar into cli. Its exit
// function panics with kongExit, which run recovers.
func newParser(cli *CLI, a *app, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(cli,
		kong.Name("metactl"),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { panic(kongExit(c)) }),
		kong.Vars{"version": versionString(), "default_concurrency": strconv.Itoa(importer.DefaultConcurrency)},
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Bind(a),
	)
}

// defaultCatalogName is the catalog's file name when no path is given.
const defaultCatalogName = "metactl.db"

// defaultCatalog resolves the catalog path: --catalog or METACTL_CATALOG
// if given, else metactl.db in the selected command's --metadata-cache-dir
// (so Aptos's helm command line, which gives only a cache folder on a
// writable emptyDir, works on a read-only root), else ./metactl.db.
func defaultCatalog(given string, kctx *kong.Context) string {
	if given != "" {
		return given
	}
	if n := kctx.Selected(); n != nil && n.Target.CanAddr() {
		if c, ok := n.Target.Addr().Interface().(interface{ metadataCacheDir() string }); ok && c.metadataCacheDir() != "" {
			return filepath.Join(c.metadataCacheDir(), defaultCatalogName)
		}
	}
	return defaultCatalogName
}

// Exit codes; the table is in the help text above and in the README.
const (
	exitOK          = api.ExitOK
	exitError       = api.ExitError
	exitUsage       = api.ExitUsage
	exitInvalid     = api.ExitInvalid
	exitVerify      = api.ExitVerify
	exitBusy        = api.ExitBusy
	exitNotFound    = api.ExitNotFound
	exitInterrupted = api.ExitInterrupted
)

// usageError marks an error as a usage error (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// silentExit ends a command with this exit code and no message: the
// adapter passes a wrapped command's exit status back, its stderr having
// gone through already.
type silentExit int

func (e silentExit) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// documentedError marks a failure that the command's own --json document
// already carries (plan's "ok": false, "error", "missing"), so report
// prints no second document on stdout.
type documentedError struct{ err error }

func (e documentedError) Error() string { return e.err.Error() }
func (e documentedError) Unwrap() error { return e.err }

// verifyFailed is returned by verify when it found problems (exit 4); the
// problems themselves were already printed.
var errVerifyFailed = errors.New("verify found problems")

// errSelftestFailed is returned by selftest when a property does not hold
// (exit 4); the report was already printed.
var errSelftestFailed = errors.New("selftest: a property does not hold")

// report prints err once and maps it to an exit code.
// With --json it also prints the error document (errorJSON) on stdout,
// except for verify's exit 4, whose own document was the output.
func (a *app) report(err error) int {
	var silent silentExit
	if errors.As(err, &silent) {
		return int(silent)
	}
	msg := strings.TrimPrefix(err.Error(), "metactl: ")
	code := exitCodeOf(err)
	if code == exitInterrupted {
		// The only cancellation of a command's context is SIGINT/SIGTERM.
		msg = strings.ReplaceAll(msg, context.Canceled.Error(), "interrupted")
	}
	a.errorLine(msg)
	var documented documentedError
	if a.cli.JSON && code != exitVerify && !errors.As(err, &documented) {
		a.printJSON(newErrorJSON(err, msg, code))
	}
	return code
}

// helpCommand names the command whose --help fits a parse error: the
// command given ("metactl ls") when kong got that far, else "metactl".
func helpCommand(err error) string {
	var pe *kong.ParseError
	if errors.As(err, &pe) && pe.Context != nil {
		if n := pe.Context.Selected(); n != nil {
			return n.FullPath()
		}
	}
	return "metactl"
}
