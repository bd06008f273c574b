package storage_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/metactl/metactl/storage"
)

// allCommands is a commands section with every required key.
const allCommands = `
commands:
  create_backup: 'echo "$BACKUP_NAME"'
  create_for_write: 'echo w'
  open_for_read: 'cat "$FOLDER/$FILE_HANDLE"'
  save_metadata_line: 'echo s'
  list_metadata_files: 'echo l'
`

func TestParseCommandAdapter(t *testing.T) {
	required := storage.Commands{
		CreateBackup:      `echo "$BACKUP_NAME"`,
		CreateForWrite:    "echo w",
		OpenForRead:       `cat "$FOLDER/$FILE_HANDLE"`,
		SaveMetadataLine:  "echo s",
		ListMetadataFiles: "echo l",
	}
	withOptional := required
	withOptional.BackupMetadataFile = "mv a b"
	withOptional.ListMetadataBackupFiles = "ls"

	tests := []struct {
		name    string
		yaml    string
		want    storage.CommandAdapterConfig
		wantErr string
	}{
		{
			name: "empty env_vars list",
			yaml: "env_vars: []\n" + allCommands,
			want: storage.CommandAdapterConfig{EnvVars: []storage.EnvVar{}, Commands: required},
		},
		{
			name: "env_vars list as Aptos reads it",
			yaml: "env_vars:\n  - key: BUCKET\n    value: my-bucket\n  - key: \"SUB_DIR\"\n    value: \"e1\"\n" + allCommands,
			want: storage.CommandAdapterConfig{
				EnvVars:  []storage.EnvVar{{"BUCKET", "my-bucket"}, {"SUB_DIR", "e1"}},
				Commands: required,
			},
		},
		{
			name: "env_vars map as the stale local_folder sample writes it",
			yaml: "env_vars:\n  FOLDER: /tmp/backup\n  SUB_DIR: e1\n" + allCommands,
			want: storage.CommandAdapterConfig{
				EnvVars:  []storage.EnvVar{{"FOLDER", "/tmp/backup"}, {"SUB_DIR", "e1"}},
				Commands: required,
			},
		},
		{
			name: "empty env_vars map",
			yaml: "env_vars: {}\n" + allCommands,
			want: storage.CommandAdapterConfig{EnvVars: []storage.EnvVar{}, Commands: required},
		},
		{
			name: "scalar values taken as written",
			yaml: "env_vars:\n  - key: AWS_MAX_ATTEMPTS\n    value: 100\n  - key: FLAG\n    value: yes\n" + allCommands,
			want: storage.CommandAdapterConfig{
				EnvVars:  []storage.EnvVar{{"AWS_MAX_ATTEMPTS", "100"}, {"FLAG", "yes"}},
				Commands: required,
			},
		},
		{
			name: "optional commands and unknown keys",
			yaml: "env_vars: []\nversion: 3\nextra: {a: [1, 2]}\n" + allCommands +
				"  backup_metadata_file: 'mv a b'\n  list_metadata_backup_files: ls\n  some_future_command: 'true'\n",
			want: storage.CommandAdapterConfig{EnvVars: []storage.EnvVar{}, Commands: withOptional},
		},
		{
			name: "null optional command is absent",
			yaml: "env_vars: []\n" + allCommands + "  backup_metadata_file:\n",
			want: storage.CommandAdapterConfig{EnvVars: []storage.EnvVar{}, Commands: required},
		},
		{
			name: "anchors and aliases",
			yaml: "env_vars: []\ncommands:\n  create_backup: &same 'echo okay'\n  create_for_write: *same\n  open_for_read: *same\n  save_metadata_line: *same\n  list_metadata_files: *same\n",
			want: storage.CommandAdapterConfig{EnvVars: []storage.EnvVar{}, Commands: storage.Commands{
				CreateBackup: "echo okay", CreateForWrite: "echo okay", OpenForRead: "echo okay",
				SaveMetadataLine: "echo okay", ListMetadataFiles: "echo okay",
			}},
		},
		{
			name:    "missing env_vars",
			yaml:    allCommands,
			wantErr: `command adapter config: missing required key env_vars (write "env_vars: []" for none)`,
		},
		{
			name:    "null env_vars",
			yaml:    "env_vars:\n" + allCommands,
			wantErr: `command adapter config: missing required key env_vars (write "env_vars: []" for none)`,
		},
		{
			name:    "empty document",
			yaml:    "",
			wantErr: `command adapter config: missing required key env_vars (write "env_vars: []" for none)`,
		},
		{
			name:    "missing commands",
			yaml:    "env_vars: []\n",
			wantErr: "command adapter config: missing required key commands",
		},
		{
			name:    "missing one command",
			yaml:    "env_vars: []\ncommands:\n  create_backup: a\n  create_for_write: b\n  open_for_read: c\n  save_metadata_line: d\n",
			wantErr: "command adapter config: missing required key commands.list_metadata_files",
		},
		{
			name:    "missing several commands",
			yaml:    "env_vars: []\ncommands:\n  create_backup: a\n  open_for_read: c\n  save_metadata_line:\n",
			wantErr: "command adapter config: missing required keys commands.create_for_write, commands.save_metadata_line, commands.list_metadata_files",
		},
		{
			name:    "commands not a mapping",
			yaml:    "env_vars: []\ncommands: [a, b]\n",
			wantErr: "command adapter config: line 2: cannot unmarshal !!seq where commands belongs (a mapping)",
		},
		{
			name:    "command not a string",
			yaml:    "env_vars: []\n" + allCommands + "  backup_metadata_file: [mv, a, b]\n",
			wantErr: "command adapter config: line 9: cannot unmarshal !!seq where a string belongs",
		},
		{
			name:    "duplicate command",
			yaml:    "env_vars: []\n" + allCommands + "  open_for_read: 'cat'\n",
			wantErr: `command adapter config: line 9: mapping key "open_for_read" already defined at line 6`,
		},
		{
			name:    "env_vars scalar",
			yaml:    "env_vars: FOLDER=/tmp\n" + allCommands,
			wantErr: `command adapter config: env_vars: want a list of {key, value} mappings, got the scalar "FOLDER=/tmp"`,
		},
		{
			name:    "env_vars entry missing value",
			yaml:    "env_vars:\n  - key: A\n    value: b\n  - key: FOLDER\n" + allCommands,
			wantErr: "command adapter config: env_vars[1]: missing required key value",
		},
		{
			name:    "env_vars entry missing key",
			yaml:    "env_vars:\n  - value: b\n" + allCommands,
			wantErr: "command adapter config: env_vars[0]: missing required key key",
		},
		{
			name:    "env_vars entry not a mapping",
			yaml:    "env_vars:\n  - FOLDER=/tmp\n" + allCommands,
			wantErr: "command adapter config: line 2: cannot unmarshal !!str `FOLDER=...` where an env_vars entry belongs (a mapping with key and value)",
		},
		{
			name:    "env_vars value a list",
			yaml:    "env_vars:\n  - key: A\n    value: [1]\n" + allCommands,
			wantErr: "command adapter config: line 3: cannot unmarshal !!seq where a string belongs",
		},
		{
			name:    "env_vars key with =",
			yaml:    "env_vars:\n  - key: A=B\n    value: c\n" + allCommands,
			wantErr: `command adapter config: env_vars[0]: invalid environment variable name "A=B"`,
		},
		{
			name:    "env_vars empty key",
			yaml:    "env_vars:\n  - key: ''\n    value: c\n" + allCommands,
			wantErr: `command adapter config: env_vars[0]: invalid environment variable name ""`,
		},
		{
			name:    "env_vars map null value",
			yaml:    "env_vars:\n  FOLDER:\n" + allCommands,
			wantErr: "command adapter config: env_vars.FOLDER: want a string, got null",
		},
		{
			name:    "env_vars map duplicate key",
			yaml:    "env_vars:\n  A: x\n  A: y\n" + allCommands,
			wantErr: `command adapter config: line 3: mapping key "A" already defined at line 2`,
		},
		{
			name:    "top level a list",
			yaml:    "- env_vars\n- commands\n",
			wantErr: "command adapter config: line 1: cannot unmarshal !!seq where the config belongs (a mapping with env_vars and commands)",
		},
		{
			name:    "not YAML",
			yaml:    "env_vars: [\n",
			wantErr: "command adapter config: yaml: line 1: did not find expected node content",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := storage.ParseCommandAdapter([]byte(tc.yaml))
			if errText(err) != tc.wantErr {
				t.Fatalf("ParseCommandAdapter error = %q\nwant %q", errText(err), tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := a.Config(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Config =\n%+v\nwant\n%+v", got, tc.want)
			}
			if got, want := a.CanBackup(), tc.want.Commands.BackupMetadataFile != ""; got != want {
				t.Errorf("CanBackup = %v, want %v", got, want)
			}
		})
	}
}

func TestLoadCommandAdapter(t *testing.T) {
	a, err := storage.LoadCommandAdapter(filepath.Join("testdata", "local_folder_gzip.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := a.Config()
	if want := []storage.EnvVar{{"SUB_DIR", "e1"}}; !reflect.DeepEqual(cfg.EnvVars, want) {
		t.Errorf("EnvVars = %+v, want %+v", cfg.EnvVars, want)
	}
	if !a.CanBackup() || cfg.Commands.ListMetadataBackupFiles == "" {
		t.Errorf("testdata config lacks backup_metadata_file or list_metadata_backup_files: %+v", cfg.Commands)
	}

	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("env_vars: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		missing: "load command adapter config: open " + missing + ": no such file or directory",
		bad:     `command adapter config "` + bad + `": missing required key commands`,
	} {
		_, err := storage.LoadCommandAdapter(path)
		if errText(err) != want {
			t.Errorf("LoadCommandAdapter(%q) = %q, want %q", path, errText(err), want)
		}
	}
}

func TestNewCommandAdapterBadEnv(t *testing.T) {
	_, err := storage.NewCommandAdapter(storage.CommandAdapterConfig{EnvVars: []storage.EnvVar{{"OK", "1"}, {"A=B", "x"}}})
	want := `command adapter config: env_vars[1]: invalid environment variable name "A=B"`
	if errText(err) != want {
		t.Errorf("NewCommandAdapter = %q, want %q", errText(err), want)
	}
}

// FuzzParseCommandAdapter: any input parses or is refused with an error
// naming the config, never a panic; an accepted config has valid
// environment names and parses to the same config again.
func FuzzParseCommandAdapter(f *testing.F) {
	for _, seed := range []string{
		"env_vars: []\n" + allCommands,
		"env_vars:\n  - key: A\n    value: 1\n" + allCommands,
		"env_vars:\n  A: x\n  B: y\n" + allCommands + "  backup_metadata_file: mv\n",
		"env_vars: {}\ncommands:\n  create_backup: &a x\n  create_for_write: *a\n  open_for_read: *a\n  save_metadata_line: *a\n  list_metadata_files: *a\n",
		"- a\n", "env_vars: [\n", "",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := storage.ParseCommandAdapter(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "command adapter config") {
				t.Fatalf("error %q does not name the config", err)
			}
			return
		}
		cfg := a.Config()
		for _, e := range cfg.EnvVars {
			if e.Key == "" || strings.ContainsAny(e.Key, "=\x00") {
				t.Fatalf("accepted env name %q", e.Key)
			}
		}
		b, err := storage.ParseCommandAdapter(data)
		if err != nil || !reflect.DeepEqual(b.Config(), cfg) {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}
