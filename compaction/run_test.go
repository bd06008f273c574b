package compaction_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/compaction"
	"github.com/metactl/metactl/internal/catalogtest"
)

// aptosTestFiles are the originals of Aptos's test_backup_compaction
// (docs/aptos-format.md §10 item 1), plus identity.meta.
func aptosTestFiles() []file {
	return []file{
		single(ep(0, 0)), single(ep(1, 1)),
		single(ss(1, 14)), single(ss(2, 29)),
		single(txn(0, 14)), single(txn(15, 29)),
		single(identity()),
	}
}

// TestBackupCompaction is Aptos's test_backup_compaction (docs/aptos-format.md
// §10 item 1) at the catalog level: E=S=T=2, R=1 s, a run at t1 and another at
// t1+2.
func TestBackupCompaction(t *testing.T) {
	const t1, t2 = t0, t0 + 2
	tc := newCatalog(t, t1)
	originals := aptosTestFiles()
	tc.put(t, catalog.Live, originals...)
	var og []string
	for _, f := range originals {
		og = append(og, f.handle)
	}
	ogSorted := slices.Sorted(slices.Values(og))
	before := tc.state(t)
	o := opts(2, 2, 2, time.Second)
	compacted := md("epoch_ending_compacted_0-1.meta", "transaction_compacted_0-29.meta", "state_snapshot_compacted_epoch_1_2.meta")

	// First run: three compacted files, every original timestamped t1,
	// nothing moved.
	p, op := tc.run(t, o)
	eqStrings(t, "first run writes", writes(p), compacted)
	for _, w := range p.Write {
		if w.Lines != 2 || w.Exists || w.Result != catalog.Added {
			t.Fatalf("first run: %s = %+v", w.Handle, w)
		}
	}
	wantStamps := map[string]uint64{}
	for _, h := range og {
		wantStamps[h] = t1
	}
	if got := stamped(p); !reflect.DeepEqual(got, wantStamps) {
		t.Fatalf("first run timestamped %v, want %v", got, wantStamps)
	}
	eqStrings(t, "first run moves", p.Move, nil)
	if p.TimestampsFile != aptos.LiveHandle(tsName(t1)) || p.TimestampsResult != catalog.Added {
		t.Fatalf("first run timestamps file %s (%v)", p.TimestampsFile, p.TimestampsResult)
	}
	if op.Generation != before.Gen+1 || op.Added.Count != 4 || op.Moved.Count != 0 || op.DigestAfter != before.Digest {
		t.Fatalf("first run operation %+v", op)
	}
	if op.Note != "wrote 3 compacted files, timestamped 7, moved 0" {
		t.Fatalf("note %q", op.Note)
	}
	if want := []string{"epoch_ending_factor=2", "state_snapshot_factor=2", "transaction_factor=2", "remove_compacted_file_after_secs=1"}; !reflect.DeepEqual(op.Inputs, want) {
		t.Fatalf("inputs %q", op.Inputs)
	}
	mid := tc.state(t)
	sameView(t, before, mid)
	for _, h := range og { // og_list ⊆ listing
		if !slices.Contains(mid.Live, h) {
			t.Fatalf("after the first run %s is not live: %q", h, mid.Live)
		}
	}
	mustEqualBytes(t, "epoch_ending_compacted_0-1.meta", tc.content(t, compacted[0]), catalogtest.Content(ep(0, 0), ep(1, 1)))
	mustEqualBytes(t, "transaction_compacted_0-29.meta", tc.content(t, compacted[1]), catalogtest.Content(txn(0, 14), txn(15, 29)))
	mustEqualBytes(t, "state_snapshot_compacted_epoch_1_2.meta", tc.content(t, compacted[2]), catalogtest.Content(ss(1, 14), ss(2, 29)))

	// Second run, 2 s later: the originals (and identity.meta) expired and
	// moved; compaction_timestamps_<t1> is stamped for the first time, so
	// it stays.
	tc.clock.set(t2)
	p, op = tc.run(t, o)
	eqStrings(t, "second run writes", writes(p), compacted)
	for _, w := range p.Write {
		if !w.Exists || w.Result != catalog.Unchanged {
			t.Fatalf("second run: %s = %+v", w.Handle, w)
		}
	}
	eqStrings(t, "second run moves", p.Move, ogSorted)
	if want := []compaction.Stamp{{Handle: aptos.LiveHandle(tsName(t1)), At: t2, New: true}}; !reflect.DeepEqual(p.Timestamped, want) {
		t.Fatalf("second run timestamped %v, want %v", p.Timestamped, want)
	}
	wantLine := `{"CompactionTimestamps":{"file_compacted_at":1700000002,"compaction_timestamps":{"metadata/compaction_timestamps_1700000000.meta":1700000002}}}` + "\n"
	mustEqualBytes(t, "compaction_timestamps_<t2>", tc.content(t, aptos.LiveHandle(tsName(t2))), []byte(wantLine))
	if op.Moved.Count != 7 || op.Added.Count != 1 || op.Replaced.Count != 0 || op.DigestAfter != before.Digest {
		t.Fatalf("second run operation %+v", op)
	}

	after := tc.state(t)
	eqStrings(t, "final live", after.Live, []string{
		"metadata/compaction_timestamps_1700000000.meta",
		"metadata/compaction_timestamps_1700000002.meta",
		"metadata/epoch_ending_compacted_0-1.meta",
		"metadata/state_snapshot_compacted_epoch_1_2.meta",
		"metadata/transaction_compacted_0-29.meta",
	})
	eqStrings(t, "final moved", after.Moved, ogSorted)
	sameView(t, before, after)
	if after.Identity == "" || after.Identity != before.Identity {
		t.Fatalf("identity %q after moving identity.meta, was %q", after.Identity, before.Identity)
	}
	if after.TxnErr != "" || len(after.Txns) != 2 || after.EpochErr != "" || len(after.Epochs) != 2 || !after.HasSnap || after.Snapshot.Epoch != 2 {
		t.Fatalf("selections after compaction: %+v", after.view)
	}
}

