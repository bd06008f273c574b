package archive

import (
	"cmp"
	"fmt"
	"io"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/catalog"
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
// memory stays bounded by the largest file, whatever the archive's size
// (unpacking a 200,000-file archive into a temporary catalog took seconds
// and most of a gigabyte). It returns an error wrapping [ErrBadArchive]
// for any archive [Read] refuses, and for a live file whose content does
// not parse.
func ReadState(r io.Reader) (*State, error) {
	rd, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	st := &State{}
	var snap *aptos.StateSnapshotBackup
	s := &st.StorageState
	for {
		f, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if f.State == catalog.Moved {
			st.MovedFiles++
			continue
		}
		st.LiveFiles++
		lines, err := aptos.ParseFile(f.Content)
		if err != nil {
			return nil, &BadArchiveError{Reason: fmt.Sprintf("file %q", f.Handle), Err: err}
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
				if c := m.StateSnapshot; snap == nil || cmp.Or(cmp.Compare(c.Epoch, snap.Epoch),
					cmp.Compare(c.Version, snap.Version), cmp.Compare(c.Manifest, snap.Manifest)) > 0 {
					snap = &c
				}
			case aptos.KindTransaction:
				if s.LatestTransactionVersion == nil || m.Transaction.LastVersion > *s.LatestTransactionVersion {
					v := m.Transaction.LastVersion
					s.LatestTransactionVersion = &v
				}
			}
		}
	}
	if snap != nil {
		s.LatestStateSnapshotEpoch, s.LatestStateSnapshotVersion = &snap.Epoch, &snap.Version
	}
	st.Header = *rd.Header()
	return st, nil
}
