package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metactl/metactl/internal/timespan"
)

// soakDuration is how long a cross-process test runs: normal by default
// (CI), short with -short, and METACTL_SOAK (10m, 600) when set.
func soakDuration(t *testing.T, normal, short time.Duration) time.Duration {
	if s := os.Getenv("METACTL_SOAK"); s != "" {
		d, err := timespan.Parse(s)
		if err != nil {
			t.Fatalf("METACTL_SOAK=%q: %v", s, err)
		}
		return d
	}
	if testing.Short() {
		return short
	}
	return normal
}

// unmarshalLog decodes the operations of a `log --json` document into ops.
func unmarshalLog[T any](doc string, ops *[]T) error {
	var l struct {
		Operations []T `json:"operations"`
	}
	err := json.Unmarshal([]byte(doc), &l)
	*ops = l.Operations
	return err
}

type journalOp struct {
	Generation  uint64 `json:"generation"`
	Kind        string `json:"kind"`
	DigestAfter string `json:"digest_after"`
	Added       struct {
		Handles   []string `json:"handles"`
		Truncated bool     `json:"truncated"`
	} `json:"added"`
	Moved struct {
		Handles []string `json:"handles"`
	} `json:"moved"`
	Replaced struct {
		Handles []string `json:"handles"`
	} `json:"replaced"`
	Revived struct {
		Handles []string `json:"handles"`
	} `json:"revived"`
	Deleted struct {
		Handles []string `json:"handles"`
	} `json:"deleted"`
}

