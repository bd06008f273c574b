package storage

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Command names: the keys under "commands" in an Aptos command adapter config
// (docs/aptos-format.md §9.1), plus metactl's one extension. They also name
// the operation in errors.
const (
	cmdCreateBackup            = "create_backup"
	cmdCreateForWrite          = "create_for_write"
	cmdOpenForRead             = "open_for_read"
	cmdSaveMetadataLine        = "save_metadata_line"
	cmdListMetadataFiles       = "list_metadata_files"
	cmdBackupMetadataFile      = "backup_metadata_file"
	cmdListMetadataBackupFiles = "list_metadata_backup_files" // metactl extension
)

// EnvVar is one entry of a config's env_vars.
type EnvVar struct {
	Key   string
	Value string
}

// Commands holds the bash snippets of a command adapter config.
type Commands struct {
	CreateBackup      string
	CreateForWrite    string
	OpenForRead       string
	SaveMetadataLine  string
	ListMetadataFiles string
	// BackupMetadataFile is optional: "" when the config has none (older
	// sample configs), and then moving files is impossible.
	BackupMetadataFile string
	// ListMetadataBackupFiles is metactl's optional extension: it prints the
	// files in metadata_backup/, one name or "metadata_backup/<name>"
	// handle per line. Aptos ignores the key.
	ListMetadataBackupFiles string
}

// CommandAdapterConfig is a parsed command adapter config.
type CommandAdapterConfig struct {
	// EnvVars are added to every command's environment, in order, after
	// the process environment and before the call's own variables.
	EnvVars  []EnvVar
	Commands Commands
}

// ErrBadConfig is returned (wrapped) by [LoadCommandAdapter] and
// [ParseCommandAdapter] for a config that cannot be used: bad YAML, a
// missing or mistyped key, a bad environment variable name.
var ErrBadConfig = errors.New("bad command adapter config")

// badConfig marks err as an [ErrBadConfig] without changing its message.
type badConfig struct{ err error }

func (e badConfig) Error() string   { return e.err.Error() }
func (e badConfig) Unwrap() []error { return []error{e.err, ErrBadConfig} }

// LoadCommandAdapter reads and parses the command adapter config at path. See
// [ParseCommandAdapter]; errors name the path.
func LoadCommandAdapter(path string) (*CommandAdapter, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load command adapter config: %w", err)
	}
	cfg, err := parseConfig(data, fmt.Sprintf("command adapter config %q", path))
	if err != nil {
		return nil, badConfig{err}
	}
	a, err := NewCommandAdapter(cfg)
	if err != nil {
		return nil, badConfig{err}
	}
	return a, nil
}

// ParseCommandAdapter parses an Aptos command adapter config
// (docs/aptos-format.md §9.1), the YAML that --command-adapter-config names:
//
//   - env_vars is required (it may be []): a list of {key, value} mappings,
//     as Aptos reads it, or, as a metactl extension, a map of key to value
//     (the newest upstream local_folder sample writes a map, which Aptos
//     itself cannot read). Values may be any YAML scalar and are taken as
//     written.
//   - commands is required, with required create_backup, create_for_write,
//     open_for_read, save_metadata_line and list_metadata_files, optional
//     backup_metadata_file, and metactl's optional list_metadata_backup_files.
//
// A key present with a null value counts as missing. Unknown keys are
// ignored, as serde does. Duplicate keys are an error.
func ParseCommandAdapter(data []byte) (*CommandAdapter, error) {
	cfg, err := parseConfig(data, "command adapter config")
	if err != nil {
		return nil, badConfig{err}
	}
	a, err := NewCommandAdapter(cfg)
	if err != nil {
		return nil, badConfig{err}
	}
	return a, nil
}

// configError reports a problem in a config; label names the config.
func configError(label, format string, args ...any) error {
	return fmt.Errorf("%s: "+format, append([]any{label}, args...)...)
}

// wireConfig is the YAML of a config. Pointers tell a missing or null key
// from an empty one; unknown keys are ignored, as serde does.
type wireConfig struct {
	EnvVars  *envVars      `yaml:"env_vars"`
	Commands *wireCommands `yaml:"commands"`
}

type wireCommands struct {
	CreateBackup            *string `yaml:"create_backup"`
	CreateForWrite          *string `yaml:"create_for_write"`
	OpenForRead             *string `yaml:"open_for_read"`
	SaveMetadataLine        *string `yaml:"save_metadata_line"`
	ListMetadataFiles       *string `yaml:"list_metadata_files"`
	BackupMetadataFile      *string `yaml:"backup_metadata_file"`
	ListMetadataBackupFiles *string `yaml:"list_metadata_backup_files"`
}