// TestIdempotent is docs/aptos-format.md §10 item 2: compacting twice gives
// the same view. A second run at the same instant with nothing new only
// rewrites the timestamps file (its map gains the file itself); a third
// changes nothing at all.
func TestIdempotent(t *testing.T) {
	tc := newCatalog(t, t0)
	tc.put(t, catalog.Live, aptosTestFiles()...)
	o := opts(2, 2, 2, compaction.DefaultRemoveCompactedFileAfter)
	before := tc.state(t)
	p1, _ := tc.run(t, o)
	s1 := tc.state(t)
	sameView(t, before, s1)
	tsHandle := aptos.LiveHandle(tsName(t0))
	ts1 := tc.content(t, tsHandle)

	// Same instant: every compacted file is already there, nothing expires;
	// compaction_timestamps_<t0> is now listed, so it is stamped, and the
	// new map (the old one plus that key) replaces the file.
	p2, op2 := tc.run(t, o)
	for _, w := range p2.Write {
		if !w.Exists || w.Result != catalog.Unchanged {
			t.Fatalf("second run: %s = %+v", w.Handle, w)
		}
	}
	eqStrings(t, "second run writes", writes(p2), writes(p1))
	eqStrings(t, "second run moves", p2.Move, nil)
	want := []compaction.Stamp{{Handle: tsHandle, At: t0, New: true}}
	for _, s := range p1.Timestamped {
		want = append(want, compaction.Stamp{Handle: s.Handle, At: t0})
	}
	slices.SortFunc(want, func(a, b compaction.Stamp) int { return strings.Compare(a.Handle, b.Handle) })
	if !reflect.DeepEqual(p2.Timestamped, want) {
		t.Fatalf("second run timestamped %v, want %v", p2.Timestamped, want)
	}
	if p2.TimestampsFile != tsHandle || p2.TimestampsResult != catalog.Replaced {
		t.Fatalf("second run timestamps %s %v", p2.TimestampsFile, p2.TimestampsResult)
	}
	if !op2.Changed() || op2.Generation != s1.Gen+1 || op2.Added.Count != 0 || op2.Moved.Count != 0 ||
		!reflect.DeepEqual(op2.Replaced.Handles, []string{tsHandle}) || op2.DigestBefore != op2.DigestAfter {
		t.Fatalf("second run operation %+v", op2)
	}
	ts2 := tc.content(t, tsHandle)
	if string(ts2) == string(ts1) || !strings.Contains(string(ts2), `"metadata/compaction_timestamps_1700000000.meta":1700000000`) {
		t.Fatalf("timestamps file after the second run: %s", ts2)
	}
	s2 := tc.state(t)
	sameView(t, s1, s2)
	eqStrings(t, "live after the second run", s2.Live, s1.Live)

	// Third run, same instant: identical plan, nothing changes, the
	// catalog file is byte-for-byte the same.
	raw := tc.bytes(t)
	p3, op3 := tc.run(t, o)
	if op3.Changed() || op3.Generation != s2.Gen || p3.TimestampsResult != catalog.Unchanged {
		t.Fatalf("third run operation %+v, timestamps %v", op3, p3.TimestampsResult)
	}
	if !reflect.DeepEqual(stamped(p3), stamped(p2)) || !reflect.DeepEqual(writes(p3), writes(p2)) {
		t.Fatal("third run planned something else")
	}
	mustEqualBytes(t, "catalog file after a no-op run", tc.bytes(t), raw)

	// A day and a second later everything but the compacted files has
	// expired, the old timestamps file included: the steady state.
	tc.clock.set(t0 + 86401)
	p4, _ := tc.run(t, o)
	if len(p4.Move) != 8 || len(p4.Timestamped) != 0 {
		t.Fatalf("a day later: move %q, timestamped %v", p4.Move, p4.Timestamped)
	}
	s4 := tc.state(t)
	sameView(t, before, s4)
	eqStrings(t, "live a day later", s4.Live, slices.Sorted(slices.Values(append(writes(p1), aptos.LiveHandle(tsName(t0+86401))))))
}

