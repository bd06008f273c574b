package catalog

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// Holder describes the process that holds (or is about to take) a
// catalog's write lock. A writer records it in the lock sidecar file
// "<catalog>.lock" while it holds the lock, so that a process that times out
// waiting can name it.
type Holder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Started time.Time `json:"started"`
	Host    string    `json:"host,omitempty"`
}

func (h *Holder) alive() bool {
	if h.PID <= 0 {
		return false
	}
	err := syscall.Kill(h.PID, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func hostname() string { h, _ := os.Hostname(); return h }
