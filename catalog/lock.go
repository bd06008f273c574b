package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
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

// lockPath returns the sidecar lock file of a catalog.
//
// Why a sidecar: bbolt's own flock has no fairness. A steady stream of
// read-only processes, each holding the shared lock for a moment, can keep
// a writer's exclusive request failing until it times out. Writers first
// take the sidecar exclusively; readers take it shared only for the instant
// of their open. So once a writer is waiting, new readers queue behind it,
// and it waits at most for the readers already inside: writer preference.
func lockPath(catalog string) string { return catalog + ".lock" }

// flockWait takes an flock on f, polling until deadline or ctx is done.
// It returns errLockTimeout on timeout.
func flockWait(ctx context.Context, f *os.File, how int, deadline time.Time) error {
	delay := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return err
		}
		if !time.Now().Before(deadline) {
			return errLockTimeout
		}
		t := time.NewTimer(min(delay, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 20*time.Millisecond)
	}
}

var errLockTimeout = errors.New("lock timeout")

// readHolder reads the holder record from a catalog's lock file, or nil.
func readHolder(catalog string) *Holder {
	b, err := os.ReadFile(lockPath(catalog))
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	var h Holder
	if json.Unmarshal(b, &h) != nil {
		return nil
	}
	return &h
}

// writeHolder replaces the content of the (exclusively locked) lock file.
func writeHolder(f *os.File, h *Holder) {
	b, _ := json.Marshal(h)
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
	}
}
