package layout

import (
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
