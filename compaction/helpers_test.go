package compaction_test

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/compaction"
	"github.com/metactl/metactl/internal/catalogtest"
)

// clock is an injected catalog clock, in Unix seconds.
type clock struct{ secs atomic.Int64 }

func newClock(secs int64) *clock { c := &clock{}; c.secs.Store(secs); return c }

func (c *clock) set(secs int64) { c.secs.Store(secs) }
func (c *clock) now() time.Time { return time.Unix(c.secs.Load(), 0) }
func (c *clock) u64() uint64    { return uint64(c.secs.Load()) }

// testCatalog is a real bbolt catalog (catalogtest) with an injected
// clock, reopened in place when a test needs to (tc.open).
type testCatalog struct {
	path  string
	db    catalog.DB // nil while closed: a child process holds the catalog
	clock *clock
	// checkpoint is catalogtest.Options.CheckpointBytes.
	checkpoint int
}

func newCatalog(t *testing.T, secs int64) *testCatalog {
	t.Helper()
	return openTestCatalog(t, filepath.Join(t.TempDir(), "catalog.db"), secs)
}

// openTestCatalog opens (creating) the catalog at path with a clock at
// secs. Cleanup checks bbolt's consistency and that the entry index and
// digest agree with the live files (catalogtest.Verify), then closes it,
// unless the test left it closed (tc.db nil).
func openTestCatalog(t *testing.T, path string, secs int64) *testCatalog {
	t.Helper()
	return openTestCatalogWith(t, path, secs, 0)
}

// openTestCatalogWith is openTestCatalog with catalog.Options.CheckpointBytes
// (bulk writes).
func openTestCatalogWith(t *testing.T, path string, secs int64, checkpoint int) *testCatalog {
	t.Helper()
	tc := &testCatalog{path: path, clock: newClock(secs), checkpoint: checkpoint}
	tc.open(t)
	t.Cleanup(func() {
		if tc.db == nil {
			return
		}
		catalogtest.Verify(t, tc.db)
		tc.db.Close()
	})
	return tc
}

func (tc *testCatalog) open(t *testing.T) {
	t.Helper()
	tc.db = catalogtest.OpenManual(t, catalogtest.Options{Path: tc.path, Command: "compaction test", Now: tc.clock.now,
		CheckpointBytes: tc.checkpoint})
}

// file is a metadata file to put.
type file struct {
	handle string
	lines  []aptos.Metadata
}

// single returns the file Aptos's backup coordinator writes for m.
func single(m aptos.Metadata) file {
	return file{aptos.LiveHandle(m.Name()), []aptos.Metadata{m}}
}

func (tc *testCatalog) put(t *testing.T, state catalog.State, files ...file) {
	t.Helper()
	nfs := make([]catalog.NewFile, len(files))
	for i, f := range files {
		nfs[i] = catalog.NewFile{Handle: f.handle, Content: catalogtest.Content(f.lines...), State: state, Source: catalogtest.Source}
	}
	catalogtest.PutNew(t, tc.db, nfs...)
}

func (tc *testCatalog) run(t *testing.T, opts compaction.Options) (*compaction.Plan, *catalog.Operation) {
	t.Helper()
	p, op, err := compaction.Run(t.Context(), tc.db, opts)
	if err != nil {
		t.Fatalf("compact at %d: %v", tc.clock.u64(), err)
	}
	return p, op
}

