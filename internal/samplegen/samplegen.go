// Package samplegen builds deterministic, realistic Aptos backup storages:
// the metadata folder that Aptos's continuous backup coordinator
// (coordinators/backup.rs) leaves behind on a LocalFs storage, or, with
// Options.Gzip, the bucket-style variant whose .meta objects hold gzip bytes
// (docs/aptos-format.md §1.2, §1.3).
//
// The modelled chain has Options.Epochs ended epochs, 0 .. Epochs-1. Epoch 0
// is genesis and ends at version 0; every later epoch holds
// VersionsPerEpoch ± 20% versions (drawn from the seeded RNG). The storage is
// observed at the instant the last epoch ended, so the node's DbState is
// {epoch: Epochs, committed_version: <last version of epoch Epochs-1>} and the
// coordinator has caught up with it:
//
//   - one epoch-ending file per ended epoch, epoch_ending_<e>-<e>.meta, with
//     first_version = last_version = the version of that epoch's ending
//     LedgerInfo (get_batch_range with batch size 1);
//   - one state snapshot per SnapshotIntervalEpochs ended epochs, starting at
//     epoch 0, state_snapshot_ver_<v>.meta, at the epoch's ending version;
//   - transactions batched like get_batch_range: transaction_0-0.meta, then
//     first = n+1, last = (n/B+1)*B. The coordinator only writes a batch
//     once committed_version >= last, so the last batch ends at the largest
//     multiple of TxnBatch not above the last epoch's version (or at 0), and
//     the tail above it (fewer than TxnBatch versions) is not backed up yet;
//   - identity.meta, when Options.Identity is set (sync_and_load writes it
//     when it finds an empty storage).
//
// Manifest handles use the controllers' backup names plus a 4-hex-digit
// random suffix (docs/aptos-format.md §2.3). Every file holds exactly one line
// written by [aptos.EncodeLine].
//
// Output depends only on Options. Each kind of random value comes from its
// own PCG stream seeded from Options.Seed, so a storage with more epochs
// contains every file of a storage with fewer (same seed and other options)
// byte for byte.
package samplegen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/storage"
	"golang.org/x/sync/errgroup"
)

// Defaults used for zero-valued fields of Options.
const (
	// DefaultVersionsPerEpoch is the mean number of versions in an epoch:
	// about a 2-hour epoch at a few hundred transactions per second.
	DefaultVersionsPerEpoch uint64 = 2_500_000
	// DefaultTxnBatch is db-tool's default --transaction-batch-size.
	DefaultTxnBatch uint64 = 1_000_000
	// DefaultSnapshotIntervalEpochs takes a state snapshot at every epoch.
	// The helm chart uses 2.
	DefaultSnapshotIntervalEpochs = 1
	// DefaultSeed is the seed DefaultOptions and metactl-gen use.
	DefaultSeed int64 = 1
)

// ErrNotEmpty is returned by Generate when <dir>/metadata already holds
// entries.
var ErrNotEmpty = errors.New("metadata folder is not empty")

// Options describes the storage to generate. Zero numeric fields take the
// defaults above; note that the zero Options has Identity false, while
// DefaultOptions sets it.
type Options struct {
	// Epochs is the number of ended epochs (0 .. Epochs-1). Zero gives a
	// storage holding at most identity.meta.
	Epochs int
	// VersionsPerEpoch is the mean length of epochs after genesis, in
	// versions; each epoch's length is drawn uniformly from
	// [V - V/5, V + V/5].
	VersionsPerEpoch uint64
	// TxnBatch is the coordinator's transaction batch size B.
	TxnBatch uint64
	// SnapshotIntervalEpochs takes a state snapshot at every epoch that is a
	// multiple of it.
	SnapshotIntervalEpochs int
	// Seed seeds every random choice (epoch lengths, manifest suffixes,
	// identity).
	Seed int64
	// Gzip writes each file as gzip bytes under its .meta name, as the
	// sample command-adapter configs leave them in a bucket (gzip -c),
	// written by storage.Gzipper, the writer 'metactl export --gzip' uses,
	// so a
	// generated gzip storage round-trips through import and export byte for
	// byte. Readers only decompress it.
	Gzip bool
	// Identity writes identity.meta with a 32-byte id drawn from Seed.
	Identity bool
}

