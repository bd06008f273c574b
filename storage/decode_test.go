package storage_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/metactl/metactl/storage"
)

const line = `{"Identity":{"id":"6f9cd8f2b1fd9fa0c19e2e4d2b5f1d1a"}}` + "\n"

func TestDecode(t *testing.T) {
	two := gzipMembers(t, "first\n", "second\n")
	whole := gzipMembers(t, line)
	tests := []struct {
		name    string
		raw     []byte
		max     int64
		want    string
		wantErr string
		is      error
	}{
		{name: "plain", raw: []byte(line), max: 1 << 10, want: line},
		{name: "empty", raw: nil, max: 1, want: ""},
		{name: "one byte of magic is plain", raw: []byte{0x1f}, max: 10, want: "\x1f"},
		{name: "gzip", raw: whole, max: 1 << 10, want: line},
		{name: "multi-member gzip", raw: two, max: 1 << 10, want: "first\nsecond\n"},
		{name: "empty gzip member", raw: gzipMembers(t, ""), max: 1, want: ""},
		{name: "plain exactly at limit", raw: []byte("abcd"), max: 4, want: "abcd"},
		{name: "gzip exactly at limit", raw: gzipMembers(t, "abcd"), max: 4, want: "abcd"},
		{name: "max zero means default", raw: []byte(line), max: 0, want: line},
		{
			name: "plain over limit", raw: []byte("abcde"), max: 4,
			wantErr: "file too large: more than 4 bytes", is: storage.ErrTooLarge,
		},
		{
			name: "gzip over limit", raw: gzipMembers(t, "abcde"), max: 4,
			wantErr: "file too large: more than 4 bytes decompressed", is: storage.ErrTooLarge,
		},
		{
			name: "second member over limit", raw: gzipMembers(t, "abc", "de"), max: 4,
			wantErr: "file too large: more than 4 bytes decompressed", is: storage.ErrTooLarge,
		},
		{
			name: "truncated gzip", raw: whole[:len(whole)-5], max: 1 << 10,
			wantErr: "corrupt gzip stream: unexpected EOF", is: storage.ErrCorrupt,
		},
		{
			name: "magic only", raw: []byte{0x1f, 0x8b}, max: 1 << 10,
			wantErr: "corrupt gzip stream: unexpected EOF", is: storage.ErrCorrupt,
		},
		{
			name: "bad checksum", raw: flipByte(whole, len(whole)-6), max: 1 << 10,
			wantErr: "corrupt gzip stream: gzip: invalid checksum", is: storage.ErrCorrupt,
		},
		{
			name: "trailing garbage", raw: append(bytes.Clone(whole), "junk"...), max: 1 << 10,
			wantErr: "corrupt gzip stream: trailing garbage after gzip data", is: storage.ErrCorrupt,
		},
		{name: "trailing zero bytes ignored", raw: append(bytes.Clone(two), make([]byte, 5000)...), max: 1 << 10, want: "first\nsecond\n"},
		{
			name: "zero bytes then garbage", raw: append(append(bytes.Clone(whole), make([]byte, 5000)...), 'x'), max: 1 << 10,
			wantErr: "corrupt gzip stream: trailing garbage after gzip data", is: storage.ErrCorrupt,
		},
		{
			name: "zero bytes then a member", raw: append(append(bytes.Clone(whole), 0, 0), whole...), max: 1 << 10,
			wantErr: "corrupt gzip stream: trailing garbage after gzip data", is: storage.ErrCorrupt,
		},
		{
			name: "truncated second member header", raw: append(bytes.Clone(whole), 0x1f), max: 1 << 10,
			wantErr: "corrupt gzip stream: unexpected EOF", is: storage.ErrCorrupt,
		},
		{
			name: "bad second member header", raw: append(bytes.Clone(whole), 0x1f, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9), max: 1 << 10,
			wantErr: "corrupt gzip stream: gzip: invalid header", is: storage.ErrCorrupt,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := storage.Decode(tc.raw, tc.max)
			if errText(err) != tc.wantErr {
				t.Fatalf("Decode error = %q, want %q", errText(err), tc.wantErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Decode error %v does not wrap %v", err, tc.is)
			}
			if err == nil && string(got) != tc.want {
				t.Errorf("Decode = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDecodeGzipBinary(t *testing.T) {
	raw := append(gzipBinary(t, "one\n"), gzipBinary(t, "two\n")...)
	got, err := storage.Decode(raw, 100)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "one\ntwo\n" {
		t.Errorf("Decode = %q", got)
	}
}

func TestDecodeBomb(t *testing.T) {
	bomb := gzipMembers(t, strings.Repeat("\x00", 1<<20))
	_, err := storage.Decode(bomb, 64<<10)
	if !errors.Is(err, storage.ErrTooLarge) {
		t.Fatalf("Decode(bomb) = %v, want ErrTooLarge", err)
	}
	if want := "file too large: more than 65536 bytes decompressed"; err.Error() != want {
		t.Errorf("Decode(bomb) = %q, want %q", err, want)
	}
}

func flipByte(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0xff
	return b
}
