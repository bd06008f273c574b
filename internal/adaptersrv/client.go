//go:build unix

package adaptersrv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoServer is returned by [Call] when no server listens on the key's
// socket: start one ([Start]).
var ErrNoServer = errors.New("no adapter server")

// dial connects to the socket at path with plain syscalls (the net
// package would cost every call its initialisation); timeout bounds each
// read and write.
func dial(path string, timeout time.Duration) (*os.File, error) {
	if err := checkSocketPath(path); err != nil {
		return nil, err
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		syscall.Close(fd)
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%s: %w", path, ErrNoServer)
		}
		return nil, fmt.Errorf("connect %s: %w", path, err)
	}
	tv := syscall.NsecToTimeval(timeout.Nanoseconds())
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	return os.NewFile(uintptr(fd), path), nil
}

// Call sends req to the server of key in dir and returns its whole
// answer. timeout bounds every read and write on the connection. Any
// error means there is no usable answer (nothing of one was returned):
// ErrNoServer wrapped if nothing listens, else a failed or incomplete
// exchange. Either way, run the call the old way; a Response with
// Fallback set asks the same.
func Call(dir, key string, req *Request, timeout time.Duration) (*Response, error) {
	f, err := dial(SocketPath(dir, key), timeout)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := writeFrame(f, frameRequest, req.marshal()); err != nil {
		return nil, fmt.Errorf("adapter server request: %w", err)
	}
	resp, err := readResponse(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("adapter server answer: %w", err)
	}
	return resp, nil
}

// QueryStatus asks the server of key in dir for its Status.
func QueryStatus(dir, key string, timeout time.Duration) (Status, error) {
	f, err := dial(SocketPath(dir, key), timeout)
	if err != nil {
		return Status{}, err
	}
	defer f.Close()
	if err := writeFrame(f, frameStatus, nil); err != nil {
		return Status{}, err
	}
	typ, payload, err := readFrame(f)
	if err != nil {
		return Status{}, err
	}
	var s Status
	fs := strings.Fields(string(payload))
	var err1 error
	if len(fs) == 4 {
		s.PID, err1 = strconv.Atoi(fs[0])
		for i, p := range []*uint64{&s.Requests, &s.Fast, &s.FastFallbacks} {
			var e error
			if *p, e = strconv.ParseUint(fs[i+1], 10, 64); e != nil {
				err1 = e
			}
		}
	}
	if typ != frameStatusOK || len(fs) != 4 || err1 != nil {
		return Status{}, fmt.Errorf("status %q: %w", payload, ErrProtocol)
	}
	return s, nil
}

// Start starts the server of key in dir, unless a process holds its lock
// (a server running, or starting). argv is the server's command line,
// argv[0] its binary; env its environment, to which Start adds
// [SchedTrace] (GODEBUG). The server runs detached: in a
// session of its own, in /, with stdin, stdout and stderr on /dev/null and
// no other descriptor of this process (all are marked close-on-exec
// first), so it never holds the caller's pipes open. Start does not wait
// for it.
func Start(dir, key string, argv, env []string) error {
	if err := CheckDir(dir, true); err != nil {
		return err
	}
	l, held, err := TryLock(LockPath(dir, key))
	if err != nil || held {
		return err
	}
	// Released before the start: the server takes it. Another starter
	// slipping in between starts a second server, which finds the lock
	// held and exits.
	l.Release()
	closeOnExecAll()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Dir: "/", Env: serverEnv(env),
		Files: []*os.File{null, null, null}, Sys: &syscall.SysProcAttr{Setsid: true}})
	if err != nil {
		return fmt.Errorf("start adapter server: %w", err)
	}
	return p.Release()
}

// closeOnExecAll marks every descriptor above stderr close-on-exec: Go's
// own are, but one inherited from the caller (a pipe bash or Aptos left
// open) would otherwise live on in the server.
func closeOnExecAll() {
	d, err := os.Open("/dev/fd")
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}