// DefaultOptions returns the options of a realistic storage with n epochs:
// every default, seed DefaultSeed, with identity.meta.
func DefaultOptions(epochs int) Options {
	return Options{
		Epochs:                 epochs,
		VersionsPerEpoch:       DefaultVersionsPerEpoch,
		TxnBatch:               DefaultTxnBatch,
		SnapshotIntervalEpochs: DefaultSnapshotIntervalEpochs,
		Seed:                   DefaultSeed,
		Identity:               true,
	}
}

// withDefaults returns o with zero numeric fields replaced by defaults.
func (o Options) withDefaults() Options {
	if o.VersionsPerEpoch == 0 {
		o.VersionsPerEpoch = DefaultVersionsPerEpoch
	}
	if o.TxnBatch == 0 {
		o.TxnBatch = DefaultTxnBatch
	}
	if o.SnapshotIntervalEpochs == 0 {
		o.SnapshotIntervalEpochs = DefaultSnapshotIntervalEpochs
	}
	return o
}

// Validate reports options Files and Generate cannot honour.
func (o Options) Validate() error {
	o = o.withDefaults()
	if o.Epochs < 0 {
		return fmt.Errorf("samplegen: epochs must not be negative, got %d", o.Epochs)
	}
	if o.SnapshotIntervalEpochs < 0 {
		return fmt.Errorf("samplegen: snapshot interval must not be negative, got %d", o.SnapshotIntervalEpochs)
	}
	// The last version is at most (Epochs-1) * (V + V/5); it must fit in a
	// u64, and so must the batch after it.
	maxLen := o.VersionsPerEpoch + o.VersionsPerEpoch/5
	if maxLen < o.VersionsPerEpoch {
		return fmt.Errorf("samplegen: versions per epoch %d is too large", o.VersionsPerEpoch)
	}
	hi, lo := bits.Mul64(uint64(max(o.Epochs, 1)), maxLen)
	if hi != 0 || lo > ^uint64(0)-o.TxnBatch {
		return fmt.Errorf("samplegen: %d epochs of %d versions overflow a u64 version", o.Epochs, o.VersionsPerEpoch)
	}
	return nil
}

// File is one metadata file: its name inside the metadata folder and its
// bytes (gzip bytes when Options.Gzip is set).
type File struct {
	Name    string
	Content []byte
}

// Stats describes a generated storage.
type Stats struct {
	// Dir is the folder the files were written to (Generate only).
	Dir string `json:"dir,omitempty"`
	// Files and Lines count metadata files and JSON lines; every file holds
	// one line.
	Files int `json:"files"`
	Lines int `json:"lines"`
	// Bytes is the total size of the files as stored (compressed when
	// Gzip).
	Bytes int64 `json:"bytes"`
	Gzip  bool  `json:"gzip"`

	EpochEndings   int `json:"epoch_endings"`
	StateSnapshots int `json:"state_snapshots"`
	Transactions   int `json:"transactions"`
	// Identity is the hex id in identity.meta, or "" without one.
	Identity string `json:"identity,omitempty"`

	// The fields below are meaningful only when the matching count above
	// is non-zero.

	// LastEpoch and LastEpochVersion are the last ended epoch and the
	// version of its ending LedgerInfo (the node's committed version).
	LastEpoch        uint64 `json:"last_epoch"`
	LastEpochVersion uint64 `json:"last_epoch_version"`
	// LastSnapshotEpoch and LastSnapshotVersion locate the newest snapshot.
	LastSnapshotEpoch   uint64 `json:"last_snapshot_epoch"`
	LastSnapshotVersion uint64 `json:"last_snapshot_version"`
	// LastTransactionVersion is the last_version of the last transaction
	// batch: a multiple of TxnBatch, or 0.
	LastTransactionVersion uint64 `json:"last_transaction_version"`
}

// Files returns the storage described by opts as files sorted by name,
// without touching the disk. It panics if opts.Validate fails. The contents
// of large storages share a few big buffers; each Content has its capacity
// clipped to its length, so appending to one never disturbs another.
func Files(opts Options) []File {
	files, _ := build(opts)
	return files
}

// Entries returns the lines of Files(opts), in the same order, as decoded
// values. Meant for small storages in tests.
func Entries(opts Options) []aptos.Metadata {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	type named struct {
		name string
		m    aptos.Metadata
	}
	var all []named
	walk(opts.withDefaults(), func(m *aptos.Metadata) {
		all = append(all, named{m.Name(), *m})
	})
	slices.SortFunc(all, func(a, b named) int { return strings.Compare(a.name, b.name) })
	out := make([]aptos.Metadata, len(all))
	for i := range all {
		out[i] = all[i].m
	}
	return out
}

