//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/metactl/metactl/workflow"
)

type adapterConfigCmd struct {
	storageFlags
	Output        string `short:"o" name:"output" help:"Write the config to this file (atomically) instead of stdout." type:"path" placeholder:"FILE"`
	Metactl       string `name:"metactl" help:"The metactl binary the commands run, as Aptos's pods see it (default: this binary). metactl-adapter beside it, if installed, runs instead: the same calls, a fraction of the start-up cost." placeholder:"PATH"`
	AdapterServer bool   `name:"adapter-server" negatable:"" default:"true" help:"With a catalog that is not a file (etcd://, http(s)://), let metactl-adapter answer the read calls through a per-host adapter server (docs/aptos-bridge.md); --no-adapter-server writes configs that run metactl for every call. METACTL_ADAPTER_SERVER=off turns the server off at run time."`
	FastPath      bool   `name:"fast-path" negatable:"" default:"true" help:"With the adapter server, let list_metadata_files and open_for_read first ask it with bash builtins alone, no process started (docs/aptos-bridge.md, \"The fast path\"); --no-fast-path writes the commands without it. METACTL_ADAPTER_SERVER=off turns it off at run time too."`
}

func (c *adapterConfigCmd) Help() string {
	return `Prints an Aptos command-adapter YAML config whose six commands call
'metactl adapter CALL' with this catalog (--catalog) and the wrapped storage
baked in as absolute paths or URLs. Point Aptos's --command-adapter-config at
it and change nothing else: Aptos's restore, backup query, backup coordinator
and compactor then list, read, save and move metadata through the catalog, in
transactions, while backup data files pass through to the wrapped storage's
own commands unchanged. See docs/aptos-bridge.md.

Examples:

    metactl --catalog /data/metactl.db adapter-config --command-adapter-config /etc/aptos/gcs.yaml -o /etc/aptos/bridge.yaml
    metactl --catalog etcd://etcd-0:2379/metactl/mainnet adapter-config --local-fs-dir /backup
    aptos-debugger ... --command-adapter-config /etc/aptos/bridge.yaml`
}

func (c *adapterConfigCmd) Validate() error {
	if err := c.storageFlags.validate(); err != nil {
		return err
	}
	if !c.given() {
		return usagef("give the storage to wrap: --command-adapter-config FILE or --local-fs-dir DIR")
	}
	return nil
}

func (c *adapterConfigCmd) Run(a *app) error {
	w, err := c.wrapped()
	if err != nil {
		return withOp("adapter-config", err)
	}
	bin := c.Metactl
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return fmt.Errorf("adapter-config: find this binary (give --metactl): %w", err)
		}
	}
	if lean := filepath.Join(filepath.Dir(bin), "metactl-adapter"); (!workflow.IsURL(a.cli.Catalog) || c.AdapterServer) && isExecutable(lean) {
		// The lean twin answers the same command line at a fraction of
		// the start-up cost (cmd/metactl-adapter): on a catalog file
		// itself, on any other catalog through the adapter server.
		bin = lean
	}
	// metactl-adapter puts the caller's GOMAXPROCS back for what it runs.
	oneProc := filepath.Base(bin) == "metactl-adapter"
	loc := a.cli.Catalog
	if !workflow.IsURL(loc) {
		if loc, err = filepath.Abs(loc); err != nil {
			return fmt.Errorf("adapter-config: %w", err)
		}
	}
	global := []string{"--lock-timeout", a.cli.LockTimeout.String()}
	for _, f := range []struct{ name, v string }{{"--etcd-cacert", a.cli.Etcd.CACert}, {"--etcd-cert", a.cli.Etcd.Cert}, {"--etcd-key", a.cli.Etcd.Key}} {
		if f.v != "" {
			abs, err := filepath.Abs(f.v)
			if err != nil {
				return fmt.Errorf("adapter-config: %w", err)
			}
			global = append(global, f.name, abs)
		}
	}
	// The fast path asks the server that metactl-adapter's calls on a
	// catalog URL start.
	fast := oneProc && workflow.IsURL(loc) && c.AdapterServer && c.FastPath
	out, err := workflow.AdapterConfig(workflow.ConfigOptions{Metactl: bin, Catalog: loc, GlobalArgs: global,
		AdapterArgs: []string{"--adapter-timeout", c.AdapterTimeout.String()}, Storage: w, OneProc: oneProc, FastPath: fast})
	if err != nil {
		return err
	}
	if c.Output == "" {
		_, err = a.stdout.Write(out)
		return err
	}
	return writeFileAtomic(c.Output, out)
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// writeFileAtomic writes data to path through a temporary file beside it
// and a rename, so a reader never sees half a config.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
