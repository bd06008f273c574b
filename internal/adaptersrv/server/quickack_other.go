//go:build unix && !linux

package server

import "net"

// quickAck is Linux's TCP_QUICKACK (quickack_linux.go); elsewhere a
// request over 4 KiB may wait for a delayed ACK.
func quickAck(net.Conn) {}
