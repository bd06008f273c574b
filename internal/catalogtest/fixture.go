package catalogtest

import (
	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
)

// File is a metadata file to put in a test catalog.
type File struct {
	// Name is the file's name under metadata/, as
	// "transaction_0-14.meta"; its handle is aptos.LiveHandle(Name).
	Name string
	// State is the state the file is put in: catalog.Live or
	// catalog.Moved.
	State catalog.State
	// Lines are the entries the file holds, one line each.
	Lines []aptos.Metadata
}

// Handle returns the file's catalog handle ("metadata/" + Name).
func (f File) Handle() string { return aptos.LiveHandle(f.Name) }

// Content returns the file's content: its lines, each encoded as Aptos
// writes it.
func (f File) Content() []byte { return Content(f.Lines...) }

// NewFile returns what the catalog's PutFile takes to store f, with the
// given source label.
func (f File) NewFile(source string) catalog.NewFile {
	return catalog.NewFile{Handle: f.Handle(), Content: f.Content(), State: f.State, Source: source}
}

// Content returns the content of a metadata file holding lines, in order.
func Content(lines ...aptos.Metadata) []byte {
	var b []byte
	for i := range lines {
		b = append(b, aptos.EncodeLine(&lines[i])...)
	}
	return b
}

// EpochEnding returns an epoch-ending entry.
func EpochEnding(first, last, firstVersion, lastVersion uint64, manifest string) aptos.Metadata {
	return aptos.NewEpochEnding(aptos.EpochEndingBackup{FirstEpoch: first, LastEpoch: last, FirstVersion: firstVersion, LastVersion: lastVersion, Manifest: manifest})
}

// Transaction returns a transaction entry.
func Transaction(first, last uint64, manifest string) aptos.Metadata {
	return aptos.NewTransaction(aptos.TransactionBackup{FirstVersion: first, LastVersion: last, Manifest: manifest})
}

// StateSnapshot returns a state-snapshot entry.
func StateSnapshot(epoch, version uint64, manifest string) aptos.Metadata {
	return aptos.NewStateSnapshot(aptos.StateSnapshotBackup{Epoch: epoch, Version: version, Manifest: manifest})
}

// U64p returns a pointer to v, as compaction timestamps hold them.
func U64p(v uint64) *uint64 { return &v }

// CompactedStorage returns a new copy of a small storage after an Aptos
// compaction with factor 2 whose originals have expired: an identity, the
// compacted files and a state snapshot live, the originals moved, and a
// compaction timestamps file. In handle order:
//
//	0 compaction_timestamps_1700000000.meta  live
//	1 epoch_ending_0-0.meta                  moved
//	2 epoch_ending_1-1.meta                  moved
//	3 epoch_ending_compacted_0-1.meta        live
//	4 identity.meta                          live
//	5 state_snapshot_ver_14.meta             live
//	6 transaction_0-14.meta                  moved
//	7 transaction_15-29.meta                 moved
//	8 transaction_compacted_0-29.meta        live
//
// The slice itself is in another order (identity first, the timestamps
// file last), which tests index into.
func CompactedStorage() []File {
	var id aptos.HashValue
	for i := range id {
		id[i] = byte(i * 7)
	}
	e0 := EpochEnding(0, 0, 0, 0, "epoch_ending_0-.a1b2/epoch_ending.manifest")
	e1 := EpochEnding(1, 1, 1, 14, "epoch_ending_1-.00ff/epoch_ending.manifest")
	t0 := Transaction(0, 14, "transaction_0-.3c4d/transaction.manifest")
	t1 := Transaction(15, 29, "transaction_15-.9e8f/transaction.manifest")
	s1 := StateSnapshot(1, 14, "state_epoch_1_ver_14.77aa/state.manifest")
	return []File{
		{Name: "identity.meta", State: catalog.Live, Lines: []aptos.Metadata{aptos.NewIdentity(id)}},
		{Name: "epoch_ending_0-0.meta", State: catalog.Moved, Lines: []aptos.Metadata{e0}},
		{Name: "epoch_ending_1-1.meta", State: catalog.Moved, Lines: []aptos.Metadata{e1}},
		{Name: "epoch_ending_compacted_0-1.meta", State: catalog.Live, Lines: []aptos.Metadata{e0, e1}},
		{Name: "transaction_0-14.meta", State: catalog.Moved, Lines: []aptos.Metadata{t0}},
		{Name: "transaction_15-29.meta", State: catalog.Moved, Lines: []aptos.Metadata{t1}},
		{Name: "transaction_compacted_0-29.meta", State: catalog.Live, Lines: []aptos.Metadata{t0, t1}},
		{Name: "state_snapshot_ver_14.meta", State: catalog.Live, Lines: []aptos.Metadata{s1}},
		{Name: "compaction_timestamps_1700000000.meta", State: catalog.Live, Lines: []aptos.Metadata{aptos.NewCompactionTimestamps(aptos.CompactionTimestamps{
			FileCompactedAt: 1700000000,
			Timestamps: map[string]*uint64{
				"metadata/identity.meta":              nil,
				"metadata/state_snapshot_ver_14.meta": U64p(1700000000),
			},
		})}},
	}
}