// Stat returns the Stats Generate would report for opts, without building
// the files. Bytes is left zero.
func Stat(opts Options) (Stats, error) {
	if err := opts.Validate(); err != nil {
		return Stats{}, err
	}
	var st Stats
	st.Gzip = opts.Gzip
	walk(opts.withDefaults(), st.add)
	return st, nil
}

// Generate writes the storage described by opts into dir/metadata, creating
// the folders as needed. It refuses (ErrNotEmpty) a metadata folder that
// already has entries, and creates every file exclusively.
func Generate(dir string, opts Options) (Stats, error) {
	if err := opts.Validate(); err != nil {
		return Stats{}, err
	}
	meta := filepath.Join(dir, aptos.MetadataDir)
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return Stats{}, err
	}
	ents, err := os.ReadDir(meta)
	if err != nil {
		return Stats{}, err
	}
	if len(ents) > 0 {
		return Stats{}, fmt.Errorf("samplegen: refusing to write into %s: %w (%d entries, e.g. %s)", meta, ErrNotEmpty, len(ents), ents[0].Name())
	}
	files, st := build(opts)
	st.Dir = dir
	for _, f := range files {
		if err := writeNew(filepath.Join(meta, f.Name), f.Content); err != nil {
			return Stats{}, err
		}
	}
	return st, nil
}

func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("samplegen: %s: %w", path, ErrNotEmpty)
		}
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (st *Stats) add(m *aptos.Metadata) {
	st.Files++
	st.Lines++
	switch m.Kind {
	case aptos.KindEpochEnding:
		st.EpochEndings++
		st.LastEpoch = m.EpochEnding.LastEpoch
		st.LastEpochVersion = m.EpochEnding.LastVersion
	case aptos.KindStateSnapshot:
		st.StateSnapshots++
		st.LastSnapshotEpoch = m.StateSnapshot.Epoch
		st.LastSnapshotVersion = m.StateSnapshot.Version
	case aptos.KindTransaction:
		st.Transactions++
		st.LastTransactionVersion = m.Transaction.LastVersion
	case aptos.KindIdentity:
		st.Identity = m.Identity.ID.String()
	}
}

// build returns the sorted files and their stats.
func build(opts Options) ([]File, Stats) {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	o := opts.withDefaults()
	st := Stats{Gzip: o.Gzip}
	files := make([]File, 0, estimateLines(o))
	var ar arena
	walk(o, func(m *aptos.Metadata) {
		st.add(m)
		files = append(files, File{Name: m.Name(), Content: ar.copy(aptos.EncodeLine(m))})
	})
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	if o.Gzip {
		compressAll(files)
	}
	for _, f := range files {
		st.Bytes += int64(len(f.Content))
	}
	return files, st
}

// compressAll replaces every Content by its gzip form. Each file is
// compressed on its own, so splitting the work between goroutines does not
// change the bytes. The pool is errgroup with a limit, as in importer and
// export; compression cannot fail, so Wait's error is always nil.
func compressAll(files []File) {
	workers := min(runtime.GOMAXPROCS(0), len(files)/1024+1)
	per := (len(files) + workers - 1) / workers
	var g errgroup.Group
	g.SetLimit(workers)
	for lo := 0; lo < len(files); lo += per {
		part := files[lo:min(lo+per, len(files))]
		g.Go(func() error {
			var gz storage.Gzipper
			var ar arena
			for i := range part {
				part[i].Content = ar.copy(gz.Compress(part[i].Content))
			}
			return nil
		})
	}
	_ = g.Wait()
}

func estimateLines(o Options) int {
	if o.Epochs <= 0 {
		return 1
	}
	n := uint64(o.Epochs)
	txns := n*o.VersionsPerEpoch/o.TxnBatch + 2
	return int(n + n/uint64(o.SnapshotIntervalEpochs) + txns + 2)
}

// PCG stream selectors: one independent stream per kind of random value, so
// adding epochs never shifts earlier values.
const (
	streamIdentity      = 0x6964656e74697479 // "identity"
	streamEpochLength   = 0x65706f63686c656e // "epochlen"
	streamEpochSuffix   = 0x65706f6368736678 // "epochsfx"
	streamStateSuffix   = 0x7374617465736678 // "statesfx"
	streamTxnSuffix     = 0x74786e2d73667821 // "txn-sfx!"
	suffixHexDigits     = 4
	jitterDivisor       = 5 // epoch lengths vary by ±V/5
	epochEndingManifest = "epoch_ending.manifest"
	stateManifest       = "state.manifest"
	txnManifest         = "transaction.manifest"
)

