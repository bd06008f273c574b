//go:build unix

package adaptersrv

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The fast path (docs/aptos-bridge.md, "The fast path"): a generated
// config's list_metadata_files and open_for_read first ask the server
// with bash builtins alone, over loopback TCP (bash cannot open a unix
// socket), and run the command that execs metactl-adapter when anything
// is not perfect. The exchange, on one connection (protocol 2):
//
//	bash:   "metactl-fast/2" NUL TOKEN NUL
//	server: PROOF LF                      (nothing, and the connection closed, for a wrong token)
//	bash:   N NUL WORD... NUL  E NUL ENV... NUL
//	server: PROOF SP COUNT LF, then COUNT bytes: the answer   (nothing, and closed, for a fallback)
//
// TOKEN and PROOF are random and only in the route file: the server
// proves itself only to a client that proved it read the file, and a
// client sends its environment only to a server that proved itself, so a
// stale route file whose port another process took costs a fallback and
// leaks nothing but a dead token. WORDS are the command line that would
// run (metactl-adapter's path first), ENV bash's initial environment
// (/proc/self/environ), what metactl-adapter would see. COUNT is the
// answer's length in bytes, eight decimal digits, so the header is 42
// bytes: bash reads the header and then the answer with `read -N`, which
// bash 5.1 and later read from a socket in bulk (mapfile and a line's
// read take one read(2) per byte), and prints the answer only if it got
// exactly COUNT bytes before the end of the connection. The answer is
// ASCII without NUL, so that bash's count of characters is the count of
// bytes in every locale (read drops NULs).
//
// Protocol 1 ("metactl-fast/1", configs written before protocol 2) is
// still answered: the answer, then PROOF SP LINES LF, which bash read
// with mapfile; only answers that end in a newline, at most
// [FastMaxAnswer1] bytes. A server older than protocol 2 gives a config
// of protocol 2 nothing, as any magic it does not know: a fallback.

// The openings of the fast path's protocols: the current one, and the one
// before it (still answered).
const (
	FastMagic  = "metactl-fast/2"
	FastMagic1 = "metactl-fast/1"
)

// Fast-path bounds: the request (the environment is most of it) and the
// answer. Bash 5.1 and later read a protocol 2 answer in 4 KiB reads,
// about 20 ns a byte on the 2-core machine, and a metactl-adapter process
// costs about 1.7 ms: beyond some 64 KiB the process is cheaper
// (docs/aptos-bridge.md, "The fast path"), so a larger answer is a
// fallback. Protocol 1 (read a byte per read(2), 0.7 µs a byte) and bash
// 5.0 (which reads -N a byte at a time too) stop at 8 KiB.
const (
	FastMaxRequest = 1 << 20
	FastMaxAnswer  = 64 << 10
	FastMaxAnswer1 = 8 << 10
)

// FastHeaderLen is the length of a protocol 2 answer's header: PROOF (32
// hex digits), a space, COUNT (8 digits), a newline.
const FastHeaderLen = 32 + 1 + 8 + 1

// FastExt is the route file's extension: ROUTE.tcp in [Dir].
const FastExt = ".tcp"

// RoutePath is the route file of route in dir.
func RoutePath(dir, route string) string { return filepath.Join(dir, route+FastExt) }

// Route is what a route file holds: the server's loopback port, the token
// a client sends, the proof the server answers, and the server's key
// (for the sweep of a dead server's file).
type Route struct {
	Port         int
	Token, Proof string
	Key          string
}

// NewRoute returns a route of port and key with fresh random token and
// proof (128 bits each).
func NewRoute(port int, key string) (Route, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Route{}, fmt.Errorf("fast path token: %w", err)
	}
	return Route{Port: port, Token: hex.EncodeToString(b[:16]), Proof: hex.EncodeToString(b[16:]), Key: key}, nil
}

func (r Route) line() string {
	return fmt.Sprintf("%d %s %s %s\n", r.Port, r.Token, r.Proof, r.Key)
}

// WriteRoute writes r to path atomically: a temporary file (mode 0600)
// beside it, renamed over it.
func WriteRoute(path string, r Route) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".route-*")
	if err != nil {
		return fmt.Errorf("write route %s: %w", path, err)
	}
	_, err = f.WriteString(r.line())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write route %s: %w", path, err)
	}
	return nil
}

