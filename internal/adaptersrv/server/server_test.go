//go:build unix

package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metactl/metactl/internal/adaptersrv"
)

func echo(_ context.Context, req *adaptersrv.Request) *adaptersrv.Response {
	if req.Call == "fall" {
		return &adaptersrv.Response{Fallback: true, Why: "asked to"}
	}
	return &adaptersrv.Response{Stdout: []byte(req.Handle), Stderr: []byte("e"), Code: 7}
}

// shortDir is a server folder whose socket paths fit a sockaddr_un.
func shortDir(t *testing.T) string {
	t.Helper()
	root, err := os.MkdirTemp("", "mas-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	return filepath.Join(root, "metactl")
}

func TestRunServesAndExitsIdle(t *testing.T) {
	dir, key := shortDir(t), adaptersrv.Key("test")
	// A dead server of another key left its files; a dead server of this
	// key left its socket.
	os.MkdirAll(dir, 0o700)
	for _, f := range []string{"dead.lock", "dead.sock", key + ".sock"} {
		os.WriteFile(filepath.Join(dir, f), []byte("12345\n"), 0o600)
	}
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), Options{Dir: dir, Key: key, Idle: 500 * time.Millisecond, Handle: echo})
	}()
	var resp *adaptersrv.Response
	var err error
	for i := 0; i < 600; i++ {
		if resp, err = adaptersrv.Call(dir, key, &adaptersrv.Request{Call: "open_for_read", Handle: "h"}, 10*time.Second); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || string(resp.Stdout) != "h" || string(resp.Stderr) != "e" || resp.Code != 7 || resp.Fallback {
		t.Fatalf("call: %+v, %v", resp, err)
	}
	if resp, err := adaptersrv.Call(dir, key, &adaptersrv.Request{Call: "fall"}, 10*time.Second); err != nil || !resp.Fallback || resp.Why != "asked to" {
		t.Errorf("fallback: %+v, %v", resp, err)
	}
	st, err := adaptersrv.QueryStatus(dir, key, 10*time.Second)
	if err != nil || st.PID != os.Getpid() || st.Requests != 2 {
		t.Errorf("status: %+v, %v", st, err)
	}
	// A second server of the key finds the lock held.
	if err := Run(context.Background(), Options{Dir: dir, Key: key, Handle: echo}); !errors.Is(err, ErrRunning) {
		t.Errorf("second server: %v, want ErrRunning", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "dead.*")); len(left) != 0 {
		t.Errorf("a dead server's files stayed: %v", left)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the idle server did not exit within a minute")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the server left %v", left)
	}
	if _, err := adaptersrv.Call(dir, key, &adaptersrv.Request{}, time.Second); !errors.Is(err, adaptersrv.ErrNoServer) {
		t.Errorf("call after the exit: %v, want ErrNoServer", err)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	dir, key := shortDir(t), adaptersrv.Key("ctx")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Options{Dir: dir, Key: key, Handle: echo}) }()
	for i := 0; i < 600; i++ {
		if _, err := adaptersrv.QueryStatus(dir, key, time.Second); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the server left %v", left)
	}
}

// TestPendingCountsOwnCall: a lone call sees itself pending, nothing
// else; outside a server there is no count.
func TestPendingCountsOwnCall(t *testing.T) {
	if Pending(context.Background()) != nil {
		t.Fatal("Pending outside a server is not nil")
	}
	dir, key := shortDir(t), adaptersrv.Key("pending")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Dir: dir, Key: key, Handle: func(ctx context.Context, req *adaptersrv.Request) *adaptersrv.Response {
			return &adaptersrv.Response{Stdout: []byte(fmt.Sprint(Pending(ctx)()))}
		}})
	}()
	var resp *adaptersrv.Response
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		var err error
		resp, err = adaptersrv.Call(dir, key, &adaptersrv.Request{Call: "x"}, 10*time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	if string(resp.Stdout) != "1" {
		t.Errorf("a lone call sees %q pending, want 1", resp.Stdout)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
