package importer_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/storage"
)

// TestInProgress: with Options.InProgress a fresh live file that is empty
// or cut mid-line after valid lines is skipped with a warning; an old one,
// one bad before its cut, or any without the option, is bad input as ever.
func TestInProgress(t *testing.T) {
	whole := txn(0, 9, "t0/m")
	cut := txn(10, 19, "t10/m")
	cut = cut[:len(cut)/2]
	for _, tc := range []struct {
		name    string
		content string
		age     time.Duration
		opt     bool
		want    string // a warning, or "" for no skip
		invalid bool
	}{
		{"cut, fresh", cut, 0, true, "in-progress metadata/transaction_10-19.meta: skipped, still being written (it ends mid-line and was modified 0s ago); the next run reads it", false},
		{"empty, fresh", "", 0, true, "in-progress metadata/transaction_10-19.meta: skipped, still being written (it is empty and was modified 0s ago); the next run reads it", false},
		{"lines then cut, fresh", txn(10, 14, "a/m") + cut, 0, true, "in-progress metadata/transaction_10-19.meta: skipped, still being written (it ends mid-line and was modified 0s ago); the next run reads it", false},
		{"cut, old", cut, 10 * time.Minute, true, "", true},
		{"bad before the cut, fresh", "{bad}\n" + cut, 0, true, "", true},
		{"cut, fresh, option off", cut, 0, false, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStorage(t).put("metadata/transaction_0-9.meta", whole).put("metadata/transaction_10-19.meta", tc.content)
			if tc.age > 0 {
				old := time.Now().Add(-tc.age)
				os.Chtimes(filepath.Join(s.dir, "metadata/transaction_10-19.meta"), old, old)
			}
			res, err := importDir(t.Context(), newCatalog(t), s, importer.Options{InProgress: tc.opt})
			var ie *importer.InputError
			if tc.invalid {
				if !errors.As(err, &ie) {
					t.Fatalf("import = %v, want an InputError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkWarnings(t, res, tc.want)
			if res.Added != 1 || res.Warnings[0].Code != importer.WarnInProgress {
				t.Errorf("result %+v", res)
			}
		})
	}
}

// TestInProgressBucket: a bucket has no modification times, so only the
// newest file of its kind counts as still being written.
func TestInProgressBucket(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash:", err)
	}
	s := newStorage(t).
		put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m")).
		put("metadata/transaction_10-19.meta", strings.TrimSuffix(txn(10, 19, "t10/m"), "}\n")).
		put("metadata/epoch_ending_0-0.meta", "")
	cfg := "env_vars: []\ncommands:\n  create_backup: 'false'\n  create_for_write: 'false'\n  save_metadata_line: 'false'\n" +
		"  open_for_read: cat \"" + s.dir + "/$FILE_HANDLE\"\n  list_metadata_files: cd \"" + s.dir + "\" && ls -1 metadata/*\n"
	a, err := storage.ParseCommandAdapter([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	res, err := importer.FromStorage(t.Context(), newCatalog(t), a, importer.Options{Source: "test", InProgress: true})
	if err != nil {
		t.Fatal(err)
	}
	checkWarnings(t, res,
		"in-progress metadata/epoch_ending_0-0.meta: skipped, still being written (it is empty and is the newest file of its kind); the next run reads it",
		"in-progress metadata/transaction_10-19.meta: skipped, still being written (it ends mid-line and is the newest file of its kind); the next run reads it")

	// Not the newest of its kind: bad input.
	s.put("metadata/transaction_20-29.meta", txn(20, 29, "t20/m"))
	_, err = importer.FromStorage(t.Context(), newCatalog(t), a, importer.Options{Source: "test", InProgress: true})
	if !errors.As(err, new(*importer.InputError)) {
		t.Errorf("import with a cut file that is not the newest = %v, want an InputError", err)
	}
}
