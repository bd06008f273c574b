//go:build unix

package adaptersrv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version names the protocol; it is part of every [Key], so a client and
// a server of different protocols never meet.
const Version = "metactl-adapter-server/1"

// Frame types.
const (
	frameRequest  = 'q' // client: a Request
	frameStatus   = 'S' // client: ask for the server's Status
	frameStdout   = 'o' // server: a piece of the call's stdout
	frameStderr   = 'e' // server: the call's stderr
	frameExit     = 'x' // server: the exit code (4 bytes); the answer is complete
	frameFallback = 'f' // server: run the call the old way (payload: why)
	frameStatusOK = 's' // server: a Status
)

// maxFrame bounds one frame; stdout comes in frames of at most chunk.
const (
	maxFrame = 64 << 20
	chunk    = 1 << 20
)

// maxAnswer bounds a whole answer the client buffers (a listing of a few
// million files); a bigger one is run the old way.
const maxAnswer = 1 << 30

// ErrProtocol is returned for a frame that breaks the protocol.
var ErrProtocol = errors.New("adapter server protocol error")

// Request is one call the server answers: the call, its FILE_HANDLE and
// the adapter command's own options, as the client's command line gave
// them.
type Request struct {
	Call string
	// Handle is FILE_HANDLE (open_for_read); HandleSet says it was set.
	Handle    string
	HandleSet bool
	// LocalFsDir, CommandAdapterConfig and AdapterTimeout are the
	// adapter command's flags ("" if not given).
	LocalFsDir, CommandAdapterConfig, AdapterTimeout string
}

func (r *Request) fields() []*string {
	return []*string{&r.Call, &r.Handle, &r.LocalFsDir, &r.CommandAdapterConfig, &r.AdapterTimeout}
}

func (r *Request) marshal() []byte {
	var b []byte
	for _, f := range r.fields() {
		b = binary.AppendUvarint(b, uint64(len(*f)))
		b = append(b, *f...)
	}
	set := byte(0)
	if r.HandleSet {
		set = 1
	}
	return append(b, set)
}

func (r *Request) unmarshal(b []byte) error {
	for _, f := range r.fields() {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return fmt.Errorf("request: %w", ErrProtocol)
		}
		*f = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	if len(b) != 1 || b[0] > 1 {
		return fmt.Errorf("request: %w", ErrProtocol)
	}
	r.HandleSet = b[0] == 1
	return nil
}

// Response is the server's answer to a Request: what the call prints and
// its exit code, or Fallback: run the call the old way.
type Response struct {
	Stdout, Stderr []byte
	Code           int
	Fallback       bool
	// Why says why a Fallback (for tests and debugging).
	Why string
}

// Status describes a running server.
type Status struct {
	PID int
	// Requests counts the calls answered on the socket (fallbacks
	// included).
	Requests uint64
	// Fast counts the fast path's answers, FastFallbacks its requests
	// answered with a fallback (a right token, then anything not
	// perfect).
	Fast, FastFallbacks uint64
}

// writeFrame writes one frame in one write: a peer that answers as soon
// as it has read a frame may close the connection before a second write.
func writeFrame(w io.Writer, typ byte, payload []byte) error {
	b := make([]byte, 5, 5+len(payload))
	b[0] = typ
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	_, err := w.Write(append(b, payload...))
	return err
}

func readFrame(r io.Reader) (typ byte, payload []byte, err error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes: %w", n, ErrProtocol)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return h[0], payload, nil
}

// ReadRequest reads what a client sent: a Request, or status set for a
// status query.
func ReadRequest(r io.Reader) (req *Request, status bool, err error) {
	typ, payload, err := readFrame(r)
	if err != nil {
		return nil, false, err
	}
	switch typ {
	case frameStatus:
		return nil, true, nil
	case frameRequest:
		req = &Request{}
		return req, false, req.unmarshal(payload)
	}
	return nil, false, fmt.Errorf("frame type %q: %w", typ, ErrProtocol)
}

// WriteResponse writes resp as frames.
func WriteResponse(w io.Writer, resp *Response) error {
	if resp.Fallback {
		return writeFrame(w, frameFallback, []byte(resp.Why))
	}
	for out := resp.Stdout; len(out) > 0; {
		n := min(len(out), chunk)
		if err := writeFrame(w, frameStdout, out[:n]); err != nil {
			return err
		}
		out = out[n:]
	}
	if len(resp.Stderr) > 0 {
		if err := writeFrame(w, frameStderr, resp.Stderr); err != nil {
			return err
		}
	}
	var c [4]byte
	binary.BigEndian.PutUint32(c[:], uint32(int32(resp.Code)))
	return writeFrame(w, frameExit, c[:])
}

// WriteStatus writes a status answer.
func WriteStatus(w io.Writer, s Status) error {
	return writeFrame(w, frameStatusOK, fmt.Appendf(nil, "%d %d %d %d", s.PID, s.Requests, s.Fast, s.FastFallbacks))
}

// readResponse reads a whole answer; an error means the answer is
// incomplete and must not be used.
func readResponse(r io.Reader) (*Response, error) {
	resp := &Response{}
	total := 0
	for {
		typ, payload, err := readFrame(r)
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		if total += len(payload); total > maxAnswer {
			return nil, fmt.Errorf("answer over %d bytes: %w", maxAnswer, ErrProtocol)
		}
		switch typ {
		case frameStdout:
			resp.Stdout = append(resp.Stdout, payload...)
		case frameStderr:
			resp.Stderr = append(resp.Stderr, payload...)
		case frameExit:
			if len(payload) != 4 {
				return nil, fmt.Errorf("exit frame: %w", ErrProtocol)
			}
			resp.Code = int(int32(binary.BigEndian.Uint32(payload)))
			return resp, nil
		case frameFallback:
			return &Response{Fallback: true, Why: string(payload)}, nil
		default:
			return nil, fmt.Errorf("frame type %q: %w", typ, ErrProtocol)
		}
	}
}
