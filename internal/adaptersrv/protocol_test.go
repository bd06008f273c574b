//go:build unix

package adaptersrv

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	for _, req := range []Request{
		{Call: "list_metadata_files", LocalFsDir: "/backup", AdapterTimeout: "10m"},
		{Call: "open_for_read", Handle: "metadata/a b.meta", HandleSet: true, CommandAdapterConfig: "/etc/x.yaml"},
		{Call: "open_for_read", Handle: "", HandleSet: true},
		{},
	} {
		var b bytes.Buffer
		if err := writeFrame(&b, frameRequest, req.marshal()); err != nil {
			t.Fatal(err)
		}
		got, status, err := ReadRequest(&b)
		if err != nil || status || *got != req {
			t.Errorf("%+v: got %+v, status %v, %v", req, got, status, err)
		}
	}
}

func TestResponseRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("metadata/x.meta\n"), 3*chunk/16+5) // several stdout frames
	for _, resp := range []Response{
		{Stdout: big},
		{Stderr: []byte("metactl: not found\n"), Code: 6},
		{Code: -1},
		{Fallback: true, Why: "not a read call"},
	} {
		var b bytes.Buffer
		if err := WriteResponse(&b, &resp); err != nil {
			t.Fatal(err)
		}
		full := b.Bytes()
		got, err := readResponse(bytes.NewReader(full))
		if err != nil || !bytes.Equal(got.Stdout, resp.Stdout) || !bytes.Equal(got.Stderr, resp.Stderr) || got.Code != resp.Code || got.Fallback != resp.Fallback || got.Why != resp.Why {
			t.Errorf("round trip of %+v: %+v, %v", resp, got, err)
		}
		// Any cut short of the end is an error, never a shorter answer.
		for _, n := range []int{0, 3, 5, len(full) / 2, len(full) - 1} {
			if got, err := readResponse(bytes.NewReader(full[:n])); err == nil {
				t.Errorf("answer cut at %d of %d bytes read as %+v", n, len(full), got)
			} else if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("answer cut at %d: %v, want unexpected EOF", n, err)
			}
		}
	}
}

func TestBadFrames(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"unknown type", "z\x00\x00\x00\x00", `frame type 'z': adapter server protocol error`},
		{"too big", "o\xff\xff\xff\xff", `frame of 4294967295 bytes: adapter server protocol error`},
		{"short exit", "x\x00\x00\x00\x01\x00", `exit frame: adapter server protocol error`},
	} {
		_, err := readResponse(strings.NewReader(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	if _, _, err := ReadRequest(strings.NewReader("q\x00\x00\x00\x02\x05a")); !errors.Is(err, ErrProtocol) {
		t.Errorf("truncated request: %v", err)
	}
}

func TestKey(t *testing.T) {
	a := Key("etcd://h:1/p", "--lock-timeout", "30s")
	if a == Key("etcd://h:1/p", "--lock-timeout", "31s") || a == Key("etcd://h:1/p", "--lock-timeout30s") || len(a) != 32 {
		t.Errorf("keys collide or are malformed: %s", a)
	}
	if a != Key("etcd://h:1/p", "--lock-timeout", "30s") {
		t.Error("the same parts give another key")
	}
}

func TestCheckDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "metactl")
	if err := CheckDir(dir, false); err == nil {
		t.Error("a missing folder passed")
	}
	if err := CheckDir(dir, true); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	if err := CheckDir(dir, true); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("a folder others can read: %v", err)
	}
	link := filepath.Join(t.TempDir(), "link")
	os.Chmod(dir, 0o700)
	os.Symlink(dir, link)
	if err := CheckDir(link, false); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("a symbolic link: %v", err)
	}
}