// TestInvalidLeavesCatalogUnchanged: a continuity error aborts the run with the exact message; the catalog keeps its
// generation and its bytes.
func TestInvalidLeavesCatalogUnchanged(t *testing.T) {
	tests := []struct {
		name  string
		files []file
		opts  compaction.Options
		want  string
	}{
		{"epoch gap inside a chunk (spec 10.8)", []file{single(ep(0, 0)), single(ep(2, 2))}, opts(2, 1, 1, 0),
			"Epoch ending backup ranges is not continuous expecting epoch 1, got 2"},
		{"same transaction range, different manifests (spec 10.8)",
			[]file{single(txnm(0, 14, "a/transaction.manifest")), {"metadata/transaction_0-14.retry.meta", []aptos.Metadata{txnm(0, 14, "b/transaction.manifest")}}},
			opts(1, 1, 2, 0), "txn backup ranges is not continuous expecting version 15, got 0."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := newCatalog(t, t0)
			tc.put(t, catalog.Live, tt.files...)
			before, raw := tc.state(t), tc.bytes(t)
			if _, err := compaction.DryRun(t.Context(), tc.db, tt.opts); err == nil || err.Error() != tt.want {
				t.Fatalf("dry run error %v, want %s", err, tt.want)
			}
			p, op, err := compaction.Run(t.Context(), tc.db, tt.opts)
			if err == nil {
				t.Fatalf("no error: plan %q, operation %+v", writes(p), op)
			}
			if err.Error() != tt.want || !errors.Is(err, aptos.ErrInvalid) || p != nil || op != nil {
				t.Fatalf("error %v (wraps ErrInvalid: %v), want %s", err, errors.Is(err, aptos.ErrInvalid), tt.want)
			}
			after := tc.state(t)
			if after.Gen != before.Gen || !reflect.DeepEqual(after, before) {
				t.Fatalf("catalog changed: %+v -> %+v", before, after)
			}
			mustEqualBytes(t, "catalog file", tc.bytes(t), raw)
		})
	}
}

