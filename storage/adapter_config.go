package storage

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Command names: the keys under "commands" in an Aptos command adapter config
// (spec §9.1), plus metactl's one extension. They also name the operation in
// errors.
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

// LoadCommandAdapter reads and parses the command adapter config at path. See
// [ParseCommandAdapter]; errors name the path.
func LoadCommandAdapter(path string) (*CommandAdapter, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load command adapter config: %w", err)
	}
	cfg, err := parseConfig(data, fmt.Sprintf("command adapter config %q", path))
	if err != nil {
		return nil, err
	}
	return NewCommandAdapter(cfg)
}

// ParseCommandAdapter parses an Aptos command adapter config (spec §9.1),
// the YAML that --command-adapter-config names:
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
		return nil, err
	}
	return NewCommandAdapter(cfg)
}

// configError reports a problem in a config; label names the config.
func configError(label, format string, args ...any) error {
	return fmt.Errorf("%s: "+format, append([]any{label}, args...)...)
}

func parseConfig(data []byte, label string) (CommandAdapterConfig, error) {
	var cfg CommandAdapterConfig
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return cfg, fmt.Errorf("%s: %w", label, err)
	}
	var top *yaml.Node
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		top = resolve(doc.Content[0])
	}
	if top == nil || isNull(top) {
		top = &yaml.Node{Kind: yaml.MappingNode}
	}
	if top.Kind != yaml.MappingNode {
		return cfg, configError(label, "want a mapping with env_vars and commands, got %s", kindName(top))
	}
	fields, err := mappingFields(top, "", label)
	if err != nil {
		return cfg, err
	}

	env := fields["env_vars"]
	if env == nil {
		return cfg, configError(label, `missing required key env_vars (write "env_vars: []" for none)`)
	}
	if cfg.EnvVars, err = parseEnvVars(env, label); err != nil {
		return cfg, err
	}

	cmds := fields["commands"]
	if cmds == nil {
		return cfg, configError(label, "missing required key commands")
	}
	if cmds.Kind != yaml.MappingNode {
		return cfg, configError(label, "commands: want a mapping, got %s", kindName(cmds))
	}
	cfields, err := mappingFields(cmds, "commands.", label)
	if err != nil {
		return cfg, err
	}
	c := &cfg.Commands
	targets := []struct {
		key      string
		dst      *string
		required bool
	}{
		{cmdCreateBackup, &c.CreateBackup, true},
		{cmdCreateForWrite, &c.CreateForWrite, true},
		{cmdOpenForRead, &c.OpenForRead, true},
		{cmdSaveMetadataLine, &c.SaveMetadataLine, true},
		{cmdListMetadataFiles, &c.ListMetadataFiles, true},
		{cmdBackupMetadataFile, &c.BackupMetadataFile, false},
		{cmdListMetadataBackupFiles, &c.ListMetadataBackupFiles, false},
	}
	var missing []string
	for _, t := range targets {
		n := cfields[t.key]
		if n == nil {
			if t.required {
				missing = append(missing, "commands."+t.key)
			}
			continue
		}
		if n.Kind != yaml.ScalarNode {
			return cfg, configError(label, "commands.%s: want a string, got %s", t.key, kindName(n))
		}
		*t.dst = n.Value
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

// mappingFields returns the values of mapping m by key, aliases resolved and
// null values left out. prefix is the path of m, for errors.
func mappingFields(m *yaml.Node, prefix, label string) (map[string]*yaml.Node, error) {
	fields := make(map[string]*yaml.Node, len(m.Content)/2)
	seen := make(map[string]bool, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), resolve(m.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			continue // not a key Aptos could name: ignored like any unknown key
		}
		if seen[k.Value] {
			return nil, configError(label, "duplicate key %s%s", prefix, k.Value)
		}
		seen[k.Value] = true
		if !isNull(v) {
			fields[k.Value] = v
		}
	}
	return fields, nil
}

func parseEnvVars(n *yaml.Node, label string) ([]EnvVar, error) {
	vars := []EnvVar{}
	switch n.Kind {
	case yaml.SequenceNode:
		for i, item := range n.Content {
			item = resolve(item)
			where := fmt.Sprintf("env_vars[%d]", i)
			if item.Kind != yaml.MappingNode {
				return nil, configError(label, "%s: want a mapping with key and value, got %s", where, kindName(item))
			}
			f, err := mappingFields(item, where+".", label)
			if err != nil {
				return nil, err
			}
			key, value := f["key"], f["value"]
			switch {
			case key == nil:
				return nil, configError(label, "%s: missing required key key", where)
			case value == nil:
				return nil, configError(label, "%s: missing required key value", where)
			case key.Kind != yaml.ScalarNode:
				return nil, configError(label, "%s.key: want a string, got %s", where, kindName(key))
			case value.Kind != yaml.ScalarNode:
				return nil, configError(label, "%s.value: want a string, got %s", where, kindName(value))
			}
			if err := checkEnvKey(key.Value, where, label); err != nil {
				return nil, err
			}
			vars = append(vars, EnvVar{Key: key.Value, Value: value.Value})
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
			where := fmt.Sprintf("env_vars.%s", k.Value)
			if k.Kind != yaml.ScalarNode {
				return nil, configError(label, "env_vars: want string keys, got %s", kindName(k))
			}
			if v.Kind != yaml.ScalarNode || isNull(v) {
				return nil, configError(label, "%s: want a string, got %s", where, kindName(v))
			}
			if err := checkEnvKey(k.Value, where, label); err != nil {
				return nil, err
			}
			for _, e := range vars {
				if e.Key == k.Value {
					return nil, configError(label, "duplicate key %s", where)
				}
			}
			vars = append(vars, EnvVar{Key: k.Value, Value: v.Value})
		}
	default:
		return nil, configError(label, "env_vars: want a list of {key, value} mappings, got %s", kindName(n))
	}
	return vars, nil
}

// checkEnvKey refuses keys that cannot be an environment variable name.
func checkEnvKey(key, where, label string) error {
	if key == "" || strings.ContainsAny(key, "=\x00") {
		return configError(label, "%s: invalid environment variable name %q", where, key)
	}
	return nil
}

// resolve follows alias nodes to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return fmt.Sprintf("the scalar %q", n.Value)
	}
	return "something else"
}
