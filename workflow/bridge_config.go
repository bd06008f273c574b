package workflow

import (
	"fmt"
	"strings"

	"github.com/metactl/metactl/adaptercall"
	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/storage"
)

// ConfigOptions says what a generated bridge config bakes into its
// commands. Every path must be absolute and every location a URL or an
// absolute path: Aptos runs the commands from whatever folder it runs in.
type ConfigOptions struct {
	// Metactl is the metactl binary the commands run.
	Metactl string
	// Catalog is the catalog location (--catalog).
	Catalog string
	// GlobalArgs are further global flags to bake in, such as
	// "--lock-timeout", "30s", or the etcd TLS flags.
	GlobalArgs []string
	// AdapterArgs are flags of the adapter command to bake in, such as
	// "--adapter-timeout", "10m".
	AdapterArgs []string
	// Storage is the wrapped storage.
	Storage *Wrapped
	// OneProc runs Metactl with GOMAXPROCS=1, the caller's value kept in
	// [adaptercall.CallerGOMAXPROCS]: for metactl-adapter, which puts it
	// back for whatever it runs. A call is a process of a few
	// milliseconds; a second P costs it a scheduler thread.
	OneProc bool
}

// AdapterConfig returns an Aptos command-adapter YAML config
// (docs/aptos-format.md §9) whose six commands each exec
// `metactl --catalog LOC [GLOBAL FLAGS] adapter STORAGE-FLAG CALL`
// (with [ConfigOptions.OneProc], after two variable assignments). Every
// word is shell-quoted; the result is parsed back with the same parser
// that reads Aptos configs before it is returned.
func AdapterConfig(o ConfigOptions) ([]byte, error) {
	if o.Metactl == "" || !strings.HasPrefix(o.Metactl, "/") {
		return nil, fmt.Errorf("adapter config: metactl binary %q: want an absolute path: %w", o.Metactl, aptos.ErrInvalid)
	}
	if o.Catalog == "" || (!strings.HasPrefix(o.Catalog, "/") && !strings.Contains(o.Catalog, "://")) {
		return nil, fmt.Errorf("adapter config: catalog %q: want an absolute path or a URL: %w", o.Catalog, aptos.ErrInvalid)
	}
	words := append([]string{o.Metactl, "--catalog", o.Catalog}, o.GlobalArgs...)
	words = append(words, "adapter")
	words = append(words, o.AdapterArgs...)
	if d := o.Storage.LocalFsDir(); d != "" {
		words = append(words, "--local-fs-dir", d)
	} else {
		words = append(words, "--command-adapter-config", o.Storage.Config())
	}
	prefix := ""
	if o.OneProc {
		prefix = adaptercall.CallerGOMAXPROCS + "=${GOMAXPROCS-} GOMAXPROCS=1 "
	}
	prefix += "exec "
	for _, w := range words {
		q, err := shellQuote(w)
		if err != nil {
			return nil, fmt.Errorf("adapter config: %w", err)
		}
		prefix += q + " "
	}
	var b strings.Builder
	b.WriteString("# Aptos command-adapter config written by 'metactl adapter-config'.\n")
	b.WriteString("# Metadata is read from and written to the metactl catalog\n")
	fmt.Fprintf(&b, "#   %s\n", oneLine(o.Catalog))
	b.WriteString("# in transactions; data files (backups, manifests) pass through to\n")
	fmt.Fprintf(&b, "#   %s\n", oneLine(o.Storage.String()))
	b.WriteString("# unchanged. Roll back by pointing --command-adapter-config at the wrapped\n")
	b.WriteString("# config again (see docs/aptos-bridge.md).\n")
	b.WriteString("env_vars: []\n")
	b.WriteString("commands:\n")
	for _, call := range Calls {
		fmt.Fprintf(&b, "  %s: |\n    %s%s\n", call, prefix, call)
	}
	out := []byte(b.String())
	cfg, err := storage.ParseCommandAdapter(out)
	if err != nil {
		return nil, fmt.Errorf("adapter config: the generated config does not parse: %w", err)
	}
	for _, call := range Calls {
		if cfg.Command(call) == "" {
			return nil, fmt.Errorf("adapter config: the generated config lacks %s", call)
		}
	}
	return out, nil
}

// shellQuote quotes s as one bash word: bare when it is made of safe
// characters only, else in single quotes. Control characters (a newline
// would end the YAML block) are refused.
func shellQuote(s string) (string, error) {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%q: control characters cannot be baked into a command", s)
		}
	}
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-:,=+@", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s, nil
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'", nil
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
