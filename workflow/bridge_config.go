package workflow

import (
	"fmt"
	"strings"

	"github.com/metactl/metactl/adaptercall"
	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/internal/adaptersrv"
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
	// FastPath puts the fast path before the list_metadata_files and
	// open_for_read commands (docs/aptos-bridge.md, "The fast path"):
	// bash asks the adapter server with builtins alone and runs the
	// command only when that gives no answer. Only for metactl-adapter on
	// a catalog URL, whose calls the adapter server answers.
	FastPath bool
}

// fastPathFunc is the fast path's bash function, the same in every
// config; its first argument is the route (adaptersrv.RouteName), the
// rest the command line the command would exec. It returns 0 having
// printed the server's answer, or 1 having printed nothing; nothing in
// it forks, and its errors print nothing. Each step, in order
// (docs/aptos-bridge.md, "The fast path"; internal/adaptersrv/fast.go for
// the exchange, protocol 2):
//
//   - bash 5 or later (mapfile -d, ${@:2}); METACTL_ADAPTER_SERVER not off;
//   - the bound on the answer: adaptersrv.FastMaxAnswer on bash 5.1 and
//     later, which read -N in bulk, adaptersrv.FastMaxAnswer1 on bash 5.0,
//     which reads it a byte per read(2);
//   - the folder computed as adaptersrv.Dir does, only in the plain form of
//     its path (no //, ., .. or trailing /, so bash and Go name the same
//     folder), a folder of this user's and not a link; the route file
//     too;
//   - the route file's port (digits, 1-99999: a glob, not a regular
//     expression, which bash would compile on every call) and tokens, and
//     this shell's initial
//     environment (/proc/self/environ: what metactl-adapter would get,
//     invalid names and duplicates included, which the server refuses);
//   - SIGPIPE ignored from the route file's read to the connection's close
//     (a peer that closes early must not kill the call), restored before
//     anything else runs;
//   - one redirection of stderr (to /dev/null) for the route file, the
//     environment, the connection and the exchange, and one of stdout (to
//     the connection) for the exchange: each redirection costs bash about
//     ten system calls;
//   - connect, token, read the server's proof line (33 bytes with read -N,
//     5 s at most), then send the command line and the environment, read
//     the answer's header (42 bytes: the proof and the answer's byte
//     count, 8 digits), then the answer with read -N COUNT+1;
//   - the answer only if the header is the proof and a count within the
//     bound, and exactly COUNT characters came before the end of the
//     connection (the server sends ASCII only, so characters are bytes in
//     any locale; read -r and IFS= keep every byte but NUL, which the
//     server never sends): a server that died mid-answer, a count that
//     does not match, or anything else on the port, leaves none;
//   - printed with one printf, as metactl-adapter writes it (a failed
//     write ignored, as metactl-adapter ignores it).
const fastPathFunc = `metactl_fast() {
  local d f p= t= a= k= s= h= b= c= m=65536 x=1 e=()
  ((BASH_VERSINFO[0] >= 5)) || return 1
  ((BASH_VERSINFO[0] > 5 || BASH_VERSINFO[1] >= 1)) || m=8192
  case ${METACTL_ADAPTER_SERVER-} in [Oo][Ff][Ff] | 0 | [Ff][Aa][Ll][Ss][Ee] | [Nn][Oo]) return 1 ;; esac
  d=${TMPDIR:-/tmp}/metactl-$UID
  [[ ${XDG_RUNTIME_DIR-} != /* ]] || d=$XDG_RUNTIME_DIR/metactl
  f=$d/$1.tcp
  [[ $d == /* && $d/ != *//* && $d/ != */./* && $d/ != */../* && -d $d && -O $d && ! -L $d && -f $f && -O $f && ! -L $f ]] || return 1
  trap '' PIPE
  { IFS=' ' read -r p t a k <"$f" && [[ $p == [1-9]* && $p != *[!0-9]* && ${#p} -le 5 && ${#t} == 32 && ${#a} == 32 ]] &&
    mapfile -d '' -t e </proc/self/environ && exec {s}<>"/dev/tcp/127.0.0.1/$p" &&
    { { printf '%s\0' metactl-fast/2 "$t" && IFS= read -r -t 5 -N 33 -u "$s" h && [[ $h == "$a"$'\n' ]] &&
      printf '%s\0' $(($# - 1)) "${@:2}" ${#e[@]} "${e[@]}" && IFS= read -r -N 42 -u "$s" h &&
      [[ $h == "$a "[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]$'\n' ]] && c=$((10#${h:33:8})) && ((c <= m)) &&
      { IFS= read -r -N $((c + 1)) -u "$s" b || :; } && ((${#b} == c)) && x=0; } >&"$s"
      exec {s}<&-; }; } 2>/dev/null
  trap - PIPE
  ((x == 0)) || return 1
  printf '%s' "$b" || :
}`

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
	fast := ""
	if o.FastPath {
		route := adaptersrv.RouteName(append([]string{"--catalog", o.Catalog}, o.GlobalArgs...))
		fast = "# The fast path (docs/aptos-bridge.md): the adapter server's answer read with\n" +
			"# bash builtins; the command on the last line when that gives none.\n" +
			fastPathFunc + "\n" +
			"metactl_fast " + route + " " + strings.TrimPrefix(prefix, "exec ")
		if o.OneProc {
			fast = strings.Replace(fast, adaptercall.CallerGOMAXPROCS+"=${GOMAXPROCS-} GOMAXPROCS=1 exec ", "", 1)
		}
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
		fmt.Fprintf(&b, "  %s: |\n", call)
		if fast != "" && (call == adaptercall.CallListMetadataFiles || call == adaptercall.CallOpenForRead) {
			for _, l := range strings.Split(fast+call+" && exit 0", "\n") {
				fmt.Fprintf(&b, "    %s\n", l)
			}
		}
		fmt.Fprintf(&b, "    %s%s\n", prefix, call)
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
