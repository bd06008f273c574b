// Package layout holds a test that enforces the package boundaries of
// README.md (Dependencies), as a depguard lint would: bbolt only in
// catalog/boltstore, kong only in commands, zstd only in the archive
// format, the etcd client only in the etcd backend and its server only in
// test clusters, no imports between the sibling packages importer,
// compaction and export (only workflow and the commands chain them), the
// archive format without any catalog package, the catalog backends named
// only by the commands' wiring (TestNoBackendNamed), and the Aptos model
// package (aptos) a leaf that imports the standard library only, and the
// per-call metactl-adapter without an HTTP or etcd client (TestLeanAdapter).
package layout

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Imports    []string
}

func TestPackageBoundaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "github.com/metactl/metactl/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	const mod = "github.com/metactl/metactl/"
	rules := []struct {
		dep     string
		allowed func(p string) bool
	}{
		{"go.etcd.io/bbolt", func(p string) bool { return p == mod+"catalog/boltstore" }},
		{"github.com/alecthomas/kong", func(p string) bool { return strings.HasPrefix(p, mod+"cmd/") }},
		{"github.com/klauspost/compress", func(p string) bool { return p == mod+"archive" }},
		{"go.yaml.in/yaml/v3", func(p string) bool { return p == mod+"storage" }},
		{"gopkg.in/yaml.v3", func(p string) bool { return false }}, // archived: use go.yaml.in/yaml/v3
		// The etcd backend is one package; the etcd server only starts
		// test clusters.
		{"go.etcd.io/etcd/client", func(p string) bool { return p == mod+"catalog/etcdstore" }},
		{"go.etcd.io/etcd/api", func(p string) bool { return p == mod+"catalog/etcdstore" }},
		{"go.etcd.io/etcd/server", func(p string) bool { return p == mod+"internal/etcdtest" }},
		{"github.com/prometheus/client_golang", func(p string) bool {
			return p == mod+"metrics" || p == mod+"serve" || strings.HasPrefix(p, mod+"cmd/")
		}},
		// TLS and basic auth of serve come from the exporter-toolkit, in
		// serve alone.
		{"github.com/prometheus/exporter-toolkit", func(p string) bool { return p == mod+"serve" }},
		// The archive is a format: it knows no catalog (import and
		// export put archives into catalogs and catalogs into archives).
		{mod + "catalog", func(p string) bool { return p != mod+"archive" }},
		// The library uses the catalog API only and never names a
		// backend: programs link backends in (cmd/), the etcd backend
		// builds on bbolt scratch files, and catalogtest runs every
		// backend's conformance.
		{mod + "catalog/boltstore", func(p string) bool {
			return strings.HasPrefix(p, mod+"cmd/") || p == mod+"catalog/etcdstore" || p == mod+"internal/catalogtest"
		}},
		{mod + "catalog/etcdstore", func(p string) bool { return strings.HasPrefix(p, mod+"cmd/") }},
		// The steps are siblings that never import each other; a
		// workflow (workflow/: the import strategy, the drop-in's sync,
		// compact and publish) is what chains them, so that the command
		// only parses, calls one workflow and renders. api holds the
		// documents, some of which carry the steps' result types
		// (importer.Warning, export.Result) and the error document of an
		// import's InputError, so it may import importer and export for
		// their types.
		{mod + "importer", func(p string) bool { return workflowOrCommand(p) || p == mod+"api" }},
		{mod + "compaction", workflowOrCommand},
		// The test helper catalogtest writes archives of its catalogs
		// as export does (export.WriteArchive), and serve the archive of
		// each generation it serves.
		{mod + "export", func(p string) bool {
			return workflowOrCommand(p) || p == mod+"internal/catalogtest" || p == mod+"serve" || p == mod+"api"
		}},
	}
	n := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		n++
		if p.ImportPath == mod+"aptos" {
			// The Aptos model is a leaf: the standard library only, so
			// every rule of the format exists once and anything can use it.
			for _, imp := range p.Imports {
				if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
					t.Errorf("%s imports %s: the model package may import the standard library only", p.ImportPath, imp)
				}
			}
		}
		for _, imp := range p.Imports {
			for _, r := range rules {
				if (imp == r.dep || strings.HasPrefix(imp, r.dep+"/")) && !r.allowed(p.ImportPath) {
					t.Errorf("%s imports %s, which only its owner may import", p.ImportPath, imp)
				}
			}
		}
	}
	if n < 8 {
		t.Fatalf("go list found only %d packages", n)
	}
}

// workflowOrCommand: the packages that may chain importer, compaction and
// export.
func workflowOrCommand(p string) bool {
	const mod = "github.com/metactl/metactl/"
	return p == mod+"workflow" || strings.HasPrefix(p, mod+"cmd/")
}

