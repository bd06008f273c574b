package storage_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/storage"
)

// TestNewLocal is issue 8's "paths are checked before anything is
// written", read side: a folder without metadata/ and a path naming the
// metadata folder itself are refused, naming the path and what was expected.
func TestNewLocal(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "metadata"), 0o755); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	file := filepath.Join(dir, "file")
	writeFile(t, dir, "file", nil)
	missing := filepath.Join(dir, "missing")
	metaFile := t.TempDir()
	writeFile(t, metaFile, "metadata", nil)
	tests := []struct {
		dir     string
		wantErr string
	}{
		{dir, ""},
		{missing, "local storage " + missing + ": not a backup storage folder: it does not exist (expected a folder holding metadata/ and metadata_backup/)"},
		{file, "local storage " + file + ": not a backup storage folder: not a directory (expected a folder holding metadata/ and metadata_backup/)"},
		{empty, "local storage " + empty + ": not a backup storage folder: it has no metadata/ folder (expected a LocalFs backup storage folder holding metadata/ and metadata_backup/)"},
		{metaFile, "local storage " + metaFile + ": not a backup storage folder: " + filepath.Join(metaFile, "metadata") + " is not a directory"},
		{filepath.Join(dir, "metadata"), "local storage " + filepath.Join(dir, "metadata") + ": not a backup storage folder: it is the metadata/ folder itself; give the folder that holds it: --local-fs-dir " + dir},
		{filepath.Join(dir, "metadata_backup") + "/", "local storage " + filepath.Join(dir, "metadata_backup") + "/: not a backup storage folder: it is the metadata_backup/ folder itself; give the folder that holds it: --local-fs-dir " + dir},
	}
	for _, tc := range tests {
		l, err := storage.NewLocal(tc.dir)
		if got := errText(err); got != tc.wantErr {
			t.Errorf("NewLocal(%q) = %q, want %q", tc.dir, got, tc.wantErr)
		}
		if err == nil && l.Dir != tc.dir {
			t.Errorf("NewLocal(%q).Dir = %q", tc.dir, l.Dir)
		}
		if err != nil && !errors.Is(err, storage.ErrNotStorage) {
			t.Errorf("NewLocal(%q): %v does not wrap ErrNotStorage", tc.dir, err)
		}
	}
}

func TestLocalListMissingFolders(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "metadata"), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := storage.Listing{Live: []string{}, Moved: []string{}, MovedListed: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List = %+v, want %+v", got, want)
	}
	// The metadata folder removed after NewLocal: an empty listing, as
	// Aptos's LocalFs gives.
	if err := os.Remove(filepath.Join(dir, "metadata")); err != nil {
		t.Fatal(err)
	}
	if got, err = l.List(t.Context()); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("List after removing metadata/ = %+v, %v; want %+v", got, err, want)
	}
}

func TestLocalList(t *testing.T) {
	dir := t.TempDir()
	for _, rel := range []string{
		"metadata/transaction_0-14.meta",
		"metadata/epoch_ending_0-0.meta",
		"metadata/.hidden",
		"metadata/notes.txt",
		"metadata/sub/inner.meta",
		"metadata_backup/epoch_ending_0-0.meta",
		"metadata_backup/identity.meta",
		"epoch_ending_0-.1a2b/epoch_ending.manifest", // a backup folder: not metadata
	} {
		writeFile(t, dir, rel, []byte(line))
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "metadata", "link.meta")); err != nil {
		t.Fatal(err)
	}
	got, err := (&storage.Local{Dir: dir}).List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := storage.Listing{
		Live:        []string{".hidden", "epoch_ending_0-0.meta", "link.meta", "notes.txt", "sub", "transaction_0-14.meta"},
		Moved:       []string{"epoch_ending_0-0.meta", "identity.meta"},
		MovedListed: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List =\n%+v\nwant\n%+v", got, want)
	}
}

func TestLocalListErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "metadata", []byte("not a folder"))
	_, err := (&storage.Local{Dir: dir}).List(t.Context())
	want := "list metadata: open " + filepath.Join(dir, "metadata") + ": not a directory"
	if errText(err) != want {
		t.Errorf("List = %q, want %q", errText(err), want)
	}

	ctx, cancel := contextCanceled(t)
	defer cancel()
	if _, err := (&storage.Local{Dir: t.TempDir()}).List(ctx); err == nil {
		t.Error("List with a canceled context succeeded")
	}
}

