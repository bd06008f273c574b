package archive_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/metactl/metactl/archive"
	"github.com/metactl/metactl/importer"
	"github.com/metactl/metactl/internal/catalogtest"
)

// segments splits a plaintext into its header line, its records (record
// line and content, separator included) and its trailer line, each with
// its newline.
type segments struct {
	header  string
	records []string
	journal []string
	trailer string
}

func split(t *testing.T, plain []byte) segments {
	t.Helper()
	var s segments
	i := bytes.IndexByte(plain, '\n') + 1
	s.header, plain = string(plain[:i]), plain[i:]
	for !bytes.HasPrefix(plain, []byte(`{"end":`)) {
		i := bytes.IndexByte(plain, '\n') + 1
		if bytes.HasPrefix(plain, []byte(`{"op":`)) {
			s.journal = append(s.journal, string(plain[:i]))
			plain = plain[i:]
			continue
		}
		var r struct{ Size int }
		if err := json.Unmarshal(plain[:i], &r); err != nil {
			t.Fatal(err)
		}
		n := i + r.Size + 1
		s.records = append(s.records, string(plain[:n]))
		plain = plain[n:]
	}
	s.trailer = string(plain)
	return s
}

// recordSize returns the "size" field of a record segment.
func recordSize(t *testing.T, rec string) struct{ Size int } {
	t.Helper()
	var r struct{ Size int }
	if err := json.Unmarshal([]byte(rec[:strings.IndexByte(rec, '\n')]), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func (s segments) join() []byte {
	return []byte(s.header + strings.Join(s.records, "") + strings.Join(s.journal, "") + s.trailer)
}

func TestReadRefuses(t *testing.T) {
	db := catalogtest.Open(t)
	catalogtest.PutFrom(t, db, source, catalogtest.CompactedStorage()...)
	good, _ := catalogtest.Archive(t, db)
	plain := decompress(t, good)
	seg := split(t, plain)
	nfiles := len(seg.records)
	firstHandle := "metadata/compaction_timestamps_1700000000.meta"

	type row struct {
		name string
		data []byte
		// want is the exact error, or "" when only ErrBadArchive is
		// checked (zstd's own messages are not ours to pin).
		want string
	}
	var rows []row
	for _, cut := range []int{0, 3, 10, len(good) / 3, len(good) / 2, len(good) - 4, len(good) - 1} {
		rows = append(rows, row{name: fmt.Sprintf("compressed cut at %d of %d", cut, len(good)), data: good[:cut]})
	}
	rows[0].want = "read archive: empty: no header"
	for _, at := range []int{0, 4, 5, len(good) / 4, len(good) / 2, 3 * len(good) / 4, len(good) - 2, len(good) - 1} {
		b := bytes.Clone(good)
		b[at] ^= 0x40
		rows = append(rows, row{name: fmt.Sprintf("compressed byte %d flipped", at), data: b})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	rows = append(rows,
		row{name: "garbage", data: garbage},
		row{name: "gzip, not zstd", data: []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		row{name: "plain text", data: plain},
	)

	mod := func(name, want string, f func(s segments) []byte) {
		rows = append(rows, row{name: name, data: compress(t, f(split(t, plain))), want: want})
	}
	mod("wrong version", "read archive: unsupported archive version 3 (this metactl reads versions 1 to 2)", func(s segments) []byte {
		s.header = strings.Replace(s.header, `"version":2`, `"version":3`, 1)
		return s.join()
	})
	mod("journal in a version 1 header", "read archive: malformed header: a version 1 archive has no journal", func(s segments) []byte {
		s.header = strings.Replace(s.header, `"version":2`, `"version":1`, 1)
		return s.join()
	})
	mod("journal line cut", "read archive: truncated: header announces 1 journal lines, the archive holds 0", func(s segments) []byte {
		s.journal = nil
		return s.join()
	})
	mod("journal line repeated", "read archive: journal line 2: generation 1 after 1 (out of order)", func(s segments) []byte {
		s.header = strings.Replace(s.header, `"journal":1`, `"journal":2`, 1)
		s.journal = append(s.journal, s.journal[0])
		return s.join()
	})
	mod("journal beyond the header's generation", "read archive: journal line 1: generation 2 is after the archived generation 1", func(s segments) []byte {
		s.journal[0] = strings.Replace(s.journal[0], `{"op":{"generation":1,`, `{"op":{"generation":2,`, 1)
		return s.join()
	})
	mod("journal before a record", fmt.Sprintf("read archive: journal line 1 after %d files, before the header's %d", nfiles-1, nfiles), func(s segments) []byte {
		s.records = append(s.records[:nfiles-1], append(s.journal, s.records[nfiles-1])...)
		s.journal = nil
		return s.join()
	})
	mod("journal line malformed", `read archive: journal line 1: malformed: json: unknown field "x"`, func(s segments) []byte {
		s.journal[0] = strings.Replace(s.journal[0], `{"op":{`, `{"op":{"x":1,`, 1)
		return s.join()
	})
	mod("wrong format", `read archive: not a metactl archive: format "tarball", want "metactl-archive"`, func(s segments) []byte {
		s.header = strings.Replace(s.header, `"format":"metactl-archive"`, `"format":"tarball"`, 1)
		return s.join()
	})
	mod("header not JSON", "read archive: not a metactl archive: the first line is not a JSON header: invalid character 'h' looking for beginning of value", func(s segments) []byte {
		s.header = "hello\n"
		return s.join()
	})
	mod("unknown header field", `read archive: malformed header: json: unknown field "extra"`, func(s segments) []byte {
		s.header = strings.Replace(s.header, `{`, `{"extra":1,`, 1)
		return s.join()
	})
	mod("oversized record", `read archive: file "`+firstHandle+`": size 1099511627776 is outside the limit of 0 to 268435456 bytes`, func(s segments) []byte {
		r := recordSize(t, s.records[0])
		s.records[0] = strings.Replace(s.records[0], fmt.Sprintf(`"size":%d`, r.Size), `"size":1099511627776`, 1)
		return s.join()
	})
	mod("negative size", `read archive: file "`+firstHandle+`": size -1 is outside the limit of 0 to 268435456 bytes`, func(s segments) []byte {
		r := recordSize(t, s.records[0])
		s.records[0] = strings.Replace(s.records[0], fmt.Sprintf(`"size":%d`, r.Size), `"size":-1`, 1)
		return s.join()
	})
	mod("oversized line", "read archive: record line after 0 files is longer than 1048576 bytes", func(s segments) []byte {
		s.records[0] = strings.Replace(s.records[0], `"source":"`, `"source":"`+strings.Repeat("x", 2<<20), 1)
		return s.join()
	})
	mod("missing trailer", fmt.Sprintf("read archive: truncated: no trailer after %d files", nfiles), func(s segments) []byte {
		s.trailer = ""
		return s.join()
	})
	mod("missing trailer and last file", fmt.Sprintf("read archive: truncated: no trailer after %d files", nfiles-1), func(s segments) []byte {
		s.records, s.journal, s.trailer = s.records[:nfiles-1], nil, ""
		return s.join()
	})
	mod("plaintext cut in a content", `read archive: truncated: file "`+firstHandle+`" has 10 of its `, func(s segments) []byte {
		i := strings.IndexByte(s.records[0], '\n') + 1
		return []byte(s.header + s.records[0][:i+10])
	})
	mod("plaintext cut in a record line", "read archive: truncated: record line after 1 files ends without a newline", func(s segments) []byte {
		return []byte(s.header + s.records[0] + s.records[1][:20])
	})
	mod("trailer cut", "read archive: truncated: record line after "+fmt.Sprint(nfiles)+" files ends without a newline", func(s segments) []byte {
		s.trailer = s.trailer[:len(s.trailer)-1]
		return s.join()
	})
	mod("data after the trailer", "read archive: data after the trailer", func(s segments) []byte {
		return append(s.join(), 'x')
	})
	mod("content corrupted", `read archive: file "`+firstHandle+`": content does not match its sha256`, func(s segments) []byte {
		i := strings.IndexByte(s.records[0], '\n') + 1
		b := []byte(s.records[0])
		b[i+2] ^= 1
		s.records[0] = string(b)
		return s.join()
	})
	mod("wrong content size", `read archive: file "`+firstHandle+`": content is not followed by a newline (wrong size?)`, func(s segments) []byte {
		r := recordSize(t, s.records[0])
		s.records[0] = strings.Replace(s.records[0], fmt.Sprintf(`"size":%d`, r.Size), fmt.Sprintf(`"size":%d`, r.Size+1), 1)
		return s.join()
	})
	mod("trailer digest wrong", "", func(s segments) []byte {
		i := strings.Index(s.trailer, `"sha256":"`) + len(`"sha256":"`)
		c := "0"
		if s.trailer[i] == '0' {
			c = "1"
		}
		s.trailer = s.trailer[:i] + c + s.trailer[i+1:]
		return s.join()
	})
	mod("trailer count wrong", fmt.Sprintf("read archive: trailer counts %d files, the archive holds %d", nfiles+1, nfiles), func(s segments) []byte {
		s.trailer = strings.Replace(s.trailer, fmt.Sprintf(`"files":%d`, nfiles), fmt.Sprintf(`"files":%d`, nfiles+1), 1)
		return s.join()
	})
	mod("header count too small", fmt.Sprintf(`read archive: file %d ("metadata/transaction_compacted_0-29.meta"): more files than the header's %d`, nfiles, nfiles-1), func(s segments) []byte {
		s.header = strings.Replace(s.header, fmt.Sprintf(`"files":%d`, nfiles), fmt.Sprintf(`"files":%d`, nfiles-1), 1)
		return s.join()
	})
	mod("header count too large", fmt.Sprintf("read archive: journal line 1 after %d files, before the header's %d", nfiles, nfiles+1), func(s segments) []byte {
		s.header = strings.Replace(s.header, fmt.Sprintf(`"files":%d`, nfiles), fmt.Sprintf(`"files":%d`, nfiles+1), 1)
		return s.join()
	})
	mod("duplicate record", `read archive: file 2 ("`+firstHandle+`"): out of handle order or duplicated (after "`+firstHandle+`")`, func(s segments) []byte {
		s.records = append([]string{s.records[0]}, s.records...)
		return s.join()
	})
	mod("records out of order", "", func(s segments) []byte {
		s.records[0], s.records[1] = s.records[1], s.records[0]
		return s.join()
	})
	mod("bad handle", `read archive: file 1: file handle "backup/x.meta" is not metadata/<name>`, func(s segments) []byte {
		s.records[0] = strings.Replace(s.records[0], `"handle":"`+firstHandle+`"`, `"handle":"backup/x.meta"`, 1)
		return s.join()
	})
	mod("bad state", `read archive: file "`+firstHandle+`": state "gone", want "live" or "moved"`, func(s segments) []byte {
		s.records[0] = strings.Replace(s.records[0], `"state":"live"`, `"state":"gone"`, 1)
		return s.join()
	})
	mod("unknown record field", `read archive: file 1: malformed record: json: unknown field "mode"`, func(s segments) []byte {
		s.records[0] = strings.Replace(s.records[0], `{`, `{"mode":1,`, 1)
		return s.join()
	})
	// Two zstd frames: the good archive, then more plaintext.
	rows = append(rows, row{name: "second frame after the trailer", data: append(bytes.Clone(good), compress(t, []byte("x\n"))...),
		want: "read archive: data after the trailer"})

	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			err := archive.Read(bytes.NewReader(tc.data), func(*archive.Header, *archive.FileRecord) error { return nil })
			if !errors.Is(err, archive.ErrBadArchive) {
				t.Fatalf("Read: %v, want an error wrapping ErrBadArchive", err)
			}
			t.Log(err)
			if tc.want != "" && !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Read:\n got %s\nwant %s", err, tc.want)
			}
			// The importer refuses it too, before it has a batch to commit.
			if _, err := importer.ReadArchive(t.Context(), bytes.NewReader(tc.data), importer.Options{}); !errors.Is(err, archive.ErrBadArchive) {
				t.Errorf("ReadArchive: %v, want an error wrapping ErrBadArchive", err)
			}
		})
	}

	// The unmodified archive passes (the rows fail for their own reason).
	if err := archive.Read(bytes.NewReader(compress(t, seg.join())), func(*archive.Header, *archive.FileRecord) error { return nil }); err != nil {
		t.Fatalf("recompressed good plaintext: %v", err)
	}
}