func stream(seed int64, sel uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), sel))
}

// handle returns "<backupName>.<xxxx>/<file>", the handle the LocalFs
// create_for_write gives a manifest in a backup created by
// create_backup_with_random_suffix.
func handle(dst []byte, backupName []byte, r *rand.Rand, file string) string {
	dst = append(dst[:0], backupName...)
	dst = append(dst, '.')
	s := uint16(r.Uint32())
	for i := suffixHexDigits - 1; i >= 0; i-- {
		dst = append(dst, "0123456789abcdef"[s>>(4*i)&0xf])
	}
	dst = append(dst, '/')
	dst = append(dst, file...)
	return string(dst)
}

// getBatchRange is the coordinator's get_batch_range: the next batch after
// last (nil: nothing backed up yet) for batch size b.
func getBatchRange(last *uint64, b uint64) (first, end uint64) {
	if last == nil {
		return 0, 0
	}
	n := *last
	return n + 1, (n/b + 1) * b
}

// walk calls emit for every line of the storage, grouped by kind. The
// *Metadata is reused between calls.
func walk(o Options, emit func(*aptos.Metadata)) {
	var m aptos.Metadata
	if o.Identity {
		r := stream(o.Seed, streamIdentity)
		var id aptos.HashValue
		for i := 0; i < len(id); i += 8 {
			binary.LittleEndian.PutUint64(id[i:], r.Uint64())
		}
		m = aptos.NewIdentity(id)
		emit(&m)
	}
	if o.Epochs <= 0 {
		return
	}

	lenR := stream(o.Seed, streamEpochLength)
	epochR := stream(o.Seed, streamEpochSuffix)
	stateR := stream(o.Seed, streamStateSuffix)
	jitter := o.VersionsPerEpoch / jitterDivisor
	interval := uint64(o.SnapshotIntervalEpochs)
	var name, buf []byte
	var v uint64 // ending version of the current epoch
	for e := uint64(0); e < uint64(o.Epochs); e++ {
		if e > 0 {
			v += o.VersionsPerEpoch - jitter + lenR.Uint64N(2*jitter+1)
		}
		name = strconv.AppendUint(append(name[:0], "epoch_ending_"...), e, 10)
		name = append(name, '-')
		m = aptos.NewEpochEnding(aptos.EpochEndingBackup{
			FirstEpoch: e, LastEpoch: e, FirstVersion: v, LastVersion: v,
			Manifest: handle(buf, name, epochR, epochEndingManifest),
		})
		emit(&m)
		if e%interval == 0 {
			name = strconv.AppendUint(append(name[:0], "state_epoch_"...), e, 10)
			name = strconv.AppendUint(append(name, "_ver_"...), v, 10)
			m = aptos.NewStateSnapshot(aptos.StateSnapshotBackup{
				Epoch: e, Version: v,
				Manifest: handle(buf, name, stateR, stateManifest),
			})
			emit(&m)
		}
	}

	// The node's committed version is v; back up every full batch.
	txnR := stream(o.Seed, streamTxnSuffix)
	var last *uint64
	for {
		first, end := getBatchRange(last, o.TxnBatch)
		if v < end {
			break
		}
		name = strconv.AppendUint(append(name[:0], "transaction_"...), first, 10)
		name = append(name, '-')
		m = aptos.NewTransaction(aptos.TransactionBackup{
			FirstVersion: first, LastVersion: end,
			Manifest: handle(buf, name, txnR, txnManifest),
		})
		emit(&m)
		last = &end
	}
}

// arena hands out copies of small byte slices carved from shared chunks.
type arena struct{ chunk []byte }

const arenaChunk = 1 << 20

func (a *arena) copy(b []byte) []byte {
	if len(b) > arenaChunk/8 {
		return bytes.Clone(b)
	}
	if cap(a.chunk)-len(a.chunk) < len(b) {
		a.chunk = make([]byte, 0, arenaChunk)
	}
	start := len(a.chunk)
	a.chunk = append(a.chunk, b...)
	return a.chunk[start:len(a.chunk):len(a.chunk)]
}