// TestGapAcrossChunkBoundary: docs/aptos-format.md §10 item 8, the gap that is
// an error inside a chunk compacts fine across a boundary (E=1); restore
// selection still rejects it, before and after.
func TestGapAcrossChunkBoundary(t *testing.T) {
	tc := newCatalog(t, t0)
	tc.put(t, catalog.Live, single(ep(0, 0)), single(ep(2, 2)))
	before := tc.state(t)
	p, _ := tc.run(t, opts(1, 1, 1, 0))
	eqStrings(t, "writes", writes(p), md("epoch_ending_compacted_0-0.meta", "epoch_ending_compacted_2-2.meta"))
	tc.clock.set(t0 + 1)
	tc.run(t, opts(1, 1, 1, 0))
	after := tc.state(t)
	sameView(t, before, after)
	if want := "Epoch ending backup ranges not continuous, expecting epoch 1, got 2."; after.EpochErr != want {
		t.Fatalf("selection error %q, want %q", after.EpochErr, want)
	}
	eqStrings(t, "moved", after.Moved, md("epoch_ending_0-0.meta", "epoch_ending_2-2.meta"))
}

// TestDuplicateLinesInTwoFiles: docs/aptos-format.md §10 item 8, an entry held
// by two files is compacted once; moving both originals loses nothing.
func TestDuplicateLinesInTwoFiles(t *testing.T) {
	tc := newCatalog(t, t0)
	tc.put(t, catalog.Live,
		file{"metadata/epoch_ending_0-1.meta", []aptos.Metadata{ep(0, 0), ep(1, 1)}},
		single(ep(1, 1)), single(ep(2, 2)))
	before := tc.state(t)
	p, _ := tc.run(t, opts(10, 1, 1, 0))
	if len(p.Write) != 1 || p.Write[0].Handle != "metadata/epoch_ending_compacted_0-2.meta" || p.Write[0].Lines != 3 {
		t.Fatalf("writes %+v", p.Write)
	}
	mustEqualBytes(t, "compacted content", tc.content(t, p.Write[0].Handle), catalogtest.Content(ep(0, 0), ep(1, 1), ep(2, 2)))
	tc.clock.set(t0 + 1)
	p, _ = tc.run(t, opts(10, 1, 1, 0))
	eqStrings(t, "moved", p.Move, md("epoch_ending_0-1.meta", "epoch_ending_1-1.meta", "epoch_ending_2-2.meta"))
	sameView(t, before, tc.state(t))
}

// TestGraceBoundary: docs/aptos-format.md §10 item 8 with R = 86400: a file
// timestamped t stays at t+86400 and is moved at t+86401.
func TestGraceBoundary(t *testing.T) {
	tc := newCatalog(t, t0)
	orig := single(txn(0, 9))
	tc.put(t, catalog.Live, orig)
	o := opts(1, 1, 1, 86400*time.Second)
	tc.run(t, o)
	tc.clock.set(t0 + 86400)
	p, _ := tc.run(t, o)
	if len(p.Move) != 0 || stamped(p)[orig.handle] != t0 {
		t.Fatalf("at t+86400: move %q, timestamped %v", p.Move, p.Timestamped)
	}
	tc.clock.set(t0 + 86401)
	p, _ = tc.run(t, o)
	// compaction_timestamps_<t0> was first stamped at t0+86400: it stays.
	eqStrings(t, "moved at t+86401", p.Move, []string{orig.handle})
	if st := stamped(p); st[aptos.LiveHandle(tsName(t0))] != t0+86400 || st[aptos.LiveHandle(tsName(t0+86400))] != t0+86401 {
		t.Fatalf("at t+86401 timestamped %v", p.Timestamped)
	}
	eqStrings(t, "moved", tc.state(t).Moved, []string{orig.handle})
}

