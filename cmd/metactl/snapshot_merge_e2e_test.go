package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCompactWhileSnapshotsArriveInOneEpoch: one process keeps adding
// state snapshots inside the newest epoch (and importing them) while
// another compacts in a loop with a snapshot factor of 2, so every run
// has several chunks under one compacted name; a third reads status. Every
// write must succeed, every compaction must leave the view digest as it
// found it, every read must see a committed generation with its digest,
// and no snapshot may ever be lost. 10 s by default; METACTL_SOAK sets
// the time.
func TestCompactWhileSnapshotsArriveInOneEpoch(t *testing.T) {
	// Not parallel: it counts what a soak of a few seconds did.
	dur := soakDuration(t, 10*time.Second, 3*time.Second)
	storage := t.TempDir()
	addEpoch(t, storage, 0) // epoch 0 ends at version 9; epoch 1 is the newest
	cat := filepath.Join(t.TempDir(), "c.db")
	must(t, cat, nil, "import", "--local-fs-dir", storage)

	addSnapshot := func(v uint64) {
		line := fmt.Sprintf(`{"StateSnapshotBackup":{"epoch":1,"version":%d,"manifest":"state_epoch_1_ver_%d.0003/state.manifest"}}`, v, v)
		if err := os.WriteFile(filepath.Join(storage, "metadata", fmt.Sprintf("state_epoch_1_ver_%d.meta", v)), []byte(line+"\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	var added uint64 // snapshots imported (versions 10, 11, ...)
	var imports, compactions int
	wg.Add(1)
	go func() { // the backup coordinator: snapshots inside epoch 1
		defer wg.Done()
		for v := uint64(10); time.Now().Before(stop); v++ {
			addSnapshot(v)
			if r := metactl(t, cat, nil, "--lock-timeout", "30s", "import", "--local-fs-dir", storage); r.code != 0 {
				fail("import: %s", r)
				return
			}
			mu.Lock()
			added, imports = v-9, imports+1
			mu.Unlock()
		}
	}()
	wg.Add(1)
	go func() { // the compactor
		defer wg.Done()
		for time.Now().Before(stop) {
			r := metactl(t, cat, nil, "--lock-timeout", "30s", "compact", "--state-snapshot-file-compact-factor", "2",
				"--epoch-ending-file-compact-factor", "2", "--transaction-file-compact-factor", "2", "--remove-compacted-file-after", "0")
			if r.code != 0 {
				fail("compact: %s", r)
				return
			}
			mu.Lock()
			compactions++
			mu.Unlock()
		}
	}()
	type seen struct {
		generation uint64
		digest     string
		latest     uint64
	}
	var reads []seen
	wg.Add(1)
	go func() { // a reader
		defer wg.Done()
		for time.Now().Before(stop) {
			r := metactl(t, cat, nil, "--lock-timeout", "30s", "status", "--json")
			if r.code != 0 {
				fail("status: %s", r)
				continue
			}
			var s struct {
				Generation                 uint64  `json:"generation"`
				ViewDigest                 string  `json:"view_digest"`
				LatestStateSnapshotVersion *uint64 `json:"latest_state_snapshot_version"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.LatestStateSnapshotVersion == nil {
				fail("status: unparsable: %s", r.stdout)
				continue
			}
			mu.Lock()
			reads = append(reads, seen{s.Generation, s.ViewDigest, *s.LatestStateSnapshotVersion})
			mu.Unlock()
		}
	}()
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if t.Failed() {
		return
	}

	// The journal: every compaction kept the view; every generation a
	// reader saw was committed, with that digest.
	var ops []struct {
		Generation   uint64 `json:"generation"`
		Kind         string `json:"kind"`
		DigestBefore string `json:"digest_before"`
		DigestAfter  string `json:"digest_after"`
	}
	if err := unmarshalLog(must(t, cat, nil, "log", "-n", "0", "--json").stdout, &ops); err != nil {
		t.Fatal(err)
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Generation < ops[j].Generation })
	digests := map[uint64]string{}
	compacts := 0
	for _, op := range ops {
		digests[op.Generation] = op.DigestAfter
		if op.Kind == "compact" {
			compacts++
			if op.DigestBefore != op.DigestAfter {
				t.Errorf("compaction at generation %d changed the view digest %s -> %s", op.Generation, op.DigestBefore, op.DigestAfter)
			}
		}
	}
	sort.Slice(reads, func(i, j int) bool { return reads[i].generation < reads[j].generation })
	for i, r := range reads {
		if d, ok := digests[r.generation]; !ok || d != r.digest {
			t.Errorf("a reader saw generation %d with digest %s; committed: %q", r.generation, r.digest, d)
		}
		if i > 0 && r.latest < reads[i-1].latest {
			t.Errorf("the latest snapshot went back from %d to %d (generation %d)", reads[i-1].latest, r.latest, r.generation)
		}
	}
	// Nothing lost: every snapshot imported is in the view, and one
	// compacted file holds several chunks of epoch 1.
	v := must(t, cat, nil, "verify", "--json").stdout
	var vr struct {
		Entries int  `json:"entries"`
		OK      bool `json:"ok"`
	}
	if err := json.Unmarshal([]byte(v), &vr); err != nil || !vr.OK {
		t.Fatalf("verify: %v %s", err, v)
	}
	if want := 3 + int(added); vr.Entries != want { // epoch 0's ending, transaction and snapshot, plus the added ones
		t.Errorf("the view holds %d entries, want %d", vr.Entries, want)
	}
	rd := metactl(t, cat, nil, "read", "metadata/state_snapshot_compacted_epoch_1_1.meta")
	if added >= 3 && (rd.code != 0 || strings.Count(rd.stdout, "StateSnapshotBackup") < 3) {
		t.Errorf("no compacted file merges the chunks of epoch 1: %s", rd)
	}
	if imports < 3 || compacts < 3 || len(reads) < 3 {
		t.Errorf("the test did too little: %d imports, %d compactions, %d reads", imports, compacts, len(reads))
	}
	t.Logf("%v: %d snapshots added in epoch 1, %d imports, %d compactions (%d in the journal), %d reads, %d generations",
		dur, added, imports, compactions, compacts, len(reads), len(ops))
}