func TestLocalReadFile(t *testing.T) {
	dir := t.TempDir()
	two := gzipMembers(t, "first\n", "second\n")
	whole := gzipMembers(t, line)
	files := map[string][]byte{
		"metadata/plain.meta":             []byte(line),
		"metadata/empty.meta":             nil,
		"metadata/gzip.meta":              whole,
		"metadata/multi.meta":             two,
		"metadata/truncated.meta":         whole[:len(whole)-5],
		"metadata/big.meta":               []byte(strings.Repeat("x", 65)),
		"metadata/bomb.meta":              gzipMembers(t, strings.Repeat("\x00", 1<<20)),
		"metadata/.hidden":                []byte(line),
		"metadata/a..b":                   []byte(line),
		"metadata/sub/inner.meta":         []byte(line),
		"metadata_backup/moved.meta":      []byte(line),
		"metadata_backup/moved-gz.meta":   whole,
		"epoch_ending_0-.1a2b/x.manifest": []byte("{}"),
	}
	for rel, data := range files {
		writeFile(t, dir, rel, data)
	}
	meta := filepath.Join(dir, "metadata")
	if err := os.Symlink(filepath.Join(meta, "plain.meta"), filepath.Join(meta, "link.meta")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(meta, "dangling.meta")); err != nil {
		t.Fatal(err)
	}
	haveFifo := mkfifo(t, filepath.Join(meta, "fifo.meta"))

	const wantHandle = `: want "metadata/<name>" or "metadata_backup/<name>"`
	tests := []struct {
		handle  string
		max     int64
		want    string
		wantErr string
		is      error
	}{
		{handle: "metadata/plain.meta", want: line},
		{handle: "metadata/empty.meta", want: ""},
		{handle: "metadata/gzip.meta", want: line},
		{handle: "metadata/multi.meta", want: "first\nsecond\n"},
		{handle: "metadata/.hidden", want: line},
		{handle: "metadata/a..b", want: line},
		{handle: "metadata_backup/moved.meta", want: line},
		{handle: "metadata_backup/moved-gz.meta", want: line},
		{handle: "metadata/big.meta", max: 65, want: strings.Repeat("x", 65)},
		{
			handle: "metadata/big.meta", max: 64,
			wantErr: `read "metadata/big.meta": file too large: more than 64 bytes`, is: storage.ErrTooLarge,
		},
		{
			handle: "metadata/bomb.meta", max: 64 << 10,
			wantErr: `read "metadata/bomb.meta": file too large: more than 65536 bytes decompressed`, is: storage.ErrTooLarge,
		},
		{
			handle:  "metadata/truncated.meta",
			wantErr: `read "metadata/truncated.meta": corrupt gzip stream: unexpected EOF`, is: storage.ErrCorrupt,
		},
		{
			handle:  "metadata/link.meta",
			wantErr: `read "metadata/link.meta": not a regular file: ` + filepath.Join(meta, "link.meta") + " is a symbolic link", is: storage.ErrNotRegular,
		},
		{
			handle:  "metadata/dangling.meta",
			wantErr: `read "metadata/dangling.meta": not a regular file: ` + filepath.Join(meta, "dangling.meta") + " is a symbolic link", is: storage.ErrNotRegular,
		},
		{
			handle:  "metadata/sub",
			wantErr: `read "metadata/sub": not a regular file: ` + filepath.Join(meta, "sub") + " is a directory", is: storage.ErrNotRegular,
		},
		{
			handle:  "metadata/fifo.meta",
			wantErr: `read "metadata/fifo.meta": not a regular file: ` + filepath.Join(meta, "fifo.meta") + " is a named pipe", is: storage.ErrNotRegular,
		},
		{
			handle:  "metadata/missing.meta",
			wantErr: `read "metadata/missing.meta": open ` + filepath.Join(meta, "missing.meta") + ": no such file or directory", is: fs.ErrNotExist,
		},
		{handle: "metadata/sub/inner.meta", wantErr: `read: invalid handle "metadata/sub/inner.meta"` + wantHandle, is: aptos.ErrInvalidHandle},
		{handle: "metadata/../metadata/plain.meta", wantErr: `read: invalid handle "metadata/../metadata/plain.meta"` + wantHandle, is: aptos.ErrInvalidHandle},
		{handle: "metadata/..", wantErr: `read: invalid handle "metadata/.."` + wantHandle, is: aptos.ErrInvalidHandle},
		{handle: meta + "/plain.meta", wantErr: `read: invalid handle "` + meta + `/plain.meta"` + wantHandle, is: aptos.ErrInvalidHandle},
		{handle: "epoch_ending_0-.1a2b/x.manifest", wantErr: `read: invalid handle "epoch_ending_0-.1a2b/x.manifest"` + wantHandle, is: aptos.ErrInvalidHandle},
		{handle: "metadata/", wantErr: `read: invalid handle "metadata/"` + wantHandle, is: aptos.ErrInvalidHandle},
	}
	l := &storage.Local{Dir: dir}
	rd := l.Reader()
	defer rd.Close()
	// The reader of many files reads as the one-file ReadFile does.
	for _, src := range []struct {
		name string
		read func(ctx context.Context, handle string, max int64) ([]byte, error)
	}{{"Local", l.ReadFile}, {"LocalReader", rd.ReadFile}} {
		for _, tc := range tests {
			t.Run(src.name+"/"+tc.handle, func(t *testing.T) {
				if tc.handle == "metadata/fifo.meta" && !haveFifo {
					t.Skip("no named pipes on this system")
				}
				got, err := src.read(t.Context(), tc.handle, tc.max)
				if errText(err) != tc.wantErr {
					t.Fatalf("ReadFile error = %q\nwant %q", errText(err), tc.wantErr)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("ReadFile error %v does not wrap %v", err, tc.is)
				}
				if err == nil && string(got) != tc.want {
					t.Errorf("ReadFile = %q, want %q", got, tc.want)
				}
			})
		}
	}
}