// TestWorkedExample is docs/aptos-format.md §6's worked example with factors
// 100, then the arrival of transaction_200000001-201000000: chunk 3 is
// rewritten under a new name and the old chunk-3 file is timestamped (and
// moved a day later).
func TestWorkedExample(t *testing.T) {
	tc := newCatalog(t, t0)
	var files []file
	for _, m := range workedExample() {
		files = append(files, single(m))
	}
	tc.put(t, catalog.Live, files...)
	before := tc.state(t)
	o := opts(100, 100, 100, compaction.DefaultRemoveCompactedFileAfter)
	p, _ := tc.run(t, o)
	eqStrings(t, "first run", writes(p), md(
		"epoch_ending_compacted_0-99.meta", "epoch_ending_compacted_100-199.meta", "epoch_ending_compacted_200-249.meta",
		"transaction_compacted_0-99000000.meta", "transaction_compacted_99000001-199000000.meta",
		"transaction_compacted_199000001-200000000.meta"))
	if len(p.Timestamped) != len(files) {
		t.Fatalf("timestamped %d, want %d", len(p.Timestamped), len(files))
	}

	const t1 = t0 + 3600
	tc.clock.set(t1)
	arrival := single(txn(200_000_001, 201_000_000))
	tc.put(t, catalog.Live, arrival)
	p, op := tc.run(t, o)
	eqStrings(t, "second run", writes(p), md(
		"epoch_ending_compacted_0-99.meta", "epoch_ending_compacted_100-199.meta", "epoch_ending_compacted_200-249.meta",
		"transaction_compacted_0-99000000.meta", "transaction_compacted_99000001-199000000.meta",
		"transaction_compacted_199000001-201000000.meta"))
	for i, w := range p.Write {
		if (i == 5) == w.Exists {
			t.Fatalf("second run %s: exists %v", w.Handle, w.Exists)
		}
	}
	oldChunk3 := "metadata/transaction_compacted_199000001-200000000.meta"
	st := stamped(p)
	if st[oldChunk3] != t1 || st[arrival.handle] != t1 || st[files[0].handle] != t0 || len(p.Move) != 0 {
		t.Fatalf("second run: old chunk 3 at %d, arrival at %d, original at %d, moves %q", st[oldChunk3], st[arrival.handle], st[files[0].handle], p.Move)
	}
	if op.Added.Count != 2 || op.Moved.Count != 0 {
		t.Fatalf("second run operation %+v", op)
	}

	tc.clock.set(t0 + 86401)
	p, _ = tc.run(t, o)
	if len(p.Move) != len(files) || slices.Contains(p.Move, oldChunk3) {
		t.Fatalf("a day after the first run: %d moved (old chunk 3 moved: %v)", len(p.Move), slices.Contains(p.Move, oldChunk3))
	}
	tc.clock.set(t1 + 86401)
	p, _ = tc.run(t, o)
	if !slices.Contains(p.Move, oldChunk3) || !slices.Contains(p.Move, arrival.handle) {
		t.Fatalf("a day after the second run: moved %q", p.Move)
	}
	after := tc.state(t)
	for _, h := range after.Live {
		if !strings.Contains(h, "_compacted_") && !strings.Contains(h, "compaction_timestamps_") {
			t.Fatalf("%s still live", h)
		}
	}
	if before.Storage != "latest_epoch_ending_epoch: 249, latest_state_snapshot_epoch: none, latest_state_snapshot_version: none, latest_transaction_version: 200000000" {
		t.Fatalf("storage state %s", before.Storage)
	}
	if after.Storage != "latest_epoch_ending_epoch: 249, latest_state_snapshot_epoch: none, latest_state_snapshot_version: none, latest_transaction_version: 201000000" {
		t.Fatalf("storage state %s", after.Storage)
	}
}

