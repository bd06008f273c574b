package archive

import (
	"cmp"
	"fmt"
	"io"

	"github.com/metactl/metactl/aptos"
)

// State is what 'metactl status' reports about an archive.
type State struct {
	// Header is the archive's header (generation, identity, view digest,
	// entry count).
	Header Header
	// StorageState is the BackupStorageState of the archive's live files.
	StorageState aptos.StorageState
	// LiveFiles and MovedFiles count the archive's files by state.
	LiveFiles, MovedFiles int
}

// ReadState decodes and verifies the archive in r in one streaming pass and
// returns its storage state and file counts, without building a catalog:
// memory stays bounded (a few MiB of records in flight, plus the largest
// file), whatever the archive's size (unpacking a 200,000-file archive
// into a temporary catalog took seconds and most of a gigabyte). Live
// files are parsed on a second goroutine while the stream is verified.
// It returns an error wrapping [ErrBadArchive] for any archive [Read]
// refuses, and for a live file whose content does not parse; of two
// problems, the one nearer the start of the archive.
func ReadState(r io.Reader) (*State, error) {
	rd, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	st := &State{}
	var acc stateAcc
	batches := make(chan []*FileRecord, 2)
	parsed := make(chan error, 1)
	go func() {
		var err error
		for b := range batches {
			if err == nil {
				err = acc.add(b)
			}
		}
		parsed <- err
	}()
	var batch []*FileRecord
	size := 0
	for {
		f, err := rd.Next()
		if err != nil {
			batches <- batch
			close(batches)
			// A parse error is about a file before the one Next failed on.
			if perr := <-parsed; perr != nil {
				return nil, perr
			}
			if err != io.EOF {
				return nil, err
			}
			break
		}
		if f.State == Moved {
			st.MovedFiles++
			continue
		}
		st.LiveFiles++
		batch = append(batch, f)
		if size += len(f.Content); len(batch) == stateBatch || size >= stateBatchBytes {
			batches <- batch
			batch, size = nil, 0
		}
	}
	st.StorageState = acc.state()
	st.Header = *rd.Header()
	return st, nil
}

// Batches of live files handed to ReadState's parser: at most stateBatch
// files or about stateBatchBytes of content each, three batches at most
// in flight.
const (
	stateBatch      = 256
	stateBatchBytes = 1 << 20
)

// stateAcc computes a BackupStorageState from live files in any order.
type stateAcc struct {
	s    aptos.StorageState
	snap *aptos.StateSnapshotBackup
}

// add parses the files and folds their lines in.
func (a *stateAcc) add(files []*FileRecord) error {
	s := &a.s
	for _, f := range files {
		lines, err := aptos.ParseFile(f.Content)
		if err != nil {
			return &BadArchiveError{Reason: fmt.Sprintf("file %q", f.Handle), Err: err}
		}
		for i := range lines {
			m := &lines[i]
			switch m.Kind {
			case aptos.KindEpochEnding:
				if s.LatestEpochEndingEpoch == nil || m.EpochEnding.LastEpoch > *s.LatestEpochEndingEpoch {
					v := m.EpochEnding.LastEpoch
					s.LatestEpochEndingEpoch = &v
				}
			case aptos.KindStateSnapshot:
				// Aptos picks the greatest (epoch, version, manifest).
				if c := m.StateSnapshot; a.snap == nil || cmp.Or(cmp.Compare(c.Epoch, a.snap.Epoch),
					cmp.Compare(c.Version, a.snap.Version), cmp.Compare(c.Manifest, a.snap.Manifest)) > 0 {
					a.snap = &c
				}
			case aptos.KindTransaction:
				if s.LatestTransactionVersion == nil || m.Transaction.LastVersion > *s.LatestTransactionVersion {
					v := m.Transaction.LastVersion
					s.LatestTransactionVersion = &v
				}
			}
		}
	}
	return nil
}

// state returns the state of every file added.
func (a *stateAcc) state() aptos.StorageState {
	s := a.s
	if a.snap != nil {
		s.LatestStateSnapshotEpoch, s.LatestStateSnapshotVersion = &a.snap.Epoch, &a.snap.Version
	}
	return s
}
