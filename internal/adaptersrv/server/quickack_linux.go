package server

import (
	"net"
	"syscall"
)

// quickAck asks Linux to acknowledge what c receives at once rather than
// after its delayed-ACK timer (40 ms). bash writes a fast-path request
// through stdio in 4 KiB pieces on a socket without TCP_NODELAY: under
// Nagle's algorithm its second piece waits for the first one's ACK, so a
// request over 4 KiB (a large environment) would wait 40 ms. The mode
// does not stick: it is set again before every read.
func quickAck(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	if rc, err := tc.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
}