func (tc *testCatalog) content(t *testing.T, handle string) []byte {
	t.Helper()
	var b []byte
	err := tc.db.View(t.Context(), func(tx catalog.Tx) error {
		f, err := tx.File(handle)
		if err != nil {
			return err
		}
		b = f.Content
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bytes returns the catalog file's bytes.
func (tc *testCatalog) bytes(t *testing.T) []byte {
	t.Helper()
	return catalogtest.Bytes(t, tc.db)
}

// state is what a test compares before and after a compaction.
type state struct {
	Gen   uint64
	Live  []string
	Moved []string
	view
}

// view is everything a reader of the view sees.
type view struct {
	Digest    aptos.Digest
	Entries   *aptos.View // Timestamps cleared: compaction changes it by design
	Storage   string
	Txns      []aptos.TransactionBackup
	TxnErr    string
	Epochs    []aptos.EpochEndingBackup
	EpochErr  string
	Snapshot  aptos.StateSnapshotBackup
	HasSnap   bool
	Identity  string
	Timestamp *aptos.CompactionTimestamps
}

func (tc *testCatalog) state(t *testing.T) state {
	t.Helper()
	var s state
	err := tc.db.View(t.Context(), func(tx catalog.Tx) error {
		s.Gen, s.Digest = tx.Generation(), tx.ViewDigest()
		files, err := tx.Files(0)
		if err != nil {
			return err
		}
		for _, f := range files {
			if f.State == catalog.Live {
				s.Live = append(s.Live, f.Handle)
			} else {
				s.Moved = append(s.Moved, f.Handle)
			}
		}
		v, err := tx.View()
		if err != nil {
			return err
		}
		s.Timestamp, v.Timestamps = v.Timestamps, nil
		if v.Identity != nil {
			s.Identity = v.Identity.String()
		}
		s.Entries, s.Storage = v, v.StorageState().String()
		s.Txns, err = v.SelectTransactionBackups(0, math.MaxUint64)
		if err != nil {
			s.TxnErr = err.Error()
		}
		s.Epochs, err = v.SelectEpochEndingBackups(math.MaxUint64)
		if err != nil {
			s.EpochErr = err.Error()
		}
		s.Snapshot, s.HasSnap = v.SelectStateSnapshot(math.MaxUint64)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sameView fails unless a and b give a reader the same answers (the
// latest timestamps entry aside).
func sameView(t *testing.T, a, b state) {
	t.Helper()
	a.Timestamp, b.Timestamp = nil, nil
	if !reflect.DeepEqual(a.view, b.view) {
		t.Fatalf("view changed:\nbefore %+v\nafter  %+v", a.view, b.view)
	}
}

// Entry constructors. Manifests look like the controllers' backup names.
func ep(first, last uint64) aptos.Metadata {
	return aptos.NewEpochEnding(aptos.EpochEndingBackup{FirstEpoch: first, LastEpoch: last,
		FirstVersion: first * 10, LastVersion: last*10 + 9, Manifest: fmt.Sprintf("epoch_ending_%d-.a1b2/epoch_ending.manifest", first)})
}

func epm(first, last uint64, manifest string) aptos.Metadata {
	m := ep(first, last)
	m.EpochEnding.Manifest = manifest
	return m
}

func ss(epoch, version uint64) aptos.Metadata {
	return aptos.NewStateSnapshot(aptos.StateSnapshotBackup{Epoch: epoch, Version: version,
		Manifest: fmt.Sprintf("state_epoch_%d_ver_%d.c3d4/state.manifest", epoch, version)})
}

func txn(first, last uint64) aptos.Metadata {
	return aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: first, LastVersion: last,
		Manifest: fmt.Sprintf("transaction_%d-.e5f6/transaction.manifest", first)})
}

func txnm(first, last uint64, manifest string) aptos.Metadata {
	m := txn(first, last)
	m.Transaction.Manifest = manifest
	return m
}

func identity() aptos.Metadata {
	var id aptos.HashValue
	for i := range id {
		id[i] = byte(i + 1)
	}
	return aptos.NewIdentity(id)
}

func opts(e, s, tr int, r time.Duration) compaction.Options {
	return compaction.Options{EpochEndingFactor: e, StateSnapshotFactor: s, TransactionFactor: tr, RemoveCompactedFileAfter: r}
}

func writes(p *compaction.Plan) []string {
	var hs []string
	for _, w := range p.Write {
		hs = append(hs, w.Handle)
	}
	return hs
}

func stamped(p *compaction.Plan) map[string]uint64 {
	m := map[string]uint64{}
	for _, s := range p.Timestamped {
		m[s.Handle] = s.At
	}
	return m
}

func md(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = aptos.LiveHandle(n)
	}
	return out
}

func tsName(secs uint64) string { return fmt.Sprintf("compaction_timestamps_%d.meta", secs) }

func eqStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

func mustEqualBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}
