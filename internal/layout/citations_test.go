package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCitationsResolve holds every "docs/<file>.md §N" in the Go code to a
// heading of that file ("§10 item 1" to heading 10.1, or to section 10 if it
// has no such heading), so no comment cites a document or section that is
// not in the repository. A "§" that cites no docs file must name its
// document itself ("RFC 8878 §3.1.1").
func TestCitationsResolve(t *testing.T) {
	root := filepath.Join("..", "..")
	heading := regexp.MustCompile(`(?m)^#{2,3} (\d+(?:\.\d+)?)[. ]`)
	headings := map[string]map[string]bool{}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		h := map[string]bool{}
		for _, m := range heading.FindAllStringSubmatch(string(b), -1) {
			h[m[1]] = true
		}
		headings["docs/"+filepath.Base(doc)] = h
	}
	// A citation: the file, then sections ("§1.2, §1.3", "§12.7/12.8",
	// "§12.7 and §12.8", "§10 item 8").
	cite := regexp.MustCompile(`(docs/[\w.-]+\.md)\s+§(\d+(?:\.\d+)*(?: item \d+)?)((?:(?:,|/| and)\s*§?\d+(?:\.\d+)*(?: item \d+)?)*)`)
	more := regexp.MustCompile(`\d+(?:\.\d+)*(?: item \d+)?`)
	named := regexp.MustCompile(`\b(RFC \d+)\s+§`)
	comment := regexp.MustCompile(`\n\s*//\s*`)
	n := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || d.Name() == "citations_test.go" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := comment.ReplaceAllString(string(b), " ") // comments wrap
		rel, _ := filepath.Rel(root, path)
		cited := 0
		for _, m := range cite.FindAllStringSubmatch(text, -1) {
			h, ok := headings[m[1]]
			if !ok {
				t.Errorf("%s cites %s, which is not in docs/", rel, m[1])
				continue
			}
			for _, sec := range append([]string{m[2]}, more.FindAllString(m[3], -1)...) {
				n++
				cited++
				num, item, hasItem := strings.Cut(sec, " item ")
				if !h[num] || (hasItem && !h[num+"."+item] && !h[num]) {
					t.Errorf("%s cites %s §%s: no such heading", rel, m[1], sec)
				}
			}
		}
		if all := strings.Count(text, "§"); all > cited+len(named.FindAllString(text, -1)) {
			t.Errorf("%s has %d § signs but %d resolve to docs/: cite \"docs/<file>.md §N\"", rel, all, cited)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Fatalf("found only %d citations; is the pattern broken?", n)
	}
}