// TestOneCopy keeps the helpers issue 18 merged from coming back as
// private copies: Rust's str::lines is aptos.Lines and aptos.SplitLines,
// a folder's fsync is fsutil.SyncDir.
func TestOneCopy(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}`, "github.com/metactl/metactl/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	copies := regexp.MustCompile(`(?m)^func (syncDir|splitLines|SyncDir|SplitLines)\(`)
	home := map[string]string{"SyncDir": "internal/fsutil/", "SplitLines": "aptos/"}
	for _, path := range strings.Fields(string(out)) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range copies.FindAllStringSubmatch(string(b), -1) {
			if h, ok := home[m[1]]; ok && strings.Contains(filepath.ToSlash(path), "/"+h) {
				continue
			}
			t.Errorf("%s declares %s: use aptos.Lines or aptos.SplitLines, and fsutil.SyncDir", path, m[1])
		}
	}
}

// TestNoBackendNamed keeps issue 18's "no caller names a backend or looks
// at a location": commands and workflows open, create, copy
// (catalog.Snapshot, catalog.Load) and remove a catalog through the
// catalog API, whose backends honour MustExist and MustBeNew. In cmd/ a
// backend package is imported by name only by the wiring (backends.go
// links them in and checks their URLs, etcdflags.go makes the etcd
// backend's options); any other file may only link one in (a blank
// import). Only the catalog packages and workflow/location.go (the one
// classification of locations) ask for a location's scheme, and nobody
// stats a catalog's Location().
func TestNoBackendNamed(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}`, "github.com/metactl/metactl/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	named := regexp.MustCompile(`(?m)^\s*(?:[a-z]\w*\s+)?"github.com/metactl/metactl/catalog/(?:boltstore|etcdstore)"`)
	scheme := regexp.MustCompile(`\bcatalog\.Scheme\(`)
	stat := regexp.MustCompile(`\bos\.L?[Ss]tat\([^)]*\.Location\(\)`)
	wiring := map[string]bool{"cmd/metactl/backends.go": true, "cmd/metactl/etcdflags.go": true}
	mod, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	root := filepath.ToSlash(strings.TrimSpace(string(mod))) + "/"
	files := strings.Fields(string(out))
	if len(files) < 50 {
		t.Fatalf("go list found only %d files", len(files))
	}
	for _, path := range files {
		rel := strings.TrimPrefix(filepath.ToSlash(path), root)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		if strings.HasPrefix(rel, "cmd/") && !wiring[rel] && named.MatchString(src) {
			t.Errorf("%s imports a catalog backend by name: use the catalog API (backends.go links backends in)", rel)
		}
		if !strings.HasPrefix(rel, "catalog/") && rel != "workflow/location.go" && scheme.MatchString(src) {
			t.Errorf("%s asks for a location's scheme: use workflow.IsURL or workflow.Classify, or let the backend decide", rel)
		}
		if m := stat.FindString(src); m != "" {
			t.Errorf("%s stats a catalog location (%s): open it with catalog.MustExist or catalog.MustBeNew instead", rel, m)
		}
	}
}

// TestLeanAdapter keeps metactl-adapter lean: it starts once per Aptos
// command-adapter call (40k processes for a mainnet metadata sync), so
// every package it links costs each call its initialisation and page
// faults. The HTTP client of served catalogs (remote, net/http, TLS), the
// etcd client, Prometheus and kong belong to metactl, which
// metactl-adapter execs when it needs them; so do the writes and the
// archive catalogs: workflow and what only writes or archives need
// (importer, compaction, export, api, the archive format and zstd, whose
// CRC-32C table alone was 4% of a call) stay out, and metactl-adapter
// answers its calls with adaptercall. So does the storage layer (its
// subpackage storage/localdir is allowed): its command-adapter config
// parser, go.yaml.in/yaml/v3 with regexp and the unicode tables, and its
// gzip were about a tenth of an open_for_read's CPU in their package
// initialisation alone, though only the data calls on a bucket's config
// parse YAML, and those go to metactl.
func TestLeanAdapter(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/metactl/metactl/cmd/metactl-adapter").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/metactl/metactl/"
	banned := []string{"net/http", "crypto/tls", mod + "remote", "go.etcd.io/etcd/client", "github.com/prometheus/client_golang", "github.com/alecthomas/kong",
		mod + "workflow", mod + "importer", mod + "compaction", mod + "export", mod + "api", mod + "archive", "github.com/klauspost/compress",
		"go.yaml.in/yaml", "regexp", "compress"}
	bannedExactly := []string{mod + "storage"} // not storage/localdir
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range banned {
			if dep == b || strings.HasPrefix(dep, b+"/") {
				t.Errorf("cmd/metactl-adapter links %s; keep it out of the lean binary (see TestLeanAdapter)", dep)
			}
		}
		for _, b := range bannedExactly {
			if dep == b {
				t.Errorf("cmd/metactl-adapter links %s; keep it out of the lean binary (see TestLeanAdapter)", dep)
			}
		}
	}
}