// addEpoch writes the files one more epoch of backups would add to a
// LocalFs storage: an epoch ending, a transaction batch and a snapshot.
func addEpoch(t testing.TB, dir string, e uint64) {
	t.Helper()
	first, last := e*10, e*10+9
	files := map[string]string{
		fmt.Sprintf("epoch_ending_%d-%d.meta", e, e):       fmt.Sprintf(`{"EpochEndingBackup":{"first_epoch":%d,"last_epoch":%d,"first_version":%d,"last_version":%d,"manifest":"epoch_ending_%d-.0001/epoch_ending.manifest"}}`, e, e, last, last, e),
		fmt.Sprintf("transaction_%d-%d.meta", first, last): fmt.Sprintf(`{"TransactionBackup":{"first_version":%d,"last_version":%d,"manifest":"transaction_%d-.0002/transaction.manifest"}}`, first, last, first),
		fmt.Sprintf("state_snapshot_ver_%d.meta", last):    fmt.Sprintf(`{"StateSnapshotBackup":{"epoch":%d,"version":%d,"manifest":"state_epoch_%d_ver_%d.0003/state.manifest"}}`, e, last, e, last),
	}
	os.MkdirAll(filepath.Join(dir, "metadata"), 0o755)
	for name, line := range files {
		if err := os.WriteFile(filepath.Join(dir, "metadata", name), []byte(line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConcurrentReadersSeeWholeGenerations runs reader processes (read,
// status, ls --json) in a loop while a writer process loop imports new
// files and compacts. Every read must report a generation the writer
// committed, with exactly that generation's digest (status) or file set
// (ls), never a partial state, never a not-found, never a crash; and no
// read may wait longer than the lock timeout.
func TestConcurrentReadersSeeWholeGenerations(t *testing.T) {
	dur := soakDuration(t, 20*time.Second, 3*time.Second)
	storage := t.TempDir()
	cat := filepath.Join(t.TempDir(), "c.db")
	addEpoch(t, storage, 0)
	must(t, cat, nil, "import", "--local-fs-dir", storage)

	const lockTimeout = 10 * time.Second
	stop := time.Now().Add(dur)
	var writes atomic.Int64
	var writerErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for e := uint64(1); time.Now().Before(stop); e++ {
			addEpoch(t, storage, e)
			if r := metactl(t, cat, nil, "--lock-timeout", "30s", "import", "--local-fs-dir", storage); r.code != 0 {
				writerErr = fmt.Errorf("import: %s", r)
				return
			}
			if r := metactl(t, cat, nil, "--lock-timeout", "30s", "compact", "--epoch-ending-file-compact-factor", "3",
				"--state-snapshot-file-compact-factor", "2", "--transaction-file-compact-factor", "4",
				"--remove-compacted-file-after", "0"); r.code != 0 {
				writerErr = fmt.Errorf("compact: %s", r)
				return
			}
			writes.Add(2)
		}
	}()

	type observation struct {
		kind       string
		generation uint64
		digest     string
		files      []string // "handle state", sorted (ls)
	}
	var mu sync.Mutex
	var obs []observation
	var failures []string
	var maxWait time.Duration
	readers := []struct {
		kind string
		args []string
	}{
		{"status", []string{"status", "--json"}},
		{"ls", []string{"ls", "--json"}},
		{"read", []string{"read", "--json", "metadata/epoch_ending_0-0.meta", "metadata/transaction_0-9.meta"}},
		{"status-text", []string{"status"}},
		{"status", []string{"status", "--json"}},
	}
	for _, rd := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				start := time.Now()
				r := metactl(t, cat, nil, append([]string{"--lock-timeout", lockTimeout.String()}, rd.args...)...)
				waited := time.Since(start)
				mu.Lock()
				maxWait = max(maxWait, waited)
				if r.code != 0 {
					failures = append(failures, fmt.Sprintf("%s: %s", rd.kind, r))
					mu.Unlock()
					continue
				}
				o := observation{kind: rd.kind}
				switch rd.kind {
				case "status":
					var s struct {
						Generation uint64 `json:"generation"`
						ViewDigest string `json:"view_digest"`
					}
					if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
						failures = append(failures, "status: unparsable output: "+r.stdout)
					}
					o.generation, o.digest = s.Generation, s.ViewDigest
				case "ls":
					var l struct {
						Generation uint64 `json:"generation"`
						Files      []struct{ Handle, State string }
					}
					if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
						failures = append(failures, "ls: unparsable output: "+r.stdout)
					}
					o.generation = l.Generation
					for _, f := range l.Files {
						o.files = append(o.files, f.Handle+" "+f.State)
					}
				case "read":
					var rj struct {
						Generation uint64 `json:"generation"`
						Files      []struct {
							Entries []json.RawMessage `json:"entries"`
						} `json:"files"`
					}
					if err := json.Unmarshal([]byte(r.stdout), &rj); err != nil || len(rj.Files) != 2 || len(rj.Files[0].Entries) != 1 || len(rj.Files[1].Entries) != 1 {
						failures = append(failures, "read: partial or unparsable output: "+r.stdout)
					}
					o.generation = rj.Generation
				case "status-text":
					if !strings.HasPrefix(r.stdout, "latest_epoch_ending_epoch: ") || strings.Count(r.stdout, "\n") != 1 {
						failures = append(failures, "status: bad line: "+r.stdout)
					}
				}
				obs = append(obs, o)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if writerErr != nil {
		t.Fatal(writerErr)
	}

	// Replay the journal: the committed generations, their digests and
	// file sets.
	var ops []journalOp
	if err := unmarshalLog(must(t, cat, nil, "log", "-n", "0", "--json").stdout, &ops); err != nil {
		t.Fatal(err)
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Generation < ops[j].Generation })
	digests := map[uint64]string{}
	filesAt := map[uint64][]string{}
	state := map[string]string{}
	for _, op := range ops {
		if op.Added.Truncated {
			t.Fatal("journal truncated; the test storage is too big")
		}
		for _, h := range op.Added.Handles {
			state[h] = "live"
		}
		for _, h := range op.Replaced.Handles {
			state[h] = "live"
		}
		for _, h := range op.Revived.Handles {
			state[h] = "live"
		}
		for _, h := range op.Moved.Handles {
			state[h] = "moved"
		}
		for _, h := range op.Deleted.Handles {
			delete(state, h)
		}
		digests[op.Generation] = op.DigestAfter
		var fs []string
		for h, s := range state {
			fs = append(fs, h+" "+s)
		}
		sort.Strings(fs)
		filesAt[op.Generation] = fs
	}
	counts := map[string]int{}
	var inconsistent int
	gens := map[uint64]bool{}
	for _, o := range obs {
		counts[o.kind]++
		if o.kind == "status-text" {
			continue
		}
		gens[o.generation] = true
		if _, ok := digests[o.generation]; !ok {
			inconsistent++
			t.Errorf("%s saw generation %d, which no writer committed", o.kind, o.generation)
			continue
		}
		if o.kind == "status" && o.digest != digests[o.generation] {
			inconsistent++
			t.Errorf("status at generation %d saw digest %s, committed %s", o.generation, o.digest, digests[o.generation])
		}
		if o.kind == "ls" && strings.Join(o.files, "\n") != strings.Join(filesAt[o.generation], "\n") {
			inconsistent++
			t.Errorf("ls at generation %d saw a file set that generation never had", o.generation)
		}
	}
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("soak %v: %d writes (%d generations), reads: %v, distinct generations seen by readers: %d, failures: %d, inconsistent: %d, longest read: %v",
		dur, writes.Load(), len(ops), counts, len(gens), len(failures), inconsistent, maxWait)
	if maxWait > lockTimeout+5*time.Second {
		t.Errorf("a read took %v, more than the lock timeout %v", maxWait, lockTimeout)
	}
	if len(gens) < 3 || writes.Load() < 4 {
		t.Errorf("the soak did too little to prove anything: %d writes, %d generations seen", writes.Load(), len(gens))
	}
	fmt.Printf("concurrency: %d writes, reads %v, generations seen %d, failures %d, inconsistent %d, longest read %v\n",
		writes.Load(), counts, len(gens), len(failures), inconsistent, maxWait)
}