// TestCommentNamesResolve holds every "pkg.Name" (and "pkg.Type.Member")
// that a comment mentions, for pkg a package of this module, to a name
// that package declares, so no comment cites a name that moved or was
// renamed (issue 18 found six citing catalog names that had moved to
// aptos). Doc links ("[aptos.SplitLines]") are checked the same way.
func TestCommentNamesResolve(t *testing.T) {
	root := filepath.Join("..", "..")
	decls := map[string]map[string]bool{} // package name -> names
	type file struct {
		rel string
		f   *ast.File
	}
	var files []file
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "target") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files = append(files, file{rel, f})
		if strings.HasSuffix(path, "_test.go") || f.Name.Name == "main" {
			return nil
		}
		names := decls[f.Name.Name]
		if names == nil {
			names = map[string]bool{}
			decls[f.Name.Name] = names
		}
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				if decl.Recv == nil {
					names[decl.Name.Name] = true
				} else if recv := receiverType(decl.Recv.List[0].Type); recv != "" {
					names[recv+"."+decl.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, spec := range decl.Specs {
					switch spec := spec.(type) {
					case *ast.TypeSpec:
						names[spec.Name.Name] = true
						for _, m := range members(spec.Type) {
							names[spec.Name.Name+"."+m] = true
						}
					case *ast.ValueSpec:
						for _, n := range spec.Names {
							names[n.Name] = true
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mention := regexp.MustCompile(`(?:^|[^\w./])([a-z][a-z0-9]*)\.([A-Z]\w*)(?:\.([A-Z]\w*))?`)
	n := 0
	for _, f := range files {
		for _, cg := range f.f.Comments {
			for _, m := range mention.FindAllStringSubmatch(cg.Text(), -1) {
				names, ok := decls[m[1]]
				if !ok {
					continue // not a package of ours (os.Exit, bbolt.DB)
				}
				n++
				switch {
				case !names[m[2]]:
					t.Errorf("%s: a comment cites %s.%s, which package %s does not declare", f.rel, m[1], m[2], m[1])
				case m[3] != "" && !names[m[2]+"."+m[3]] && hasMembers(names, m[2]):
					t.Errorf("%s: a comment cites %s.%s.%s, which %s.%s does not have", f.rel, m[1], m[2], m[3], m[1], m[2])
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("found only %d mentions of our names in comments; is the pattern broken?", n)
	}
}

// receiverType is the type name of a method's receiver ("T" for T, *T and
// T[P]).
func receiverType(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return receiverType(e.X)
	case *ast.IndexExpr:
		return receiverType(e.X)
	case *ast.IndexListExpr:
		return receiverType(e.X)
	case *ast.Ident:
		return e.Name
	}
	return ""
}

// members are the field and method names a type declares itself.
func members(e ast.Expr) []string {
	var fields *ast.FieldList
	switch e := e.(type) {
	case *ast.StructType:
		fields = e.Fields
	case *ast.InterfaceType:
		fields = e.Methods
	default:
		return nil
	}
	var out []string
	for _, f := range fields.List {
		for _, n := range f.Names {
			out = append(out, n.Name)
		}
		if len(f.Names) == 0 { // embedded: its members are promoted
			out = append(out, "*")
		}
	}
	return out
}

// hasMembers reports whether the type's members are all known: a type
// with none recorded (a named func or map type) or an embedded field
// (promoted members) is not checked member by member.
func hasMembers(names map[string]bool, typ string) bool {
	if names[typ+".*"] {
		return false
	}
	for k := range names {
		if strings.HasPrefix(k, typ+".") {
			return true
		}
	}
	return false
}

// TestExitCodesMatchREADME holds the README's table of exit codes (section
// "Exit codes") to the exit constants of api and cmd/metactl, both ways.
func TestExitCodesMatchREADME(t *testing.T) {
	root := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "\n### Exit codes\n")
	if !ok {
		t.Fatal(`README.md has no "### Exit codes" section`)
	}
	table, _, _ = strings.Cut(table, "\n#")
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllStringSubmatch(table, -1) {
		documented[m[1]] = true
	}
	// The constants live in api (the documents' exit field) and
	// cmd/metactl maps to them; a numeric constant in either counts.
	code := map[string]bool{}
	for _, dir := range []string{"api", filepath.Join("cmd", "metactl")} {
		names, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range regexp.MustCompile(`(?m)^\t[eE]xit\w+\s*=\s*(\d+)$`).FindAllStringSubmatch(string(b), -1) {
				code[m[1]] = true
			}
		}
	}
	if len(code) < 5 || len(documented) < 5 {
		t.Fatalf("found %d exit constants and %d documented codes; is a pattern broken?", len(code), len(documented))
	}
	for c := range code {
		if !documented[c] {
			t.Errorf("metactl exits %s, which README's Exit codes table does not list", c)
		}
	}
	for c := range documented {
		if !code[c] {
			t.Errorf("README's Exit codes table lists %s, which api and cmd/metactl have no constant for", c)
		}
	}
}

// TestEtcdKeysMatchDocs holds docs/design.md §9 (the etcd key layout) to
// the key constants of catalog/etcdstore (the rel* constants), both ways:
// every "<prefix>/X" the section names is a constant, and every constant
// is named there ("<prefix>/X", or `X/` for the old layout's folders).
func TestEtcdKeysMatchDocs(t *testing.T) {
	root := filepath.Join("..", "..")
	consts := map[string]bool{}
	names, _ := filepath.Glob(filepath.Join(root, "catalog", "etcdstore", "*.go"))
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !strings.HasPrefix(n.Name, "rel") || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						consts[strings.TrimSuffix(strings.Trim(lit.Value, `"`), "/")] = true
					}
				}
			}
		}
	}
	design, err := os.ReadFile(filepath.Join(root, "docs", "design.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(design), "\n## 9. ")
	sec, _, _ = strings.Cut(sec, "\n## 10. ")
	if !ok || len(consts) < 8 {
		t.Fatalf("found %d rel* constants in catalog/etcdstore and §9 %v; is a pattern broken?", len(consts), ok)
	}
	named := map[string]bool{}
	for _, m := range regexp.MustCompile(`<prefix>/([a-z]+)`).FindAllStringSubmatch(sec, -1) {
		named[m[1]] = true
		if !consts[m[1]] {
			t.Errorf("docs/design.md §9 names the etcd key <prefix>/%s, which catalog/etcdstore has no constant for", m[1])
		}
	}
	for _, m := range regexp.MustCompile("`([a-z]+)/").FindAllStringSubmatch(sec, -1) {
		named[m[1]] = true
	}
	for c := range consts {
		if !named[c] {
			t.Errorf("catalog/etcdstore spells the key %q, which docs/design.md §9 does not name", c)
		}
	}
}

// TestDocLinks: in the doc comments of the commands, catalog and its
// backends, api, serve, web and coverage, a name of a package of this
// module that the file imports (or of the file's own package) is a Go doc
// link ("[aptos.SplitLines]", "[DB]"), so go doc and pkgsite resolve it and
// a rename shows. Code blocks, `quoted` and "quoted" text are left alone.
func TestDocLinks(t *testing.T) {
	root := filepath.Join("..", "..")
	const mod = "github.com/metactl/metactl/"
	mention := regexp.MustCompile(`\b([a-z][a-z0-9]*)\.([A-Z]\w*)(?:\.[A-Z]\w*)?`)
	wordAfter := regexp.MustCompile(`^\.\w`)
	n := 0
	for _, dir := range []string{"cmd/metactl", "cmd/metactl-adapter", "cmd/metactl-gen", "catalog", "catalog/boltstore",
		"catalog/etcdstore", "api", "serve", "web", "coverage"} {
		// go doc resolves [pkg.Name] by the imports of every file of
		// the package.
		names, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
		fset := token.NewFileSet()
		var files []*ast.File
		var fileNames []string
		ours := map[string]bool{}
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			files, fileNames = append(files, f), append(fileNames, name)
			if f.Name.Name != "main" {
				ours[f.Name.Name] = true
			}
			for _, im := range f.Imports {
				p := strings.Trim(im.Path.Value, `"`)
				if !strings.HasPrefix(p, mod) || (im.Name != nil && (im.Name.Name == "_" || im.Name.Name == ".")) {
					continue
				}
				if im.Name != nil {
					ours[im.Name.Name] = true
				} else {
					ours[p[strings.LastIndex(p, "/")+1:]] = true
				}
			}
		}
		for i, f := range files {
			name := fileNames[i]
			docs := []*ast.CommentGroup{f.Doc}
			ast.Inspect(f, func(node ast.Node) bool {
				switch node := node.(type) {
				case *ast.FuncDecl:
					docs = append(docs, node.Doc)
				case *ast.GenDecl:
					docs = append(docs, node.Doc)
				case *ast.TypeSpec:
					docs = append(docs, node.Doc)
				case *ast.ValueSpec:
					docs = append(docs, node.Doc)
				case *ast.Field:
					docs = append(docs, node.Doc)
				}
				return true
			})
			for _, cg := range docs {
				if cg == nil {
					continue
				}
				for _, c := range cg.List {
					if strings.HasPrefix(c.Text, "//\t") || !strings.HasPrefix(c.Text, "//") {
						continue
					}
					for _, m := range mention.FindAllStringSubmatchIndex(c.Text, -1) {
						s, e := m[0], m[1]
						pkg := c.Text[m[2]:m[3]]
						if !ours[pkg] || strings.Count(c.Text[:s], "`")%2 == 1 || strings.Count(c.Text[:s], `"`)%2 == 1 {
							continue
						}
						n++
						before, after := c.Text[:s], c.Text[e:]
						before = strings.TrimSuffix(before, "*")
						if strings.HasSuffix(before, "[") || strings.HasSuffix(before, ".") || strings.HasSuffix(before, "/") ||
							strings.HasPrefix(after, "]") || wordAfter.MatchString(after) || strings.HasPrefix(after, "(") || strings.HasPrefix(after, "/") {
							continue
						}
						rel, _ := filepath.Rel(root, name)
						t.Errorf("%s:%d: %s in a doc comment: write it as a doc link, [%s]", rel, fset.Position(c.Pos()).Line, c.Text[s:e], c.Text[s:e])
					}
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("found only %d mentions of our names in doc comments; is the pattern broken?", n)
	}
}
