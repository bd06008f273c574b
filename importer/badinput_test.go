package importer_test

import (
	"strings"
	"testing"

	"github.com/metactl/metactl/catalog"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/internal/catalogtest"
)

// TestBadInput imports one file per row into an empty catalog, as the only
// file of metadata/x.meta, and checks the exact error, or that the file is
// accepted with the given number of lines. The catalog must be unchanged
// after every refusal.
func TestBadInput(t *testing.T) {
	const (
		h64 = "5f1c0a3e9b7d2c4e6f8a0b1c2d3e4f5061728394a5b6c7d8e9f0011223344556"
		max = "18446744073709551615"
	)
	txnM := func(manifest string) string {
		return `{"TransactionBackup":{"first_version":0,"last_version":9,"manifest":"` + manifest + `"}}` + "\n"
	}
	tests := []struct {
		name    string
		content string
		want    string // "" = accepted
		lines   int    // when accepted
	}{
		{name: "invalid JSON", content: `{"TransactionBackup":{"first_version":0,` + "\n",
			want: "import metadata/x.meta:1:41: EOF while parsing a value"},
		{name: "trailing garbage", content: strings.TrimSuffix(txnM("a/m"), "\n") + "x\n",
			want: "import metadata/x.meta:1:76: trailing characters"},
		{name: "unknown variant", content: `{"Transaction":{"first_version":0,"last_version":9,"manifest":"a/m"}}` + "\n",
			want: "import metadata/x.meta:1:2: unknown variant `Transaction`, expected one of `EpochEndingBackup`, `StateSnapshotBackup`, `TransactionBackup`, `Identity`, `CompactionTimestamps`"},
		{name: "draft Range variant", content: `{"TransactionBackupRange":{"backup_metas":[]}}` + "\n",
			want: "import metadata/x.meta:1:2: unknown variant `TransactionBackupRange`, expected one of `EpochEndingBackup`, `StateSnapshotBackup`, `TransactionBackup`, `Identity`, `CompactionTimestamps`"},
		{name: "variant case", content: `{"identity":{"id":"` + h64 + `"}}` + "\n",
			want: "import metadata/x.meta:1:2: unknown variant `identity`, expected one of `EpochEndingBackup`, `StateSnapshotBackup`, `TransactionBackup`, `Identity`, `CompactionTimestamps`"},
		{name: "missing field", content: `{"TransactionBackup":{"first_version":0,"last_version":9}}` + "\n",
			want: "import metadata/x.meta:1:57: missing field `manifest`"},
		{name: "negative number", content: `{"TransactionBackup":{"first_version":-1,"last_version":9,"manifest":"a/m"}}` + "\n",
			want: "import metadata/x.meta:1:39: first_version: invalid value: negative integer, expected u64"},
		{name: "u64 overflow", content: `{"TransactionBackup":{"first_version":0,"last_version":18446744073709551616,"manifest":"a/m"}}` + "\n",
			want: "import metadata/x.meta:1:56: last_version: number out of range"},
		{name: "null manifest names the field", content: `{"TransactionBackup":{"first_version":0,"last_version":9,"manifest":null}}` + "\n",
			want: "import metadata/x.meta:1:69: manifest: invalid type: null, expected a string"},
		{name: "first > last", content: `{"TransactionBackup":{"first_version":10,"last_version":9,"manifest":"a/m"}}` + "\n",
			want: "import metadata/x.meta:1: first_version 10 > last_version 9"},
		{name: "first epoch > last epoch", content: `{"EpochEndingBackup":{"first_epoch":2,"last_epoch":1,"first_version":0,"last_version":9,"manifest":"a/m"}}` + "\n",
			want: "import metadata/x.meta:1: first_epoch 2 > last_epoch 1"},
		{name: "last version u64::MAX", content: `{"TransactionBackup":{"first_version":0,"last_version":` + max + `,"manifest":"a/m"}}` + "\n",
			want: "import metadata/x.meta:1: last_version 18446744073709551615 (u64::MAX): the next range would overflow"},
		{name: "last epoch u64::MAX", content: `{"EpochEndingBackup":{"first_epoch":0,"last_epoch":` + max + `,"first_version":0,"last_version":9,"manifest":"a/m"}}` + "\n",
			want: "import metadata/x.meta:1: last_epoch 18446744073709551615 (u64::MAX): the next range would overflow"},
		{name: "manifest with ..", content: txnM("a/../b"),
			want: `import metadata/x.meta:1: manifest "a/../b" has a ".." segment`},
		{name: "absolute manifest", content: txnM("/etc/passwd"),
			want: `import metadata/x.meta:1: manifest "/etc/passwd" is absolute`},
		{name: "manifest with a space", content: txnM("a b/m"),
			want: `import metadata/x.meta:1: manifest "a b/m": character ' ' at byte 1 is not allowed`},
		{name: "manifest with $", content: txnM("$HOME/m"),
			want: `import metadata/x.meta:1: manifest "$HOME/m": character '$' at byte 0 is not allowed`},
		{name: "manifest with *", content: txnM("a/*"),
			want: `import metadata/x.meta:1: manifest "a/*": character '*' at byte 2 is not allowed`},
		{name: "manifest with newline escape", content: txnM(`a\nb/m`),
			want: `import metadata/x.meta:1: manifest "a\nb/m": character '\n' at byte 1 is not allowed`},
		{name: "manifest with leading -", content: txnM("-rf/m"),
			want: `import metadata/x.meta:1: manifest "-rf/m" has a segment starting with '-'`},
		{name: "empty manifest", content: txnM(""),
			want: `import metadata/x.meta:1: manifest is empty`},
		{name: "identity of 63 hex digits", content: `{"Identity":{"id":"` + h64[:63] + `"}}` + "\n",
			want: "import metadata/x.meta:1:19: id: invalid value: want 64 hex digits"},
		{name: "identity not hex", content: `{"Identity":{"id":"` + h64[:63] + `g"}}` + "\n",
			want: "import metadata/x.meta:1:19: id: invalid value: want 64 hex digits"},
		{name: "timestamps key not a metadata handle", content: `{"CompactionTimestamps":{"file_compacted_at":1,"compaction_timestamps":{"../x":null}}}` + "\n",
			want: `import metadata/x.meta:1: compaction_timestamps key: file handle "../x" is not metadata/<name>`},
		{name: "invalid UTF-8", content: txnM("a/m") + "{\"TransactionBackup\xff\":1}\n",
			want: "import metadata/x.meta:2:20: invalid utf-8"},
		{name: "empty middle line", content: txnM("a/m") + "\n" + txnM("b/m"),
			want: "import metadata/x.meta:2:1: EOF while parsing a value"},
		{name: "blank line only", content: "\n",
			want: "import metadata/x.meta:1:1: EOF while parsing a value"},
		{name: "whitespace line", content: " \t\n",
			want: "import metadata/x.meta:1:3: EOF while parsing a value"},
		{name: "lone CR is not a line break", content: strings.TrimSuffix(txnM("a/m"), "\n") + "\r" + txnM("b/m"),
			want: "import metadata/x.meta:1:77: trailing characters"},
		{name: "two bad lines in one file", content: "{}\n" + txnM("a/m") + "[]\n",
			want: "import metadata/x.meta:1:2: expected exactly one variant key\nimport metadata/x.meta:3:1: invalid type: sequence, expected enum Metadata"},

		{name: "CRLF file accepted", content: strings.ReplaceAll(txnM("a/m")+txnM("b/m"), "\n", "\r\n"), lines: 2},
		{name: "empty file accepted", content: "", lines: 0},
		{name: "no final newline accepted", content: strings.TrimSuffix(txnM("a/m"), "\n"), lines: 1},
		{name: "unknown field and array form accepted", content: `{"TransactionBackup":{"first_version":0,"last_version":9,"manifest":"a/m","extra":[1]}}` + "\n" +
			`{"TransactionBackup":[10,19,"b/m"]}` + "\n", lines: 2},
		{name: "identity in uppercase hex accepted", content: `{"Identity":{"id":"` + strings.ToUpper(h64) + `"}}` + "\n", lines: 1},
		{name: "last version u64::MAX-1 accepted", content: `{"TransactionBackup":{"first_version":0,"last_version":18446744073709551614,"manifest":"a/m"}}` + "\n", lines: 1},
		{name: "safe punctuation in manifest accepted", content: txnM("s3_bucket-1/e1/transaction_0-.3c4d+x=y@z:w,v/transaction.manifest"), lines: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := newCatalog(t)
			before := catalogtest.Bytes(t, db)
			s := newStorage(t).put("metadata/x.meta", tc.content)
			res, err := importDir(t.Context(), db, s, importer.Options{})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if res.Added != 1 || res.Lines != tc.lines {
					t.Errorf("added %d, lines %d, want 1, %d", res.Added, res.Lines, tc.lines)
				}
				var f *catalog.File
				if err := db.View(t.Context(), func(tx catalog.Tx) (err error) { f, err = tx.File("metadata/x.meta"); return err }); err != nil {
					t.Fatal(err)
				}
				if string(f.Content) != tc.content || f.Lines != tc.lines {
					t.Errorf("stored %q (%d lines), want the file as read", f.Content, f.Lines)
				}
				return
			}
			checkInputError(t, err, tc.want)
			assertUnchanged(t, db, before)
		})
	}
}