// TestReaderSticky checks that a failed Reader keeps failing.
func TestReaderSticky(t *testing.T) {
	db := catalogtest.Open(t)
	catalogtest.PutFrom(t, db, source, catalogtest.CompactedStorage()...)
	good, _ := catalogtest.Archive(t, db)
	s := split(t, decompress(t, good))
	s.trailer = ""
	r, err := archive.NewReader(bytes.NewReader(compress(t, s.join())))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var first error
	for first == nil {
		_, first = r.Next()
	}
	if _, err := r.Next(); err != first {
		t.Errorf("second Next after error: %v, want %v", err, first)
	}
}

func FuzzRead(f *testing.F) {
	db := catalogtest.Open(f)
	catalogtest.PutFrom(f, db, source, catalogtest.CompactedStorage()[:3]...)
	good, _ := catalogtest.Archive(f, db)
	f.Add(good)
	f.Add(compress(f, decompress(f, good)[:100]))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Whatever happens, no panic, and any refusal is ErrBadArchive.
		err := archive.Read(bytes.NewReader(data), func(*archive.Header, *archive.FileRecord) error { return nil })
		if err != nil && !errors.Is(err, archive.ErrBadArchive) {
			t.Fatalf("error %v does not wrap ErrBadArchive", err)
		}
	})
}

// TestReadVersion1: an archive written before the journal was added
// (format version 1: no journal lines, no "journal" header field) still
// reads, with an empty journal.
func TestReadVersion1(t *testing.T) {
	db := catalogtest.Open(t)
	catalogtest.PutFrom(t, db, source, catalogtest.CompactedStorage()...)
	good, h2 := catalogtest.Archive(t, db)
	s := split(t, decompress(t, good))
	s.header = strings.Replace(strings.Replace(s.header, `"version":2`, `"version":1`, 1), `,"journal":1`, "", 1)
	s.journal = nil
	body := s.header + strings.Join(s.records, "")
	sum := sha256.Sum256([]byte(body))
	s.trailer = fmt.Sprintf(`{"end":true,"files":%d,"sha256":"%x"}`+"\n", len(s.records), sum)
	rd, err := archive.NewReader(bytes.NewReader(compress(t, s.join())))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	n := 0
	for {
		_, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if h := rd.Header(); h.Version != 1 || h.Files != n || h.ViewDigest != h2.ViewDigest || len(rd.Journal()) != 0 {
		t.Errorf("version 1 archive: header %+v, %d files, journal %d", h, n, len(rd.Journal()))
	}
}