// ReadRoute reads the route file at path.
func ReadRoute(path string) (Route, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Route{}, err
	}
	f := strings.Fields(string(b))
	var r Route
	if len(f) == 4 {
		r.Port, err = strconv.Atoi(f[0])
		r.Token, r.Proof, r.Key = f[1], f[2], f[3]
	}
	if len(f) != 4 || err != nil || !strings.HasSuffix(string(b), "\n") {
		return Route{}, fmt.Errorf("route %s: %w", path, ErrProtocol)
	}
	return r, nil
}

// RemoveRoute removes the route file at path if it still holds r: a
// server of another key may have published the same route since.
func RemoveRoute(path string, r Route) {
	if got, err := ReadRoute(path); err == nil && got == r {
		os.Remove(path)
	}
}

// readField reads one NUL-terminated field, counting its bytes against
// *budget.
func readField(r *bufio.Reader, budget *int) (string, error) {
	var b []byte
	for {
		frag, err := r.ReadSlice(0)
		if *budget -= len(frag); *budget < 0 {
			return "", fmt.Errorf("fast request over %d bytes: %w", FastMaxRequest, ErrProtocol)
		}
		b = append(b, frag...)
		if err == nil {
			return string(b[:len(b)-1]), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
}

// FastHello reads a fast-path request's opening, magic and token, from r
// (at most a few hundred bytes) and returns the protocol it asks for (1
// or 2), or 0 if it does not carry token or its magic is unknown. The
// comparison takes the same time wherever the tokens differ.
func FastHello(r *bufio.Reader, token string) int {
	budget := 64 + len(token)
	magic, err := readField(r, &budget)
	if err != nil {
		return 0
	}
	v := 0
	switch magic {
	case FastMagic:
		v = 2
	case FastMagic1:
		v = 1
	default:
		return 0
	}
	got, err := readField(r, &budget)
	if err != nil || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
		return 0
	}
	return v
}

// FastRequest is the rest of a fast-path request.
type FastRequest struct {
	Words   []string // the command line, the binary first
	Environ []string // NAME=value, as the binary would have them
}

// ReadFastRequest reads the rest of a fast-path request from r.
func ReadFastRequest(r *bufio.Reader) (*FastRequest, error) {
	budget := FastMaxRequest
	list := func() ([]string, error) {
		f, err := readField(r, &budget)
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > budget {
			return nil, fmt.Errorf("fast request count %q: %w", f, ErrProtocol)
		}
		out := make([]string, n)
		for i := range out {
			if out[i], err = readField(r, &budget); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	words, err := list()
	if err != nil {
		return nil, err
	}
	env, err := list()
	if err != nil {
		return nil, err
	}
	return &FastRequest{Words: words, Environ: env}, nil
}

// FastAnswer returns what the server sends, in protocol version, for an
// answer out of a call that exited 0 and wrote nothing to stderr, and
// true, if bash can relay it byte for byte. Protocol 2: at most
// [FastMaxAnswer] bytes of ASCII without NUL (bash reads it with read -N,
// which counts characters and drops NULs), after the header. Protocol 1:
// at most [FastMaxAnswer1] bytes without NUL, empty or ending in a newline
// (mapfile -t, then printf '%s\n'), before the trailer. Otherwise nil and
// false: a fallback.
func FastAnswer(version int, out []byte, proof string) ([]byte, bool) {
	switch version {
	case 2:
		if len(out) > FastMaxAnswer {
			return nil, false
		}
		for _, c := range out {
			if c == 0 || c >= 0x80 {
				return nil, false
			}
		}
		b := make([]byte, 0, FastHeaderLen+len(out))
		b = fmt.Appendf(b, "%s %08d\n", proof, len(out))
		return append(b, out...), true
	case 1:
		if len(out) > FastMaxAnswer1 || bytes.IndexByte(out, 0) >= 0 || (len(out) > 0 && out[len(out)-1] != '\n') {
			return nil, false
		}
		b := make([]byte, 0, len(out)+len(proof)+16)
		b = append(b, out...)
		return fmt.Appendf(b, "%s %d\n", proof, bytes.Count(out, []byte{'\n'})), true
	}
	return nil, false
}