type wireEnvVar struct {
	Key   *string `yaml:"key"`
	Value *string `yaml:"value"`
}

// typeNames turns the Go types in the YAML decoder's messages into what
// the config expects there.
var typeNames = strings.NewReplacer(
	"into storage.wireConfig", "where the config belongs (a mapping with env_vars and commands)",
	"into storage.wireCommands", "where commands belongs (a mapping)",
	"into storage.wireEnvVar", "where an env_vars entry belongs (a mapping with key and value)",
	"into string", "where a string belongs",
)

// envVars decodes env_vars: a list of {key, value} mappings (Aptos), or a
// mapping of key to value kept in document order (metactl's extension).
type envVars []EnvVar

func (e *envVars) UnmarshalYAML(n *yaml.Node) error {
	*e = envVars{}
	switch n.Kind {
	case yaml.SequenceNode:
		var list []wireEnvVar
		if err := n.Decode(&list); err != nil {
			return err
		}
		for i, kv := range list {
			switch {
			case kv.Key == nil:
				return fmt.Errorf("env_vars[%d]: missing required key key", i)
			case kv.Value == nil:
				return fmt.Errorf("env_vars[%d]: missing required key value", i)
			}
			*e = append(*e, EnvVar{Key: *kv.Key, Value: *kv.Value})
		}
	case yaml.MappingNode:
		var m map[string]*string // refuses duplicate keys and non-scalar values
		if err := n.Decode(&m); err != nil {
			return err
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if m[k] == nil {
				return fmt.Errorf("env_vars.%s: want a string, got null", k)
			}
			*e = append(*e, EnvVar{Key: k, Value: *m[k]})
		}
	default:
		return fmt.Errorf("env_vars: want a list of {key, value} mappings, got the scalar %q", n.Value)
	}
	return nil
}

func parseConfig(data []byte, label string) (CommandAdapterConfig, error) {
	var cfg CommandAdapterConfig
	var w wireConfig
	if err := yaml.Unmarshal(data, &w); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return cfg, configError(label, "%s", typeNames.Replace(strings.Join(te.Errors, "; ")))
		}
		return cfg, fmt.Errorf("%s: %w", label, err)
	}
	if w.EnvVars == nil {
		return cfg, configError(label, `missing required key env_vars (write "env_vars: []" for none)`)
	}
	cfg.EnvVars = []EnvVar(*w.EnvVars)
	for i, e := range cfg.EnvVars {
		if err := checkEnvKey(e.Key, fmt.Sprintf("env_vars[%d]", i), label); err != nil {
			return cfg, err
		}
	}
	if w.Commands == nil {
		return cfg, configError(label, "missing required key commands")
	}
	wc, c := w.Commands, &cfg.Commands
	var missing []string
	for _, t := range []struct {
		key      string
		src      *string
		dst      *string
		required bool
	}{
		{cmdCreateBackup, wc.CreateBackup, &c.CreateBackup, true},
		{cmdCreateForWrite, wc.CreateForWrite, &c.CreateForWrite, true},
		{cmdOpenForRead, wc.OpenForRead, &c.OpenForRead, true},
		{cmdSaveMetadataLine, wc.SaveMetadataLine, &c.SaveMetadataLine, true},
		{cmdListMetadataFiles, wc.ListMetadataFiles, &c.ListMetadataFiles, true},
		{cmdBackupMetadataFile, wc.BackupMetadataFile, &c.BackupMetadataFile, false},
		{cmdListMetadataBackupFiles, wc.ListMetadataBackupFiles, &c.ListMetadataBackupFiles, false},
	} {
		switch {
		case t.src != nil:
			*t.dst = *t.src
		case t.required:
			missing = append(missing, "commands."+t.key)
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		return cfg, configError(label, "missing required key %s", missing[0])
	default:
		return cfg, configError(label, "missing required keys %s", strings.Join(missing, ", "))
	}
	return cfg, nil
}

// checkEnvKey refuses keys that cannot be an environment variable name.
func checkEnvKey(key, where, label string) error {
	if key == "" || strings.ContainsAny(key, "=\x00") {
		return configError(label, "%s: invalid environment variable name %q", where, key)
	}
	return nil
}
