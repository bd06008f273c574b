//go:build unix

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAdapterServerSharedReadsSeeWrites: open_for_read calls 8 at a time,
// as Aptos's sync makes them (bash, the fast path, metactl-adapter), while
// another process saves one file again and again with another content:
// every call started after a save completed, and done before the next
// started, reads what it saved, whether the server answered it from a
// read of etcd's current key of its own or one another call sent after it
// arrived (etcdstore.FileCache.ReadFilesArrived).
func TestAdapterServerSharedReadsSeeWrites(t *testing.T) {
	r := newServerRun(t)
	_, storageDir, c := etcdBridge(t, r)
	const saves, callers = 6, 8
	// One compacted file saved again and again, its content alternating:
	// a read answered from the cache as it was before a save reads the
	// other content.
	a := readFile(t, filepath.Join(storageDir, "metadata", "transaction_0-0.meta"))
	b := readFile(t, filepath.Join(storageDir, "metadata", "transaction_1-500.meta"))
	const name = "transaction_compacted_0-500.meta"
	contents := make([]string, saves+1)
	for k := 0; k <= saves; k++ {
		contents[k] = a
		if k%2 == 1 {
			contents[k] = a + b
		}
	}
	c.mustCall("save_metadata_line", []string{"FILE_NAME=" + name}, []byte(contents[0]))
	listed := lines(c.mustCall("list_metadata_files", nil, nil))
	r.waitUp(0)
	for i := 0; i < 24; i++ { // the server's cache filled (the file in it), then read from
		c.mustCall("open_for_read", []string{"FILE_HANDLE=" + listed[i%len(listed)]}, nil)
	}
	var done atomic.Int64 // the last save completed
	var stop atomic.Bool
	var mu sync.Mutex
	var bad []string
	var calls atomic.Int64
	var wg sync.WaitGroup
	var started atomic.Int64 // the last save started
	save := func(k int) {
		started.Store(int64(k))
		c.mustCall("save_metadata_line", []string{"FILE_NAME=" + name}, []byte(contents[k]))
		done.Store(int64(k))
	}
	for w := 0; w < callers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				k := done.Load()
				cmd := exec.Command("bash", "-c", "set -o nounset -o errexit -o pipefail; "+c.ca.Command("open_for_read"))
				cmd.Env = append(append(os.Environ(), c.env...), "FILE_HANDLE=metadata/"+name)
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				err := cmd.Run()
				calls.Add(1)
				// A save started meanwhile may or may not be read.
				if err != nil || (started.Load() == k && out.String() != contents[k]) {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("started after save %d: %q, %v, %s", k, out.String(), err, errb.String()))
					mu.Unlock()
				}
			}
		}()
	}
	for k := 1; k <= saves+1; k++ {
		for n := calls.Load(); calls.Load() < n+16; {
			time.Sleep(time.Millisecond) // 16 calls after each save
		}
		if k <= saves {
			save(k)
		}
	}
	stop.Store(true)
	wg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
	t.Logf("%d calls", calls.Load())
}
