package export

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/catalog"
)

// TestArchiveOpIsTheJournalRecord: an archive's journal line is the
// catalog's journal record, field for field, so a field added to
// catalog.Operation fails here until archive.Op carries it too.
func TestArchiveOpIsTheJournalRecord(t *testing.T) {
	if a, c := reflect.TypeFor[archive.Op]().NumField(), reflect.TypeFor[catalog.Operation]().NumField(); a != c {
		t.Fatalf("archive.Op has %d fields, catalog.Operation %d", a, c)
	}
	ch := func(n int) catalog.Changes {
		return catalog.Changes{Count: n, Handles: []string{"metadata/a.meta"}, Truncated: true}
	}
	op := catalog.Operation{Generation: 7, Kind: "compact", Time: time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC), Command: "metactl compact",
		Inputs: []string{"in"}, Note: "note", Added: ch(1), Replaced: ch(2), Moved: ch(3), Revived: ch(4), Deleted: ch(5),
		Entries: 9, Undoes: 3, Purged: 2, Quarantined: 1}
	op.DigestBefore[0], op.DigestAfter[1] = 1, 2
	want, err := json.Marshal(&op)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(archiveOp(&op))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("archive journal record\n%s\nwant the catalog's\n%s", got, want)
	}
}
