package importer_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metactl/metactl/importer"
)

// warnings returns the result's warnings as "code handle: message" lines.
func warnings(res *importer.Result) []string {
	var out []string
	for _, w := range res.Warnings {
		out = append(out, w.Code+" "+w.String())
	}
	return out
}

func checkWarnings(t *testing.T, res *importer.Result, want ...string) {
	t.Helper()
	if got := warnings(res); !slices.Equal(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestWarnSkippedEntries: every stray entry is a warning with its reason
// (issue 8: skipped names used to be listed on stdout without one).
func TestWarnSkippedEntries(t *testing.T) {
	s := newStorage(t).
		put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m")).
		put("metadata/.hidden.meta", txn(0, 9, "t0/m")).
		put("metadata/README", "not metadata\n").
		put("metadata/bad name.meta", txn(0, 9, "t0/m"))
	if err := os.Mkdir(filepath.Join(s.dir, "metadata/sub.meta"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("transaction_0-9.meta", filepath.Join(s.dir, "metadata/link.meta")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(s.dir, "metadata_backup/fifo.meta"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := mustImport(t, newCatalog(t), s, importer.Options{})
	checkWarnings(t, res,
		`skipped metadata/.hidden.meta: skipped, not a metadata file name: a dotfile (a name starting with ".")`,
		`skipped metadata/README: skipped, not a metadata file name: it does not end in ".meta"`,
		`skipped metadata/bad name.meta: skipped, not a metadata file name (want a ShellSafeName ending in ".meta")`,
		`skipped metadata/link.meta: skipped, not a regular file: it is a symbolic link (never followed or read)`,
		`skipped metadata/sub.meta: skipped, not a regular file: it is a sub-folder (never followed or read)`,
		`skipped metadata_backup/fifo.meta: skipped, not a regular file: it is a named pipe (never followed or read)`,
	)
	if res.Added != 1 || len(res.Skipped) != 6 {
		t.Errorf("result %+v", res)
	}
}

// TestWarnEmptyFile: a zero-byte file imports (Aptos accepts it) with a
// warning.
func TestWarnEmptyFile(t *testing.T) {
	s := newStorage(t).put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m")).put("metadata_backup/empty.meta", "")
	res := mustImport(t, newCatalog(t), s, importer.Options{})
	checkWarnings(t, res, "empty-file metadata_backup/empty.meta: empty file (0 bytes): it holds no entry; Aptos never writes one (a failed upload?)")
	if res.Added != 2 {
		t.Errorf("result %+v", res)
	}
}

// TestWarnCRLF: CRLF line ends import (Aptos reads them) with a warning.
func TestWarnCRLF(t *testing.T) {
	line := strings.TrimSuffix(txn(0, 9, "t0/m"), "\n")
	s := newStorage(t).put("metadata/transaction_0-9.meta", line+"\r\n")
	res := mustImport(t, newCatalog(t), s, importer.Options{})
	checkWarnings(t, res, "crlf metadata/transaction_0-9.meta: CRLF line ends: Aptos reads them but never writes them (edited on Windows?); the bytes are kept as they are")
}

// TestWarnNameMismatch: a file named as Aptos names one entry or one
// compacted chunk, whose content says otherwise.
func TestWarnNameMismatch(t *testing.T) {
	ts := `{"CompactionTimestamps":{"file_compacted_at":1700000000,"compaction_timestamps":{}}}` + "\n"
	tests := []struct {
		name, content, want string
	}{
		{"transaction_0-9.meta", txn(0, 9, "t/m"), ""},
		{"transaction_0-99.meta", txn(0, 9, "t/m"), "name disagrees with its content, which Aptos would name transaction_0-9.meta"},
		{"transaction_0-9.meta", epoch(0, 9, "e/m"), "name disagrees with its content: line 1 is a EpochEndingBackup line, the name says TransactionBackup"},
		{"transaction_0-9.meta", txn(0, 9, "t/m") + txn(10, 19, "t/m"), "name disagrees with its content: it holds 2 lines, the name is that of a file of one entry"},
		{"transaction_compacted_0-19.meta", txn(0, 9, "t/m") + txn(10, 19, "t/m"), ""},
		{"transaction_compacted_0-29.meta", txn(0, 9, "t/m") + txn(10, 19, "t/m"), "name disagrees with its content, which Aptos would name transaction_compacted_0-19.meta"},
		{"epoch_ending_3-4.meta", epoch(3, 4, "e/m"), ""},
		{"epoch_ending_3-5.meta", epoch(3, 4, "e/m"), "name disagrees with its content, which Aptos would name epoch_ending_3-4.meta"},
		{"epoch_ending_compacted_0-9.meta", epoch(0, 4, "e/m") + epoch(5, 9, "e/m"), ""},
		{"state_snapshot_ver_99.meta", `{"StateSnapshotBackup":{"epoch":1,"version":99,"manifest":"s/m"}}` + "\n", ""},
		{"state_snapshot_ver_98.meta", `{"StateSnapshotBackup":{"epoch":1,"version":99,"manifest":"s/m"}}` + "\n", "name disagrees with its content, which Aptos would name state_snapshot_ver_99.meta"},
		{"state_snapshot_compacted_epoch_1_2.meta", `{"StateSnapshotBackup":{"epoch":1,"version":99,"manifest":"s/m"}}` + "\n" + `{"StateSnapshotBackup":{"epoch":3,"version":199,"manifest":"s/m"}}` + "\n", "name disagrees with its content, which Aptos would name state_snapshot_compacted_epoch_1_3.meta"},
		{"compaction_timestamps_1700000000.meta", ts, ""},
		{"compaction_timestamps_1.meta", ts, "name disagrees with its content, which Aptos would name compaction_timestamps_1700000000.meta"},
		{"identity.meta", identity(1), ""},
		{"identity.meta", txn(0, 9, "t/m"), "name disagrees with its content: line 1 is a TransactionBackup line, the name says Identity"},
		{"my_own_name.meta", txn(0, 9, "t/m"), ""},
	}
	for _, tc := range tests {
		s := newStorage(t).put("metadata/"+tc.name, tc.content)
		res := mustImport(t, newCatalog(t), s, importer.Options{Now: func() time.Time { return clock }})
		var want []string
		if tc.want != "" {
			want = []string{"name-mismatch metadata/" + tc.name + ": " + tc.want}
		}
		if got := warnings(res); !slices.Equal(got, want) {
			t.Errorf("%s: warnings %q, want %q", tc.name, got, want)
		}
	}
}

// TestWarnFutureTimestamps: compaction timestamps after the importer's
// clock (plus importer.FutureSlack) are reported.
func TestWarnFutureTimestamps(t *testing.T) {
	now := clock.Unix()
	line := func(at, stamp int64) string {
		return `{"CompactionTimestamps":{"file_compacted_at":` + itoa(at) + `,"compaction_timestamps":{"metadata/a.meta":` + itoa(stamp) + `,"metadata/b.meta":null}}}` + "\n"
	}
	s := newStorage(t).
		put("metadata/compaction_timestamps_"+itoa(now)+".meta", line(now, now+60)).              // within the slack
		put("metadata/compaction_timestamps_"+itoa(now+3600)+".meta", line(now+3600, now)).       // the file itself
		put("metadata_backup/compaction_timestamps_"+itoa(now-1)+".meta", line(now-1, now+86400)) // a stamp
	res := mustImport(t, newCatalog(t), s, importer.Options{Now: func() time.Time { return clock }})
	checkWarnings(t, res,
		"future-timestamps metadata/compaction_timestamps_"+itoa(now+3600)+".meta: compaction timestamps from the future: file_compacted_at "+itoa(now+3600)+" is after now ("+itoa(now)+"); check the compacting host's clock",
		"future-timestamps metadata_backup/compaction_timestamps_"+itoa(now-1)+".meta: compaction timestamps from the future: 1 files stamped after now ("+itoa(now)+"), the latest at "+itoa(now+86400)+"; they are not moved until then",
	)
}

// TestWarnGap: an import that opens a hole in the restorable range (a
// compacted file moved away while its replacement is missing) warns; one
// that fills or keeps an existing hole does not.
func TestWarnGap(t *testing.T) {
	db := newCatalog(t)
	s := newStorage(t).
		put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m")).
		put("metadata/transaction_10-19.meta", txn(10, 19, "t1/m")).
		put("metadata/transaction_20-29.meta", txn(20, 29, "t2/m")).
		put("metadata/epoch_ending_0-0.meta", epoch(0, 0, "e0/m")).
		put("metadata/epoch_ending_1-1.meta", epoch(1, 1, "e1/m")).
		put("metadata/epoch_ending_2-2.meta", epoch(2, 2, "e2/m"))
	checkWarnings(t, mustImport(t, db, s, importer.Options{}))
	// The storage moved the middle files away: the view loses them.
	s.move("transaction_10-19.meta").move("epoch_ending_1-1.meta")
	res := mustImport(t, db, s, importer.Options{})
	checkWarnings(t, res,
		"gap the import opens a gap in the restorable range: no epoch-ending backup covers epochs 1-1, so a restore across them fails",
		"gap the import opens a gap in the restorable range: no transaction backup covers versions 10-19, so a restore across them fails",
	)
	if res.Moved != 2 {
		t.Errorf("result %+v", res)
	}
	// Adding past the hole keeps it: no new warning.
	s.put("metadata/transaction_30-39.meta", txn(30, 39, "t3/m"))
	checkWarnings(t, mustImport(t, db, s, importer.Options{}))
	// A new hole after the last backup.
	s.put("metadata/transaction_50-59.meta", txn(50, 59, "t5/m"))
	checkWarnings(t, mustImport(t, db, s, importer.Options{}),
		"gap the import opens a gap in the restorable range: no transaction backup covers versions 40-49, so a restore across them fails")
	// Filling part of it is no new gap.
	s.put("metadata/transaction_40-44.meta", txn(40, 44, "t4/m"))
	checkWarnings(t, mustImport(t, db, s, importer.Options{}))
}

// TestCommitRecomputesAfterAnotherWriter: a batch read before another
// writer committed is planned against the generation Commit finds, and
// succeeds (issue 8: the source is read without the lock, so a writer may
// commit in between).
func TestCommitRecomputesAfterAnotherWriter(t *testing.T) {
	db := newCatalog(t)
	s := newStorage(t).put("metadata/transaction_0-9.meta", txn(0, 9, "t0/m"))
	batch, err := importer.Read(t.Context(), s.source(), importer.Options{Source: "first"})
	if err != nil {
		t.Fatal(err)
	}
	// Meanwhile another writer imports the same file and another one, and
	// moves the first.
	other := newStorage(t).put("metadata/transaction_10-19.meta", txn(10, 19, "t1/m")).
		put("metadata_backup/transaction_0-9.meta", txn(0, 9, "t0/m"))
	if res := mustImport(t, db, other, importer.Options{}); res.Added != 2 || res.Generation != 1 {
		t.Fatalf("other writer: %+v", res)
	}
	res, err := batch.Commit(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	// The batch lists the file live; the catalog has it moved: kept moved,
	// nothing added, the other writer's file reported missing.
	if res.Added != 0 || res.Changed || res.Generation != 1 || !slices.Equal(res.KeptMoved, []string{"metadata/transaction_0-9.meta"}) ||
		!slices.Equal(res.Missing, []string{"metadata/transaction_10-19.meta"}) {
		t.Errorf("result %+v", res)
	}
	// A conflicting writer in between makes the commit refuse, naming it.
	db2 := newCatalog(t)
	batch, err = importer.Read(t.Context(), s.source(), importer.Options{Source: "first"})
	if err != nil {
		t.Fatal(err)
	}
	mustImport(t, db2, newStorage(t).put("metadata/transaction_0-9.meta", txn(0, 9, "other/m")), importer.Options{Source: "second"})
	_, err = batch.Commit(t.Context(), db2)
	if err == nil || !strings.Contains(err.Error(), "differs from the catalog's live file of the same name") {
		t.Errorf("conflict after read: %v", err)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
