package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/metactl/metactl/catalog"
)

// lockPath returns the sidecar lock file of a catalog.
//
// Why a sidecar: bbolt's own flock has no fairness. A steady stream of
// read-only processes, each holding the shared lock for a moment, can keep
// a writer's exclusive request failing until it times out. Writers first
// take the sidecar exclusively; readers take it shared only for the instant
// of their open. So once a writer is waiting, new readers queue behind it,
// and it waits at most for the readers already inside: writer preference.
func lockPath(path string) string { return path + ".lock" }

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
func readHolder(path string) *catalog.Holder {
	b, err := os.ReadFile(lockPath(path))
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	var h catalog.Holder
	if json.Unmarshal(b, &h) != nil {
		return nil
	}
	return &h
}

// writeHolder replaces the content of the (exclusively locked) lock file.
func writeHolder(f *os.File, h *catalog.Holder) {
	b, _ := json.Marshal(h)
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
	}
}
