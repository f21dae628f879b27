package readme_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADME: every Go block of the README is the body of an Example of
// this package, and every Example is in the README.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```\n").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) == 0 {
		t.Fatal("the README has no Go block")
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "example_test.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]string{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || !strings.HasPrefix(fn.Name.Name, "Example") {
			continue
		}
		body := string(src[fset.Position(fn.Body.Lbrace).Offset+2 : fset.Position(fn.Body.Rbrace).Offset])
		var lines []string
		for _, l := range strings.Split(body, "\n") {
			lines = append(lines, strings.TrimPrefix(l, "\t"))
		}
		bodies[fn.Name.Name] = strings.Join(lines, "\n")
	}
	used := map[string]bool{}
	for _, b := range blocks {
		found := false
		for name, body := range bodies {
			if body == b[1] {
				used[name], found = true, true
			}
		}
		if !found {
			t.Errorf("this README block is no Example's body:\n%s", b[1])
		}
		if n := strings.Count(b[1], "\n"); n >= 15 {
			t.Errorf("a README block of %d lines; keep them under 15:\n%s", n, b[1])
		}
	}
	for name := range bodies {
		if !used[name] {
			t.Errorf("%s is not in the README", name)
		}
	}
}
