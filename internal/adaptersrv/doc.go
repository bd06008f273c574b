//go:build unix

// Package adaptersrv is the per-host adapter server's protocol, paths and
// client: what lets metactl-adapter answer the bridge's read calls on an
// etcd (or any non-file) catalog without starting metactl, its etcd client
// and a gRPC dial for every call (docs/aptos-bridge.md, "The adapter
// server"). The server itself is [github.com/metactl/metactl/internal/adaptersrv/server];
// this package links no network stack beyond a unix socket made with
// syscalls, so the lean metactl-adapter stays lean.
//
// # Where
//
// Servers live in one private folder per user ([Dir]): $XDG_RUNTIME_DIR/metactl,
// else <os.TempDir()>/metactl-<uid>, mode 0700 and owned by the user (a
// folder that is not is refused: nothing is served). A server of key K
// holds K.lock (an exclusive flock while it runs; the file holds its pid)
// and listens on K.sock. The key ([Key]) is a hash of everything that
// makes two calls' answers come from the same catalog the same way: the
// catalog location, the global options, the environment metactl reads for
// it, and the identity (path, size, modification time) of the binaries.
//
// # Protocol
//
// One request per connection. The client writes one request frame; the
// server answers with stdout frames, one stderr frame and an exit frame,
// or one fallback frame ("run this call the old way"). A frame is a type
// byte, a big-endian uint32 length and that many bytes. The client buffers
// the whole answer and writes nothing until the exit frame arrived, so a
// server that fails mid-call costs a fallback, never a partial answer.
//
// # The fast path
//
// A server started with a route ([RouteName]: a hash of the call's global
// options, which a generated config carries literally) also listens on
// 127.0.0.1, on a port of the kernel's choosing, and publishes the port
// and two random 128-bit tokens in ROUTE.tcp (mode 0600, written through
// a rename, removed at exit, swept like the rest). A generated config's
// list_metadata_files and open_for_read ask it with bash builtins alone
// before they exec metactl-adapter (see fast.go for the exchange). The
// server answers such a request only if the command line, the binaries'
// identity (stat'ed anew for every request), the files the options name
// and the environment bash sends give its own key ([ServedKey], the
// client's computation), and only with an answer bash relays byte for
// byte (a success with nothing on stderr, ASCII without NUL, at most
// [FastMaxAnswer] bytes; protocol 1 of older configs: without NUL, ending
// in a newline, at most [FastMaxAnswer1] bytes). Everything else gets nothing
// and bash runs the command, which reaches the server through the socket
// as before (docs/aptos-bridge.md, "The fast path").
//
// # Lifecycle
//
// The first call that finds no server starts one ([Start]: detached, in a
// session of its own, stdio on /dev/null, no other descriptor inherited)
// and runs its own call the old way. The server's GODEBUG carries
// [SchedTrace], which keeps the Go runtime's sysmon thread from waking for
// every call. Starters race on the flock: one server
// runs. A server exits after an idle timeout, removing its socket and lock
// file; a killed server's leftovers are removed by the next server that
// starts (its own key's, and any other key's whose lock nobody holds).
package adaptersrv
