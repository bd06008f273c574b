//go:build unix

package server

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/metactl/metactl/adaptercall"
	"github.com/metactl/metactl/internal/adaptersrv"
)

// serveFast answers the one fast-path request of connection c (the
// exchange is in adaptersrv's fast.go). A wrong token gets nothing; a
// request it does not answer gets nothing after the proof: either way the
// connection is closed and bash runs the command it falls back to.
func (s *server) serveFast(ctx context.Context, c net.Conn) {
	defer c.Close()
	cl := &call{s: s}
	defer cl.settle()
	ctx = context.WithValue(ctx, callKey{}, cl)
	c.SetDeadline(time.Now().Add(readDeadline))
	r := bufio.NewReaderSize(ackReader{c}, 4096)
	version := adaptersrv.FastHello(r, s.route.Token)
	if version == 0 {
		return
	}
	if _, err := c.Write([]byte(s.route.Proof + "\n")); err != nil {
		return
	}
	req, err := adaptersrv.ReadFastRequest(r)
	var out []byte
	ok := false
	if err == nil {
		out, ok = s.fastAnswer(ctx, version, req)
	}
	cl.settle()
	s.mu.Lock()
	if ok {
		s.fast++
	} else {
		s.fastFall++
	}
	s.mu.Unlock()
	if ok {
		c.SetWriteDeadline(time.Now().Add(5 * time.Minute))
		c.Write(out)
	}
}

// ackReader reads c with quickAck before every read.
type ackReader struct{ c net.Conn }

func (a ackReader) Read(b []byte) (int, error) {
	quickAck(a.c)
	return a.c.Read(b)
}

// fastAnswer answers req as the command line it carries would be answered
// through this server, if that is certain: the binary, the options, the
// files they name and the environment give this server's key (the one
// the client would compute: adaptersrv.ServedKey, files stat'ed anew for
// every request), the server is not turned off, the call is one the
// server answers, and the answer is a success bash can relay byte for
// byte in the request's protocol version (adaptersrv.FastAnswer).
// Otherwise false: a fallback.
func (s *server) fastAnswer(ctx context.Context, version int, req *adaptersrv.FastRequest) ([]byte, bool) {
	if len(req.Words) == 0 || !filepath.IsAbs(req.Words[0]) {
		return nil, false
	}
	// The binary as os.Executable names it in the process it would be.
	self, err := filepath.EvalSymlinks(req.Words[0])
	if err != nil {
		return nil, false
	}
	sv, ok := adaptersrv.ParseServed(req.Words[1:])
	if !ok {
		return nil, false
	}
	env := make(map[string]string, len(req.Environ))
	for _, kv := range req.Environ {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := env[k]; dup {
			return nil, false // which one a process sees is not certain
		}
		env[k] = v
	}
	if adaptersrv.Off(func(k string) string { return env[k] }) ||
		adaptersrv.ServedKey(self, &sv, req.Environ) != s.o.Key {
		return nil, false
	}
	call := sv.Req
	switch call.Call {
	case adaptercall.CallListMetadataFiles:
	case adaptercall.CallOpenForRead:
		call.Handle, call.HandleSet = env["FILE_HANDLE"]
	default:
		return nil, false
	}
	// The client's own bound on a call through the socket.
	hctx, cancel := context.WithTimeout(ctx, sv.Lock+time.Minute)
	defer cancel()
	resp := s.handle(hctx, &call)
	if resp.Fallback || resp.Code != 0 || len(resp.Stderr) > 0 {
		return nil, false
	}
	return adaptersrv.FastAnswer(version, resp.Stdout, s.route.Proof)
}