// TestLocalReaderFolders: a folder missing when the reader opens it (a
// storage without metadata_backup/), or removed after, gives the error a
// path open gives, wrapping fs.ErrNotExist; a file replaced by a symbolic
// link after the reader opened its folder is still refused.
func TestLocalReaderFolders(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "metadata/a.meta", []byte(line))
	writeFile(t, dir, "metadata/b.meta", []byte(line))
	l := &storage.Local{Dir: dir}
	rd := l.Reader()
	got, err := rd.ReadFile(t.Context(), "metadata/a.meta", 0)
	if err != nil || string(got) != line {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
	moved := filepath.Join(dir, "metadata_backup", "a.meta")
	_, err = rd.ReadFile(t.Context(), "metadata_backup/a.meta", 0)
	if want := `read "metadata_backup/a.meta": open ` + moved + ": no such file or directory"; errText(err) != want || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile from a missing folder = %v, want %q wrapping fs.ErrNotExist", err, want)
	}
	b := filepath.Join(dir, "metadata", "b.meta")
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "metadata", "a.meta"), b); err != nil {
		t.Fatal(err)
	}
	_, err = rd.ReadFile(t.Context(), "metadata/b.meta", 0)
	if want := `read "metadata/b.meta": not a regular file: ` + b + " is a symbolic link"; errText(err) != want {
		t.Errorf("ReadFile of a link planted after the open = %q, want %q", errText(err), want)
	}
	if err := os.RemoveAll(filepath.Join(dir, "metadata")); err != nil {
		t.Fatal(err)
	}
	_, err = rd.ReadFile(t.Context(), "metadata/a.meta", 0)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile after the folder was removed = %v, want fs.ErrNotExist", err)
	}
	if err := rd.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	ctx, cancel := contextCanceled(t)
	defer cancel()
	rd2 := l.Reader()
	defer rd2.Close()
	if _, err := rd2.ReadFile(ctx, "metadata/a.meta", 0); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadFile with a canceled context = %v", err)
	}
}

func TestLocalReadFileGzipBinary(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "metadata/one.meta", gzipBinary(t, line))
	writeFile(t, dir, "metadata/two.meta", append(gzipBinary(t, "a\n"), gzipBinary(t, "b\n")...))
	l := &storage.Local{Dir: dir}
	for handle, want := range map[string]string{"metadata/one.meta": line, "metadata/two.meta": "a\nb\n"} {
		got, err := l.ReadFile(t.Context(), handle, 0)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("ReadFile(%q) = %q, want %q", handle, got, want)
		}
	}
}

// TestLocalReadFileBombMemory checks that a gzip bomb is refused without
// decompressing it: 16 MiB of zeros against a 64 KiB limit must not allocate
// anything near 16 MiB.
func TestLocalReadFileBombMemory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "metadata/bomb.meta", gzipMembers(t, strings.Repeat("\x00", 16<<20)))
	l := &storage.Local{Dir: dir}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := l.ReadFile(t.Context(), "metadata/bomb.meta", 64<<10)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, storage.ErrTooLarge) {
		t.Fatalf("ReadFile = %v, want ErrTooLarge", err)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 4<<20 {
		t.Errorf("ReadFile allocated %d bytes for a 64 KiB limit", allocated)
	}
}