// TestRewriteExistingHandles: a compacted handle whose chunk changed is
// overwritten (docs/aptos-format.md §12 items 7 and 8); a moved compacted
// file that is recomputed becomes live again. The view digest check proves nothing is lost.
func TestRewriteExistingHandles(t *testing.T) {
	tc := newCatalog(t, t0)
	o := opts(1, 2, 1, 0)
	tc.put(t, catalog.Live, single(ss(0, 0)), single(ss(2, 20)), single(ss(2, 21)))
	p, _ := tc.run(t, o)
	eqStrings(t, "writes", writes(p), md("state_snapshot_compacted_epoch_0_2.meta", "state_snapshot_compacted_epoch_2_2.meta"))
	mustEqualBytes(t, "chunk 1", tc.content(t, p.Write[0].Handle), catalogtest.Content(ss(0, 0), ss(2, 20)))

	// A snapshot at version 19 shifts every later chunk: both names stay,
	// both contents change.
	tc.clock.set(t0 + 10)
	tc.put(t, catalog.Live, single(ss(2, 19)))
	before := tc.state(t)
	p, op := tc.run(t, o)
	eqStrings(t, "writes after the shift", writes(p), md("state_snapshot_compacted_epoch_0_2.meta", "state_snapshot_compacted_epoch_2_2.meta"))
	for _, w := range p.Write {
		if w.Result != catalog.Replaced || w.Exists {
			t.Fatalf("%s: %+v", w.Handle, w)
		}
	}
	mustEqualBytes(t, "chunk 1 after the shift", tc.content(t, p.Write[0].Handle), catalogtest.Content(ss(0, 0), ss(2, 19)))
	mustEqualBytes(t, "chunk 2 after the shift", tc.content(t, p.Write[1].Handle), catalogtest.Content(ss(2, 20), ss(2, 21)))
	if op.Replaced.Count != 2 || op.DigestAfter != before.Digest {
		t.Fatalf("operation %+v", op)
	}
	sameView(t, before, tc.state(t))

	// Moved compacted files: one identical to what is recomputed (revived),
	// one with other content (replaced, live).
	tc2 := newCatalog(t, t0)
	tc2.put(t, catalog.Live, single(ep(0, 0)), single(ep(1, 1)))
	tc2.put(t, catalog.Moved,
		file{"metadata/epoch_ending_compacted_0-0.meta", []aptos.Metadata{ep(0, 0)}},
		file{"metadata/epoch_ending_compacted_1-1.meta", []aptos.Metadata{epm(1, 1, "old/epoch_ending.manifest")}})
	p, op = tc2.run(t, opts(1, 1, 1, 0))
	if p.Write[0].Result != catalog.StateChanged || p.Write[1].Result != catalog.Replaced || op.Revived.Count != 1 || op.Replaced.Count != 1 {
		t.Fatalf("results %v %v, operation %+v", p.Write[0].Result, p.Write[1].Result, op)
	}
	eqStrings(t, "moved", tc2.state(t).Moved, nil)
}

// TestDryRunMatchesRun: at each step the dry run's plan is exactly what Run
// then does, and the dry run leaves the catalog file untouched.
func TestDryRunMatchesRun(t *testing.T) {
	tc := newCatalog(t, t0)
	tc.put(t, catalog.Live, aptosTestFiles()...)
	tc.put(t, catalog.Moved, file{"metadata/epoch_ending_compacted_0-1.meta", []aptos.Metadata{ep(0, 0), ep(1, 1)}})
	o := opts(2, 2, 2, 10*time.Second)
	steps := []struct {
		name string
		at   int64
		add  []file
	}{
		{"first run, one moved compacted file revived", t0, nil},
		{"same instant: timestamps file replaced", t0, nil},
		{"same instant again: no-op", t0, nil},
		{"new arrivals", t0 + 5, []file{single(txn(30, 44)), single(ss(3, 44))}},
		{"expiry", t0 + 11, nil},
		{"expiry of the rest", t0 + 16, nil},
	}
	for _, st := range steps {
		tc.clock.set(st.at)
		if len(st.add) > 0 {
			tc.put(t, catalog.Live, st.add...)
		}
		raw := tc.bytes(t)
		dry, err := compaction.DryRun(t.Context(), tc.db, o)
		if err != nil {
			t.Fatalf("%s: dry run: %v", st.name, err)
		}
		mustEqualBytes(t, st.name+": catalog after the dry run", tc.bytes(t), raw)
		p, _ := tc.run(t, o)
		// The dry run's contents are what Run wrote (Run's plan carries
		// none: it builds each file while writing it).
		for i := range dry.Write {
			mustEqualBytes(t, st.name+": "+dry.Write[i].Handle, tc.content(t, dry.Write[i].Handle), dry.Write[i].Content)
			dry.Write[i].Content = nil
		}
		if !reflect.DeepEqual(dry, p) {
			t.Fatalf("%s: dry run plan\n%+v\nrun plan\n%+v", st.name, dry, p)
		}
	}
}

