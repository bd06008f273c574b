package storage_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// gzipMembers returns one gzip member per argument, concatenated, written
// with compress/gzip.
func gzipMembers(t *testing.T, members ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, m := range members {
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// gzipBinary compresses data with the gzip program, skipping the test where
// there is none.
func gzipBinary(t *testing.T, data string) []byte {
	t.Helper()
	path, err := exec.LookPath("gzip")
	if err != nil {
		t.Skip("no gzip binary:", err)
	}
	cmd := exec.Command(path, "-c")
	cmd.Stdin = bytes.NewReader([]byte(data))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeFile writes data to dir/rel, creating folders.
func writeFile(t *testing.T, dir, rel string, data []byte) {
	t.Helper()
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// errText returns err's text, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// contextCanceled returns a context that is already canceled.
func contextCanceled(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx, cancel
}
