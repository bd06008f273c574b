//go:build !unix

package storage

import "os/exec"

// setProcessGroup is a no-op without Unix process groups: cancellation
// kills only the shell, and waitDelay bounds the wait for its pipes.
func setProcessGroup(cmd *exec.Cmd) {}