// TestBadOptions: ErrFactor before anything is touched (a nil DB is never
// dereferenced).
func TestBadOptions(t *testing.T) {
	for _, o := range []compaction.Options{opts(0, 1, 1, 0), opts(1, 0, 1, 0), opts(1, 1, -3, 0), opts(1, 1, 1, -1)} {
		if _, _, err := compaction.Run(t.Context(), nil, o); !errors.Is(err, compaction.ErrFactor) {
			t.Fatalf("Run(%+v) = %v, want ErrFactor", o, err)
		}
		if _, err := compaction.DryRun(t.Context(), nil, o); !errors.Is(err, compaction.ErrFactor) {
			t.Fatalf("DryRun(%+v) = %v, want ErrFactor", o, err)
		}
	}
}

func TestCanceled(t *testing.T) {
	tc := newCatalog(t, t0)
	tc.put(t, catalog.Live, aptosTestFiles()...)
	raw := tc.bytes(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := compaction.Run(ctx, tc.db, compaction.DefaultOptions()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	mustEqualBytes(t, "catalog file", tc.bytes(t), raw)
}

// TestEmptyCatalog: where Aptos writes a timestamps file with an empty
// map into a storage with no entries, metactl writes nothing: there is
// nothing to compact or timestamp (issue 8), and an empty catalog pointed
// at the wrong storage must not leave a file there.
func TestEmptyCatalog(t *testing.T) {
	tc := newCatalog(t, t0)
	raw := tc.bytes(t)
	p, op := tc.run(t, compaction.DefaultOptions())
	if len(p.Write) != 0 || p.TimestampsFile != "" || len(p.TimestampsLine) != 0 || op.Changed() {
		t.Fatalf("plan %+v, operation %+v", p, op)
	}
	mustEqualBytes(t, "catalog file", tc.bytes(t), raw)
}

// TestChunksUnderOneNameMerge: where Aptos would write two chunks under
// one compacted name (several snapshots of one epoch across a chunk
// boundary; one range with two manifests and factor 1) and so lose one
// chunk's entries, metactl writes one file holding both: the run
// succeeds, the file holds every entry in order, the view digest is
// unchanged, and a later run (the originals moved) still loses nothing.
func TestChunksUnderOneNameMerge(t *testing.T) {
	tests := []struct {
		name   string
		files  []file
		opts   compaction.Options
		handle string
		lines  []aptos.Metadata
	}{
		{"snapshots of one epoch across a chunk boundary",
			[]file{single(ss(5, 100)), single(ss(5, 101)), single(ss(5, 102))}, opts(1, 2, 1, 0),
			"metadata/state_snapshot_compacted_epoch_5_5.meta", []aptos.Metadata{ss(5, 100), ss(5, 101), ss(5, 102)}},
		{"snapshots of one epoch, S=1",
			[]file{single(ss(0, 0)), single(ss(5, 100)), single(ss(5, 101))}, opts(1, 1, 1, 0),
			"metadata/state_snapshot_compacted_epoch_5_5.meta", []aptos.Metadata{ss(5, 100), ss(5, 101)}},
		{"same epoch range, different manifests, E=1",
			[]file{single(epm(0, 0, "a/m")), {"metadata/epoch_ending_0-0.retry.meta", []aptos.Metadata{epm(0, 0, "b/m")}}}, opts(1, 1, 1, 0),
			"metadata/epoch_ending_compacted_0-0.meta", []aptos.Metadata{epm(0, 0, "a/m"), epm(0, 0, "b/m")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := newCatalog(t, t0)
			tc.put(t, catalog.Live, tt.files...)
			before := tc.state(t)
			p, _ := tc.run(t, tt.opts)
			var merged *compaction.PlannedFile
			for i := range p.Write {
				if p.Write[i].Handle == tt.handle {
					merged = &p.Write[i]
				}
			}
			if merged == nil || merged.Chunks != 2 || merged.Lines != len(tt.lines) {
				t.Fatalf("plan writes %q; merged file %+v", writes(p), merged)
			}
			got := tc.content(t, tt.handle)
			want := catalogtest.Content(tt.lines...)
			mustEqualBytes(t, tt.handle, got, want)
			sameView(t, before, tc.state(t))
			// A day later the originals move; every entry is still live.
			tc.clock.set(t0 + 86401)
			p2, _ := tc.run(t, opts(1, 1, 1, 0))
			if len(p2.Move) == 0 {
				t.Fatalf("nothing moved a day later")
			}
			sameView(t, before, tc.state(t))
		})
	}
}
