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

// manifest is the part of a Kubernetes object these checks read.
type manifest struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Template    podTemplate `yaml:"template"` // Deployment
		JobTemplate struct {
			Spec struct {
				Template podTemplate `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"` // CronJob
	} `yaml:"spec"`
}

type podTemplate struct {
	Spec struct {
		Containers      []container `yaml:"containers"`
		SecurityContext struct {
			RunAsNonRoot bool `yaml:"runAsNonRoot"`
			RunAsUser    int  `yaml:"runAsUser"`
		} `yaml:"securityContext"`
		Volumes []struct {
			Name string `yaml:"name"`
		} `yaml:"volumes"`
	} `yaml:"spec"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Env     []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
	SecurityContext struct {
		ReadOnlyRootFilesystem bool `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
}

// TestDeployManifests parses every manifest in deploy/kubernetes and
// checks each metactl container against the real CLI: the image is one the
// Dockerfile builds, the command is the binary the image installs, and its
// arguments parse with metactl's own kong grammar. Every path metactl
// writes (the catalog, --metadata-cache-dir, --metrics-textfile, TMPDIR)
// is on a mounted volume, since the root filesystem is read-only and the
// user is not root. The compaction CronJob's arguments are the helm
// chart's (docs/drop-in.md).
func TestDeployManifests(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(repoRoot(t), "deploy", "kubernetes")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	images := dockerfileImages(t)
	// Configs named in the manifests are mounted from ConfigMaps; stand in
	// an existing file so kong's existingfile check passes.
	config := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(config, []byte("commands: {}\n"), 0o644)
	containers := 0
	var kinds []string
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		for {
			var m manifest
			err := dec.Decode(&m)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			kinds = append(kinds, m.Kind)
			var pod *podTemplate
			switch m.Kind {
			case "Deployment":
				pod = &m.Spec.Template
			case "CronJob":
				pod = &m.Spec.JobTemplate.Spec.Template
			default:
				continue
			}
			name := filepath.Base(file) + ": " + m.Kind + " " + m.Metadata.Name
			if !pod.Spec.SecurityContext.RunAsNonRoot || pod.Spec.SecurityContext.RunAsUser == 0 {
				t.Errorf("%s: not runAsNonRoot with a non-zero uid", name)
			}
			for _, c := range pod.Spec.Containers {
				containers++
				checkContainer(t, name+" container "+c.Name, c, images, config)
				if m.Metadata.Name == "metactl-backup-compaction" {
					want := append([]string{"/usr/local/bin/metactl"}, helmArgs(t, "/tmp/aptos-backup-compaction-metadata", "/opt/aptos/etc/LOCATION.yaml")...)
					if !slices.Equal(c.Command, want) {
						t.Errorf("%s: command %q\nwant the helm chart's %q", name, c.Command, want)
					}
				}
			}
		}
		f.Close()
	}
	slices.Sort(kinds)
	if got := strings.Join(kinds, ","); got != "CronJob,Deployment,Deployment,NetworkPolicy,PersistentVolumeClaim,Secret,Service" {
		t.Errorf("manifests hold %s, want the compaction CronJob, the sync and serve Deployments, serve's PVC, Service, web-config Secret and NetworkPolicy", got)
	}
	if containers != 3 {
		t.Errorf("%d containers checked, want 3", containers)
	}
}

func checkContainer(t *testing.T, name string, c container, images map[string]bool, config string) {
	t.Helper()
	if !images[c.Image] {
		t.Errorf("%s: image %q is not one deploy/Dockerfile builds (%v)", name, c.Image, images)
	}
	if len(c.Command) < 2 || c.Command[0] != "/usr/local/bin/metactl" {
		t.Fatalf("%s: command %q does not run /usr/local/bin/metactl", name, c.Command)
	}
	if !c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("%s: root filesystem not read-only", name)
	}
	args := slices.Clone(c.Command[1:])
	for i, a := range args {
		if i > 0 && args[i-1] == "--web-config-file" {
			args[i] = config // mounted from a Secret
		}
		if i > 0 && args[i-1] == "--command-adapter-config" {
			if c.Image == "metactl:static" {
				t.Errorf("%s: the static image has no bash for a command-adapter config", name)
			}
			args[i] = config
			_ = a
		}
	}
	var cli CLI
	parser, err := newParser(&cli, &app{}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		t.Errorf("%s: metactl refuses %q: %v", name, c.Command[1:], err)
		return
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if p := env["METACTL_CATALOG"]; p != "" {
		cli.Catalog = p
	}
	cli.Catalog = defaultCatalog(cli.Catalog, kctx)
	writes := []string{cli.Catalog, "/tmp/x"}
	if cli.MetricsFile != "" {
		writes = append(writes, cli.MetricsFile)
	}
	for _, p := range writes {
		if !filepath.IsAbs(p) || !mounted(c, p) {
			t.Errorf("%s: metactl writes %s, which is not on a mounted volume (the root filesystem is read-only)", name, p)
		}
	}
}

func mounted(c container, path string) bool {
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") {
			return true
		}
	}
	return false
}

// dockerfileImages returns the image names the Dockerfile's header says it
// builds (-t NAME), after checking that every final stage installs the
// binary at /usr/local/bin/metactl, runs as uid 6180 and builds statically.
func dockerfileImages(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{"CGO_ENABLED=0 go build", "-o /out/metactl ./cmd/metactl"} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	images := map[string]bool{}
	stages := strings.Split(text, "\nFROM ")
	for _, st := range stages[2:] { // after the header and the build stage
		for _, want := range []string{"COPY --from=build /out/metactl /usr/local/bin/metactl", "USER 6180:6180", `ENTRYPOINT ["/usr/local/bin/metactl"]`} {
			if !strings.Contains(st, want) {
				t.Errorf("Dockerfile stage %q lacks %q", strings.SplitN(st, "\n", 2)[0], want)
			}
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if _, rest, ok := strings.Cut(line, " -t "); ok && strings.HasPrefix(line, "#") {
			images[strings.Fields(rest)[0]] = true
		}
	}
	if len(images) != 2 {
		t.Errorf("Dockerfile header names images %v, want two", images)
	}
	return images
}
