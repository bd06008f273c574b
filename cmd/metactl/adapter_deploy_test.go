//go:build unix

package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// bridgePod is the part of a bridge manifest the test checks.
type bridgePod struct {
	Spec struct {
		InitContainers []container `yaml:"initContainers"`
		Containers     []container `yaml:"containers"`
	} `yaml:"spec"`
}

// TestBridgeManifests: in every manifest of deploy/aptos-bridge, the init
// container's metactl command line parses with metactl's own grammar and
// writes the bridge config onto the volume it shares with the Aptos
// container, which runs Aptos's tool with that config.
func TestBridgeManifests(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "aptos-bridge", "*.yaml"))
	if err != nil || len(files) != 3 {
		t.Fatalf("bridge manifests: %v, %v", files, err)
	}
	config := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(config, []byte("commands: {}\n"), 0o644)
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Spec struct {
				Template    bridgePod `yaml:"template"`
				JobTemplate struct {
					Spec struct {
						Template bridgePod `yaml:"template"`
					} `yaml:"spec"`
				} `yaml:"jobTemplate"`
			} `yaml:"spec"`
		}
		if err := yaml.NewDecoder(f).Decode(&m); err != nil && err != io.EOF {
			t.Fatalf("%s: %v", file, err)
		}
		f.Close()
		pod := m.Spec.Template
		if len(pod.Spec.InitContainers) == 0 {
			pod = m.Spec.JobTemplate.Spec.Template
		}
		name := filepath.Base(file)
		if len(pod.Spec.InitContainers) != 1 || len(pod.Spec.Containers) != 1 {
			t.Fatalf("%s: want one init container and one container", name)
		}
		ic, c := pod.Spec.InitContainers[0], pod.Spec.Containers[0]
		if len(ic.Command) != 3 || ic.Command[1] != "-c" {
			t.Fatalf("%s: init command %q", name, ic.Command)
		}
		_, line, ok := strings.Cut(ic.Command[2], "exec /usr/local/bin/metactl ")
		if !ok || !strings.Contains(ic.Command[2], "cp /usr/local/bin/metactl /usr/local/bin/metactl-adapter /opt/metactl/") {
			t.Fatalf("%s: init command %q", name, ic.Command[2])
		}
		args := strings.Fields(line)
		var out string
		for i := range args {
			if i > 0 && args[i-1] == "--command-adapter-config" {
				args[i] = config
			}
			if i > 0 && args[i-1] == "-o" {
				out = args[i]
			}
		}
		var cli CLI
		parser, err := newParser(&cli, &app{}, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parser.Parse(args); err != nil {
			t.Errorf("%s: metactl refuses %q: %v", name, line, err)
		}
		if out != "/opt/metactl/bridge.yaml" || !mounted(ic, out) || !mounted(c, out) {
			t.Errorf("%s: the bridge config %q is not on the volume both containers mount", name, out)
		}
		if strings.HasSuffix(name, "-patch.yaml") {
			continue // the coordinator's own arguments are the chart's
		}
		if i := slices.Index(c.Command, "--command-adapter-config"); i < 0 || c.Command[i+1] != out {
			t.Errorf("%s: the Aptos container does not run with --command-adapter-config %s: %q", name, out, c.Command)
		}
		if !mounted(c, "/opt/aptos/etc/x.yaml") || !mounted(c, "/tmp/x") {
			t.Errorf("%s: the Aptos container lacks the wrapped config or /tmp", name)
		}
	}
}
