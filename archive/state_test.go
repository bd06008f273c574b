package archive_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

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

// TestReadStateFirstProblem: ReadState parses live files on a second
// goroutine while it verifies the stream, yet reports the problem nearest
// the start of the archive, as one pass in order would: a live file that
// does not parse before a truncation, a digest mismatch before a live
// file that does not parse.
func TestReadStateFirstProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	catalogtest.BenchCatalogAt(t, path, 2000, 1) // many batches of live files
	db, err := catalog.Open(t.Context(), path, &catalog.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	good, _ := catalogtest.Archive(t, db)
	seg := split(t, decompress(t, good))
	if len(seg.records) < 1600 {
		t.Fatalf("%d records, want at least 1600", len(seg.records))
	}
	sizeRe := regexp.MustCompile(`"size":\d+,"sha256":"[0-9a-f]{64}"`)
	// withContent replaces record i's content, its size and digest kept
	// consistent: a record that verifies but does not parse.
	withContent := func(s segments, i int, content string) segments {
		rec := s.records[i]
		line := rec[:strings.IndexByte(rec, '\n')+1]
		sum := sha256.Sum256([]byte(content))
		line = sizeRe.ReplaceAllString(line, fmt.Sprintf(`"size":%d,"sha256":"%x"`, len(content), sum))
		s.records = slices.Clone(s.records)
		s.records[i] = line + content + "\n"
		return s
	}
	handle := func(s segments, i int) string {
		var r struct{ Handle string }
		if err := json.Unmarshal([]byte(s.records[i][:strings.IndexByte(s.records[i], '\n')]), &r); err != nil {
			t.Fatal(err)
		}
		return r.Handle
	}
	seal := func(s segments) []byte {
		body := s.header + strings.Join(s.records, "") + strings.Join(s.journal, "")
		s.trailer = fmt.Sprintf(`{"end":true,"files":%d,"sha256":"%x"}`+"\n", len(s.records), sha256.Sum256([]byte(body)))
		return compress(t, s.join())
	}
	early := withContent(seg, 5, "not metadata")
	late := withContent(seg, 1500, "not metadata")
	corrupt := seg
	corrupt.records = slices.Clone(seg.records)
	r3 := corrupt.records[3]
	at := strings.IndexByte(r3, '\n') + 1          // the content's first byte, '{'
	corrupt.records[3] = r3[:at] + "[" + r3[at+1:] // content changed, digest not

	truncated := early
	truncated.trailer = ""
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"bad live file, then no trailer", compress(t, truncated.join()), `read archive: file "` + handle(seg, 5) + `": `},
		{"bad live file late", seal(late), `read archive: file "` + handle(seg, 1500) + `": `},
		{"digest mismatch before a bad live file", seal(withContent(corrupt, 1500, "not metadata")),
			`read archive: file "` + handle(seg, 3) + `": content does not match its sha256`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := archive.ReadState(bytes.NewReader(tc.data))
			if !errors.Is(err, archive.ErrBadArchive) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("ReadState: %v, want %s...", err, tc.want)
			}
		})
	}
}
