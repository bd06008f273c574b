package storage_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/metactl/metactl/aptos"
	"github.com/metactl/metactl/storage"
)

func requireBash(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash:", err)
	}
}

// adapter returns an adapter with the given commands and no env_vars.
func adapter(t *testing.T, cmds storage.Commands) *storage.CommandAdapter {
	t.Helper()
	requireBash(t)
	a, err := storage.NewCommandAdapter(storage.CommandAdapterConfig{Commands: cmds})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// sameCommand returns an adapter that runs cmd for every operation, as the
// A0eb tests' dummy_store does. Every "okay" in cmd becomes "metadata/okay",
// except in list_metadata_backup_files where it becomes
// "metadata_backup/okay", so that each output is a valid handle.
func sameCommand(t *testing.T, cmd string) *storage.CommandAdapter {
	live := strings.ReplaceAll(cmd, "okay", "metadata/okay")
	return adapter(t, storage.Commands{
		CreateBackup:            live,
		CreateForWrite:          live,
		OpenForRead:             live,
		SaveMetadataLine:        live,
		ListMetadataFiles:       live,
		BackupMetadataFile:      live,
		ListMetadataBackupFiles: strings.ReplaceAll(cmd, "okay", "metadata_backup/okay"),
	})
}

// opErrors runs every operation of a and returns their errors by name.
func opErrors(t *testing.T, a *storage.CommandAdapter) map[string]error {
	ctx := t.Context()
	_, listErr := a.List(ctx)
	_, readErr := a.ReadFile(ctx, "metadata/okay", 0)
	_, saveErr := a.SaveMetadataFile(ctx, "name", []byte("1234\n"))
	backupErr := a.BackupMetadataFile(ctx, "metadata/okay")
	return map[string]error{
		"list_metadata_files":  listErr,
		"open_for_read":        readErr,
		"save_metadata_line":   saveErr,
		"backup_metadata_file": backupErr,
	}
}

func assertCommandsError(t *testing.T, cmd string, wantInEveryError string) {
	t.Helper()
	for op, err := range opErrors(t, sameCommand(t, cmd)) {
		if err == nil {
			t.Errorf("%s succeeded for %q", op, cmd)
			continue
		}
		var ce *storage.CommandError
		if !errors.As(err, &ce) || ce.Op != op {
			t.Errorf("%s: error %q is not a CommandError for that op", op, err)
		}
		if !strings.Contains(err.Error(), wantInEveryError) {
			t.Errorf("%s: error %q does not contain %q", op, err, wantInEveryError)
		}
	}
}

func assertCommandsOkay(t *testing.T, cmd string) {
	t.Helper()
	a := sameCommand(t, cmd)
	ctx := t.Context()
	listing, err := a.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := storage.Listing{Live: []string{"okay"}, Moved: []string{"okay"}, MovedListed: true}
	if !reflect.DeepEqual(listing, want) {
		t.Errorf("List = %+v, want %+v", listing, want)
	}
	data, err := a.ReadFile(ctx, "metadata/okay", 0)
	if err != nil || string(data) != "metadata/okay\n" {
		t.Errorf("ReadFile = %q, %v; want %q", data, err, "metadata/okay\n")
	}
	handle, err := a.SaveMetadataFile(ctx, "name", []byte("1234\n"))
	if err != nil || handle != "metadata/okay" {
		t.Errorf("SaveMetadataFile = %q, %v; want %q", handle, err, "metadata/okay")
	}
	if err := a.BackupMetadataFile(ctx, "metadata/okay"); err != nil {
		t.Errorf("BackupMetadataFile: %v", err)
	}
}

// The error handling scenarios of command_adapter/tests.rs
// (docs/aptos-format.md §10 item 6).
func TestCommandAdapterUnprocessedError(t *testing.T) {
	assertCommandsError(t, "echo okay; exec 1>&-; false; cat > /dev/null", "exit status 1")
	errs := opErrors(t, sameCommand(t, "echo okay; exec 1>&-; false; cat > /dev/null"))
	for op, want := range map[string]string{
		"list_metadata_files":  "command adapter list_metadata_files: exit status 1",
		"open_for_read":        `command adapter open_for_read "metadata/okay": exit status 1`,
		"save_metadata_line":   `command adapter save_metadata_line "name": exit status 1`,
		"backup_metadata_file": `command adapter backup_metadata_file "metadata/okay": exit status 1`,
	} {
		if got := errText(errs[op]); got != want {
			t.Errorf("%s error = %q, want %q", op, got, want)
		}
	}
	// error processed
	assertCommandsOkay(t, "echo okay; exec 1>&-; false && true; cat > /dev/null")
}

func TestCommandAdapterUnsetEnvVar(t *testing.T) {
	const cmd = "echo $MYVAR2343u2 > /dev/null; echo okay; exec 1>&-; cat > /dev/null"
	t.Setenv("MYVAR2343u2", "")
	os.Unsetenv("MYVAR2343u2")
	assertCommandsError(t, cmd, "exit status 1: ")
	assertCommandsError(t, cmd, "MYVAR2343u2: unbound variable")

	t.Setenv("MYVAR2343u2", "hehe")
	assertCommandsOkay(t, cmd)
}

// Make sure errors in pipe processing are not ignored.
func TestCommandAdapterPipeFail(t *testing.T) {
	// pipe fail on stdout processing
	assertCommandsError(t, "echo okay | (cat; false) | cat; exec 1>&-; cat | (cat; true) | cat > /dev/null", "exit status 1")
	// pipe fail on stdin processing
	assertCommandsError(t, "echo okay | (cat; true) | cat; exec 1>&-; cat | (cat; false) | cat > /dev/null", "exit status 1")
	// no error in pipelines
	assertCommandsOkay(t, "echo okay | (cat; true) | cat; exec 1>&-; cat | (cat; true) | cat > /dev/null")
}

// TestCommandAdapterLocalFolderGzip runs the testdata config, a local-folder
// copy of the GCS sample that stores gzip, through a whole round trip.
func TestCommandAdapterLocalFolderGzip(t *testing.T) {
	requireBash(t)
	if _, err := exec.LookPath("gzip"); err != nil {
		t.Skip("no gzip:", err)
	}
	folder := t.TempDir()
	t.Setenv("FOLDER", folder)
	a, err := storage.LoadCommandAdapter(filepath.Join("testdata", "local_folder_gzip.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	listing, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (storage.Listing{Live: []string{}, Moved: []string{}, MovedListed: true}); !reflect.DeepEqual(listing, want) {
		t.Errorf("List of an empty folder = %+v, want %+v", listing, want)
	}

	big := strings.Repeat(line, 20000) // ~1 MiB: more than any pipe buffer
	files := map[string]string{
		"epoch_ending_0-0.meta":      line,
		"transaction_0-14.meta":      "a\nb\n",
		"transaction_compacted.meta": big,
		"empty.meta":                 "",
	}
	for name, content := range files {
		handle, err := a.SaveMetadataFile(ctx, name, []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		if want := "metadata/" + name; handle != want {
			t.Errorf("SaveMetadataFile(%q) = %q, want %q", name, handle, want)
		}
		raw, err := os.ReadFile(filepath.Join(folder, "e1", "metadata", name))
		if err != nil {
			t.Fatal(err)
		}
		if !storage.IsGzip(raw) {
			t.Errorf("%s is stored as %q, not gzip", name, raw[:min(len(raw), 16)])
		}
	}

	listing, err = a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := storage.Listing{
		Live:        []string{"empty.meta", "epoch_ending_0-0.meta", "transaction_0-14.meta", "transaction_compacted.meta"},
		Moved:       []string{},
		MovedListed: true,
	}
	if !reflect.DeepEqual(listing, want) {
		t.Errorf("List =\n%+v\nwant\n%+v", listing, want)
	}
	for name, content := range files {
		got, err := a.ReadFile(ctx, "metadata/"+name, 0)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("ReadFile(%q) = %d bytes, want %d", name, len(got), len(content))
		}
	}

	for _, name := range []string{"epoch_ending_0-0.meta", "transaction_0-14.meta"} {
		if err := a.BackupMetadataFile(ctx, "metadata/"+name); err != nil {
			t.Fatal(err)
		}
	}
	listing, err = a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want = storage.Listing{
		Live:        []string{"empty.meta", "transaction_compacted.meta"},
		Moved:       []string{"epoch_ending_0-0.meta", "transaction_0-14.meta"},
		MovedListed: true,
	}
	if !reflect.DeepEqual(listing, want) {
		t.Errorf("List after backup =\n%+v\nwant\n%+v", listing, want)
	}
	got, err := a.ReadFile(ctx, "metadata_backup/transaction_0-14.meta", 0)
	if err != nil || string(got) != "a\nb\n" {
		t.Errorf("ReadFile of a moved file = %q, %v", got, err)
	}

	// The same folder read as LocalFs: gzip files with .meta names.
	local, err := storage.NewLocal(filepath.Join(folder, "e1"))
	if err != nil {
		t.Fatal(err)
	}
	localListing, err := local.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(localListing, want) {
		t.Errorf("Local List =\n%+v\nwant\n%+v", localListing, want)
	}
	got, err = local.ReadFile(ctx, "metadata/transaction_compacted.meta", 0)
	if err != nil || string(got) != big {
		t.Errorf("Local ReadFile = %d bytes, %v", len(got), err)
	}

	// Moving a file that is not there fails with mv's message.
	err = a.BackupMetadataFile(ctx, "metadata/epoch_ending_0-0.meta")
	if err == nil || !strings.HasPrefix(err.Error(), `command adapter backup_metadata_file "metadata/epoch_ending_0-0.meta": exit status 1: mv: `) {
		t.Errorf("BackupMetadataFile of a moved file = %v", err)
	}
}

func TestCommandAdapterList(t *testing.T) {
	tests := []struct {
		name    string
		live    string // list_metadata_files
		moved   string // list_metadata_backup_files, "" for none
		want    storage.Listing
		wantErr string
	}{
		{
			name: "nothing",
			live: "true",
			want: storage.Listing{Live: []string{}, Moved: []string{}},
		},
		{
			name: "sorted, CRLF, duplicates once, no final newline",
			live: `printf 'metadata/b.meta\r\nmetadata/a.meta\nmetadata/a.meta\nmetadata/.hidden'`,
			want: storage.Listing{Live: []string{".hidden", "a.meta", "b.meta"}, Moved: []string{}},
		},
		{
			name: "a lone CR stays",
			live: `printf 'metadata/a.meta\r'`,
			want: storage.Listing{Live: []string{"a.meta\r"}, Moved: []string{}},
		},
		{
			name:  "moved names and handles",
			live:  "echo metadata/c.meta",
			moved: `printf 'x.meta\nmetadata_backup/c.meta\n'`,
			want:  storage.Listing{Live: []string{"c.meta"}, Moved: []string{"c.meta", "x.meta"}, MovedListed: true},
		},
		{
			name:  "moved empty",
			live:  "true",
			moved: "true",
			want:  storage.Listing{Live: []string{}, Moved: []string{}, MovedListed: true},
		},
		{
			name:    "not a metadata handle",
			live:    `printf 'metadata/a.meta\nepoch_ending_0-.1a2b/epoch_ending.manifest\n'`,
			wantErr: `command adapter list_metadata_files: line 2: "epoch_ending_0-.1a2b/epoch_ending.manifest" is not a "metadata/<name>" handle`,
		},
		{
			name:    "a bare name",
			live:    "echo a.meta",
			wantErr: `command adapter list_metadata_files: line 1: "a.meta" is not a "metadata/<name>" handle`,
		},
		{
			name:    "an empty line",
			live:    `printf 'metadata/a.meta\n\n'`,
			wantErr: `command adapter list_metadata_files: line 2: "" is not a "metadata/<name>" handle`,
		},
		{
			name:    "a nested handle",
			live:    "echo metadata/sub/a.meta",
			wantErr: `command adapter list_metadata_files: line 1: "metadata/sub/a.meta" is not a "metadata/<name>" handle`,
		},
		{
			name:    "a dot-dot handle",
			live:    "echo metadata/..",
			wantErr: `command adapter list_metadata_files: line 1: "metadata/.." is not a "metadata/<name>" handle`,
		},
		{
			name:    "a live handle among moved ones",
			live:    "true",
			moved:   "echo metadata/a.meta",
			wantErr: `command adapter list_metadata_backup_files: line 1: "metadata/a.meta" is neither a file name nor a "metadata_backup/<name>" handle`,
		},
		{
			name:    "listing fails",
			live:    "echo metadata/a.meta; echo 'AccessDenied: no permission' >&2; exit 7",
			wantErr: "command adapter list_metadata_files: exit status 7: AccessDenied: no permission",
		},
		{
			name:    "moved listing fails",
			live:    "true",
			moved:   "echo 'BucketNotFound' >&2; exit 2",
			wantErr: "command adapter list_metadata_backup_files: exit status 2: BucketNotFound",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := adapter(t, storage.Commands{ListMetadataFiles: tc.live, ListMetadataBackupFiles: tc.moved})
			got, err := a.List(t.Context())
			if errText(err) != tc.wantErr {
				t.Fatalf("List error = %q\nwant %q", errText(err), tc.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("List = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCommandAdapterReadFile(t *testing.T) {
	folder := t.TempDir()
	t.Setenv("FOLDER", folder)
	whole := gzipMembers(t, line)
	writeFile(t, folder, "metadata/gzip.meta", whole)
	writeFile(t, folder, "metadata/multi.meta", gzipMembers(t, "a\n", "b\n"))
	writeFile(t, folder, "metadata/truncated.meta", whole[:len(whole)-5])
	writeFile(t, folder, "metadata/plain.meta", []byte(line))
	writeFile(t, folder, "metadata_backup/moved.meta", whole)
	const catFile = `cat "$FOLDER/$FILE_HANDLE"`
	const want = `: want "metadata/<name>" or "metadata_backup/<name>"`

	tests := []struct {
		name    string
		cmd     string
		handle  string
		max     int64
		want    string
		wantErr string
		is      error
	}{
		{name: "stored gzip is decompressed", cmd: catFile, handle: "metadata/gzip.meta", want: line},
		{name: "multi-member gzip", cmd: catFile, handle: "metadata/multi.meta", want: "a\nb\n"},
		{name: "plain", cmd: catFile, handle: "metadata/plain.meta", want: line},
		{name: "moved file", cmd: catFile, handle: "metadata_backup/moved.meta", want: line},
		{name: "gzip -cd as in the samples", cmd: `gzip -cd < "$FOLDER/$FILE_HANDLE"`, handle: "metadata/gzip.meta", want: line},
		{
			name: "parameters win over env_vars and the environment", handle: "metadata/plain.meta",
			cmd:  `echo "$FILE_HANDLE $FROM_CONFIG $FOLDER"`,
			want: "metadata/plain.meta config " + folder + "\n",
		},
		{
			name: "missing file", cmd: catFile, handle: "metadata/missing.meta",
			wantErr: `command adapter open_for_read "metadata/missing.meta": exit status 1: cat: ` + folder + "/metadata/missing.meta: No such file or directory",
		},
		{
			name: "truncated gzip", cmd: catFile, handle: "metadata/truncated.meta",
			wantErr: `command adapter open_for_read "metadata/truncated.meta": corrupt gzip stream: unexpected EOF`, is: storage.ErrCorrupt,
		},
		{
			name: "too large plain", cmd: "head -c 100000 /dev/zero", handle: "metadata/x.meta", max: 1000,
			wantErr: `command adapter open_for_read "metadata/x.meta": file too large: more than 1000 bytes`, is: storage.ErrTooLarge,
		},
		{
			name: "endless output is stopped", cmd: "yes", handle: "metadata/x.meta", max: 1 << 20,
			wantErr: `command adapter open_for_read "metadata/x.meta": file too large: more than 1048576 bytes`, is: storage.ErrTooLarge,
		},
		{
			name: "gzip bomb", cmd: `head -c 10000000 /dev/zero | gzip -c`, handle: "metadata/x.meta", max: 64 << 10,
			wantErr: `command adapter open_for_read "metadata/x.meta": file too large: more than 65536 bytes decompressed`, is: storage.ErrTooLarge,
		},
		{
			name: "output then failure", cmd: "echo partial; exit 4", handle: "metadata/x.meta",
			wantErr: `command adapter open_for_read "metadata/x.meta": exit status 4`,
		},
		{
			name: "not a metadata handle", cmd: "echo never run", handle: "../x",
			wantErr: `command adapter open_for_read: invalid handle "../x"` + want, is: aptos.ErrInvalidHandle,
		},
		{
			name: "name not shell safe", cmd: "echo never run", handle: "metadata/a *",
			wantErr: `command adapter open_for_read "metadata/a *": illegal file name "a *": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`, is: aptos.ErrIllegalName,
		},
		{
			name: "dotfile not shell safe", cmd: "echo never run", handle: "metadata/.hidden",
			wantErr: `command adapter open_for_read "metadata/.hidden": illegal file name ".hidden": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`, is: aptos.ErrIllegalName,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requireBash(t)
			a, err := storage.NewCommandAdapter(storage.CommandAdapterConfig{
				EnvVars:  []storage.EnvVar{{"FROM_CONFIG", "config"}, {"FILE_HANDLE", "from config"}},
				Commands: storage.Commands{OpenForRead: tc.cmd},
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.ReadFile(t.Context(), tc.handle, tc.max)
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

func TestCommandAdapterConfigEnvOverridesProcessEnv(t *testing.T) {
	requireBash(t)
	t.Setenv("SUB_DIR", "from-process")
	a, err := storage.NewCommandAdapter(storage.CommandAdapterConfig{
		EnvVars:  []storage.EnvVar{{"SUB_DIR", "e1"}},
		Commands: storage.Commands{OpenForRead: `echo "$SUB_DIR"`},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.ReadFile(t.Context(), "metadata/x.meta", 0)
	if err != nil || string(got) != "e1\n" {
		t.Errorf("ReadFile = %q, %v; want %q", got, err, "e1\n")
	}
}

func TestCommandAdapterSaveMetadataFile(t *testing.T) {
	folder := t.TempDir()
	t.Setenv("FOLDER", folder)
	tests := []struct {
		name       string
		cmd        string
		file       string
		want       string
		wantErr    string
		wantStored bool
	}{
		{
			name: "handle trimmed, content stored",
			cmd:  `printf 'metadata/%s \n\n' "$FILE_NAME"; exec 1>&-; cat > "$FOLDER/$FILE_NAME"`,
			file: "a.meta", want: "metadata/a.meta", wantStored: true,
		},
		{
			name: "no handle printed",
			cmd:  `exec 1>&-; cat > "$FOLDER/$FILE_NAME"`,
			file: "b.meta", want: "", wantStored: true,
		},
		{
			name: "two handles as in the A0eb test config",
			cmd:  `echo "metadata/$FILE_NAME"; echo "metadata/$FILE_NAME"; exec 1>&-; cat > /dev/null`,
			file: "c.meta", want: "metadata/c.meta\nmetadata/c.meta",
		},
		{
			name:    "illegal name",
			cmd:     "echo never run",
			file:    ".hidden",
			wantErr: `command adapter save_metadata_line: illegal file name ".hidden": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`,
		},
		{
			name:    "write fails",
			cmd:     `echo "metadata/$FILE_NAME"; exec 1>&-; cat > /dev/null; echo 'disk full' >&2; exit 1`,
			file:    "d.meta",
			wantErr: `command adapter save_metadata_line "d.meta": exit status 1: disk full`,
		},
		{
			name:    "handle output too long",
			cmd:     "head -c 100000 /dev/zero; exec 1>&-; cat > /dev/null",
			file:    "e.meta",
			wantErr: `command adapter save_metadata_line "e.meta": stdout longer than 65536 bytes`,
		},
	}
	content := []byte(line + line)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := adapter(t, storage.Commands{SaveMetadataLine: tc.cmd})
			got, err := a.SaveMetadataFile(t.Context(), tc.file, content)
			if errText(err) != tc.wantErr {
				t.Fatalf("SaveMetadataFile error = %q\nwant %q", errText(err), tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Errorf("SaveMetadataFile = %q, want %q", got, tc.want)
			}
			if tc.wantStored {
				stored, err := os.ReadFile(filepath.Join(folder, tc.file))
				if err != nil || !bytes.Equal(stored, content) {
					t.Errorf("stored %q, %v; want %q", stored, err, content)
				}
			}
		})
	}
}

// TestCommandAdapterSaveDeadlock: a save command that reads stdin before it
// closes stdout breaks the stdout contract and would wait forever (as it does
// under Aptos); a deadline on ctx must end it.
func TestCommandAdapterSaveDeadlock(t *testing.T) {
	a := adapter(t, storage.Commands{SaveMetadataLine: `cat > /dev/null; echo "metadata/$FILE_NAME"`})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.SaveMetadataFile(ctx, "name.meta", []byte(line))
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("SaveMetadataFile took %v", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SaveMetadataFile = %v, want DeadlineExceeded", err)
	}
	want := `command adapter save_metadata_line "name.meta": context deadline exceeded while waiting for stdout to close (save_metadata_line must print the handle and run ` + "`exec 1>&-`" + ` before reading stdin)`
	if err.Error() != want {
		t.Errorf("SaveMetadataFile = %q, want %q", err, want)
	}
}

// TestCommandAdapterCancelKillsGroup: when ctx ends, the whole pipeline dies,
// not only bash; a surviving `sleep` would hold stdout open for 30 seconds.
func TestCommandAdapterCancelKillsGroup(t *testing.T) {
	a := adapter(t, storage.Commands{
		OpenForRead:       "sleep 30 | cat",
		ListMetadataFiles: "echo metadata/a.meta; sleep 30",
	})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, readErr := a.ReadFile(ctx, "metadata/x.meta", 0)
	_, listErr := a.List(ctx)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("calls took %v after the deadline", elapsed)
	}
	for _, err := range []error{readErr, listErr} {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want DeadlineExceeded", err)
		}
	}

	canceled, cancel2 := contextCanceled(t)
	defer cancel2()
	_, err := a.List(canceled)
	if want := "command adapter list_metadata_files: context canceled"; errText(err) != want {
		t.Errorf("List with a canceled context = %q, want %q", errText(err), want)
	}
}

func TestCommandAdapterBackupMetadataFile(t *testing.T) {
	none := adapter(t, storage.Commands{})
	err := none.BackupMetadataFile(t.Context(), "metadata/a.meta")
	if !errors.Is(err, storage.ErrNoBackupCommand) || err.Error() != "command adapter config has no backup_metadata_file command" {
		t.Errorf("BackupMetadataFile without the command = %v", err)
	}

	folder := t.TempDir()
	t.Setenv("FOLDER", folder)
	a := adapter(t, storage.Commands{BackupMetadataFile: `echo ignored; echo "$FILE_NAME" >> "$FOLDER/moved"`})
	tests := []struct {
		handle  string
		wantErr string
	}{
		{"metadata/a.meta", ""},
		{"metadata_backup/a.meta", `command adapter backup_metadata_file "metadata_backup/a.meta": invalid handle: only "metadata/<name>" files can be moved`},
		{"metadata/a b", `command adapter backup_metadata_file "metadata/a b": illegal file name "a b": want 3 to 127 of [A-Za-z0-9._-], starting with a letter or digit`},
		{"a.meta", `command adapter backup_metadata_file: invalid handle "a.meta": want "metadata/<name>" or "metadata_backup/<name>"`},
	}
	for _, tc := range tests {
		err := a.BackupMetadataFile(t.Context(), tc.handle)
		if errText(err) != tc.wantErr {
			t.Errorf("BackupMetadataFile(%q) = %q\nwant %q", tc.handle, errText(err), tc.wantErr)
		}
	}
	moved, err := os.ReadFile(filepath.Join(folder, "moved"))
	if err != nil || string(moved) != "a.meta\n" {
		t.Errorf("FILE_NAME seen by the command = %q, %v", moved, err)
	}
}

func TestCommandAdapterStderr(t *testing.T) {
	const cmd = `for i in $(seq 1 2000); do echo "stderr line $i" >&2; done; exit 3`
	a := adapter(t, storage.Commands{ListMetadataFiles: cmd})
	var forwarded bytes.Buffer
	a.Stderr = &forwarded
	_, err := a.List(t.Context())
	var ce *storage.CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("List = %v, want a CommandError", err)
	}
	if !strings.HasPrefix(ce.Stderr, "...") || !strings.HasSuffix(ce.Stderr, "stderr line 2000") || len(ce.Stderr) > 4<<10+3 {
		t.Errorf("Stderr tail = %d bytes: %.40q...%q", len(ce.Stderr), ce.Stderr, ce.Stderr[max(0, len(ce.Stderr)-20):])
	}
	if !strings.HasPrefix(err.Error(), "command adapter list_metadata_files: exit status 3: ...") {
		t.Errorf("error = %.80q", err)
	}
	if !strings.HasPrefix(forwarded.String(), "stderr line 1\n") || !strings.HasSuffix(forwarded.String(), "stderr line 2000\n") {
		t.Errorf("forwarded stderr = %.40q", forwarded.String())
	}
}

// TestCommandAdapterStaleLocalFolderSample: the newest upstream
// local_folder.sample.yaml writes env_vars as a map (parsed as an extension)
// and its save_metadata_line prints no handle and never closes stdout, so
// it blocks under Aptos V's stdout-first contract. metactl must end it at
// the deadline with a hint.
func TestCommandAdapterStaleLocalFolderSample(t *testing.T) {
	requireBash(t)
	folder := t.TempDir()
	a, err := storage.ParseCommandAdapter([]byte(`
env_vars:
  FOLDER: "` + folder + `"
commands:
  create_backup: 'cd "$FOLDER" && mkdir $BACKUP_NAME && echo $BACKUP_NAME'
  create_for_write: 'cd "$FOLDER" && cd "$BACKUP_HANDLE" && test ! -f $FILE_NAME && touch $FILE_NAME && echo $BACKUP_HANDLE/$FILE_NAME && exec >&- && gzip -c > $FILE_NAME'
  open_for_read: 'cat "$FOLDER/$FILE_HANDLE" | gzip -cd'
  save_metadata_line: 'cd "$FOLDER" && mkdir -p metadata && gzip -c > metadata/$FILE_NAME'
  list_metadata_files: 'cd "$FOLDER" && (test -d metadata && cd metadata && ls -1 || exec) | while read f; do echo metadata/$f; done'
`))
	if err != nil {
		t.Fatal(err)
	}
	if a.CanBackup() {
		t.Error("CanBackup = true for a config without backup_metadata_file")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = a.SaveMetadataFile(ctx, "epoch_ending_0-0.meta", []byte(line))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "while waiting for stdout to close") {
		t.Errorf("SaveMetadataFile = %v, want a deadline error with a hint", err)
	}

	// Reading works with it: write a gzip file the way it would.
	writeFile(t, folder, "metadata/epoch_ending_0-0.meta", gzipMembers(t, line))
	listing, err := a.List(t.Context())
	if err != nil || !reflect.DeepEqual(listing.Live, []string{"epoch_ending_0-0.meta"}) || listing.MovedListed {
		t.Errorf("List = %+v, %v", listing, err)
	}
	got, err := a.ReadFile(t.Context(), "metadata/epoch_ending_0-0.meta", 0)
	if err != nil || string(got) != line {
		t.Errorf("ReadFile = %q, %v", got, err)
	}
}

// TestCommandAdapterTimeout: a call that hangs is killed with its whole
// process group when its timeout runs out, and the error names the call
// and its handle. The sleeps run in a pipeline, so a surviving child would
// hold stdout open and the call would not return.
func TestCommandAdapterTimeout(t *testing.T) {
	a := sameCommand(t, "sleep 600 | cat; echo okay")
	a.Timeouts = storage.Uniform(100 * time.Millisecond)
	want := map[string]string{
		"list_metadata_files":  `command adapter list_metadata_files: no answer within 100ms, process group killed`,
		"open_for_read":        `command adapter open_for_read "metadata/okay": no answer within 100ms, process group killed`,
		"save_metadata_line":   `command adapter save_metadata_line "name": no answer within 100ms, process group killed while waiting for stdout to close (save_metadata_line must print the handle and run ` + "`exec 1>&-`" + ` before reading stdin)`,
		"backup_metadata_file": `command adapter backup_metadata_file "metadata/okay": no answer within 100ms, process group killed`,
	}
	for op, err := range opErrors(t, a) {
		var te *storage.TimeoutError
		if !errors.As(err, &te) {
			t.Errorf("%s: error %v is not a TimeoutError", op, err)
		}
		if errText(err) != want[op] {
			t.Errorf("%s: error\n%s\nwant\n%s", op, errText(err), want[op])
		}
	}
	// Each kind of call has its own limit.
	a.Timeouts = storage.Timeouts{Read: 100 * time.Millisecond}
	if _, err := a.ReadFile(t.Context(), "metadata/okay", 0); !errors.As(err, new(*storage.TimeoutError)) {
		t.Errorf("ReadFile with a short Read timeout = %v, want a TimeoutError", err)
	}
}
