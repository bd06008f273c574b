package archive_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/internal/catalogtest"
)

// TestReadStateMatchesCatalog: the streaming pass gives the catalog's own
// status: the storage state (a snapshot that wins on its manifest alone,
// an epoch ending whose range starts earlier but ends later), the file
// counts with moved files, and the header's generation and digest; a
// truncated archive is refused.
func TestReadStateMatchesCatalog(t *testing.T) {
	db := catalogtest.Open(t)
	e := catalogtest.EpochEnding
	tr := catalogtest.Transaction
	s := catalogtest.StateSnapshot
	catalogtest.Put(t, db,
		catalogtest.File{Name: "a.meta", State: catalog.Live, Lines: []aptos.Metadata{e(0, 9, 0, 90, "e/0"), e(5, 6, 50, 60, "e/5")}},
		catalogtest.File{Name: "b.meta", State: catalog.Live, Lines: []aptos.Metadata{s(4, 400, "s/a"), s(4, 400, "s/b"), s(3, 900, "s/c")}},
		catalogtest.File{Name: "c.meta", State: catalog.Live, Lines: []aptos.Metadata{tr(0, 99, "t/0"), tr(100, 199, "t/1")}},
		catalogtest.File{Name: "d.meta", State: catalog.Moved, Lines: []aptos.Metadata{tr(0, 999, "t/old"), e(0, 99, 0, 990, "e/old")}},
	)
	data, h := catalogtest.Archive(t, db)
	got, err := archive.ReadState(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var want aptos.StorageState
	var live, moved int
	if err := db.View(t.Context(), func(tx catalog.Tx) error {
		var err error
		if want, err = tx.StorageState(); err != nil {
			return err
		}
		live, moved, err = tx.CountFiles()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got.StorageState.String() != want.String() {
		t.Errorf("state %q, catalog says %q", got.StorageState, want)
	}
	if want.String() != "latest_epoch_ending_epoch: 9, latest_state_snapshot_epoch: 4, latest_state_snapshot_version: 400, latest_transaction_version: 199" {
		t.Errorf("catalog state %q", want)
	}
	if got.LiveFiles != live || got.MovedFiles != moved || live != 3 || moved != 1 {
		t.Errorf("counts %d live, %d moved; catalog %d, %d; want 3, 1", got.LiveFiles, got.MovedFiles, live, moved)
	}
	if got.Header.Generation != h.Generation || got.Header.ViewDigest != h.ViewDigest || got.Header.Entries != h.Entries {
		t.Errorf("header %+v, written %+v", got.Header, *h)
	}
	if _, err := archive.ReadState(bytes.NewReader(data[:len(data)-8])); !errors.Is(err, archive.ErrBadArchive) {
		t.Errorf("truncated archive: %v, want ErrBadArchive", err)
	}
}
