package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A README's fenced code blocks follow these conventions (RELEASING.md):
//
//   - A block whose info string is "go" is compiled. One that starts with a
//     package clause is a complete file. Any other is a fragment: optional
//     import declarations, then either top-level declarations or statements
//     (compiled as the body of a function). Statement fragments may leave
//     the variables they declare unused.
//   - A fragment may use the packages in autoImports without importing them.
//   - A fragment may use variables it does not declare when an HTML comment
//     just above the block declares them: <!-- given: store halt.Store;
//     login gin.HandlerFunc -->. Each item is a Go variable declaration
//     without "var".
//   - <!-- not compiled: reason --> just above a Go block skips it.
//   - "go get" lines of sh blocks, and "go get" in comments of Go blocks, are
//     run, in order, in the README's scratch module before it compiles.
//   - Blocks that declare TestXxx functions are run with go test.

// autoImports are the packages a fragment may use without importing them:
// the ones Halt's READMEs use, by the name they are used under.
var autoImports = map[string]string{
	"halt":      "github.com/halt-go/halt/core",
	"halttest":  "github.com/halt-go/halt/core/halttest",
	"halthttp":  "github.com/halt-go/halt/adapters/nethttp",
	"haltchi":   "github.com/halt-go/halt/adapters/chi",
	"haltgin":   "github.com/halt-go/halt/adapters/gin",
	"haltecho":  "github.com/halt-go/halt/adapters/echo",
	"haltfiber": "github.com/halt-go/halt/adapters/fiber",
	"haltredis": "github.com/halt-go/halt/stores/redis",
	"memory":    "github.com/halt-go/halt/stores/memory",
	"presets":   "github.com/halt-go/halt/presets",
	"chi":       "github.com/go-chi/chi/v5",
	"echo":      "github.com/labstack/echo/v4",
	"fiber":     "github.com/gofiber/fiber/v2",
	"gin":       "github.com/gin-gonic/gin",
	"redis":     "github.com/redis/go-redis/v9",
	"context":   "context",
	"errors":    "errors",
	"fmt":       "fmt",
	"http":      "net/http",
	"httptest":  "net/http/httptest",
	"io":        "io",
	"json":      "encoding/json",
	"log":       "log",
	"netip":     "net/netip",
	"os":        "os",
	"slog":      "log/slog",
	"strconv":   "strconv",
	"strings":   "strings",
	"testing":   "testing",
	"time":      "time",
}

// block is one fenced code block of a README.
type block struct {
	Line        int      // the opening fence's line, 1-based
	Lang        string   // the info string's first word
	Lines       []string // the content
	NotCompiled string   // the reason of a <!-- not compiled: ... --> comment
	Given       string   // the declarations of a <!-- given: ... --> comment
	GivenLine   int
}

// start is the line of the block's first content line.
func (b *block) start() int { return b.Line + 1 }

// goGet is one go get command of a README.
type goGet struct {
	Line int
	Args []string
}

// readme is a parsed README.
type readme struct {
	Rel    string // slash-separated, relative to the repository root
	Abs    string
	Blocks []*block
	GoGets []goGet
}

var (
	commentRE = regexp.MustCompile(`^\s*<!--\s*(.*?)\s*-->\s*$`)
	argRE     = regexp.MustCompile(`^[A-Za-z0-9._~/@+=-]+$`)
)

// parseReadme reads the fenced code blocks of a Markdown file.
func parseReadme(abs, rel string) (*readme, error) {
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, err
	}
	r := &readme{Rel: rel, Abs: abs}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		fence, info, ok := openFence(lines[i])
		if !ok {
			continue
		}
		b := &block{Line: i + 1}
		if f := strings.Fields(info); len(f) > 0 {
			b.Lang = f[0]
		}
		annotate(b, lines[:i])
		j := i + 1
		for ; j < len(lines); j++ {
			if t := strings.TrimSpace(lines[j]); strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
				break
			}
		}
		if j == len(lines) {
			return nil, fmt.Errorf("%s:%d: code block never closed", rel, b.Line)
		}
		b.Lines = lines[i+1 : j]
		r.Blocks = append(r.Blocks, b)
		r.GoGets = append(r.GoGets, goGets(b)...)
		i = j
	}
	return r, nil
}

// openFence recognises an opening code fence: ``` or ~~~ (or longer),
// indented by at most three spaces, and returns the fence and the info
// string.
func openFence(line string) (fence, info string, ok bool) {
	t := strings.TrimLeft(line, " ")
	if len(line)-len(t) > 3 {
		return "", "", false
	}
	for _, c := range []string{"`", "~"} {
		n := len(t) - len(strings.TrimLeft(t, c))
		if n >= 3 {
			return t[:n], strings.TrimSpace(t[n:]), true
		}
	}
	return "", "", false
}

// annotate reads the HTML comments just above a block (blank lines
// between them allowed).
func annotate(b *block, above []string) {
	for k := len(above) - 1; k >= 0; k-- {
		if strings.TrimSpace(above[k]) == "" {
			continue
		}
		m := commentRE.FindStringSubmatch(above[k])
		if m == nil {
			return
		}
		switch key, val, _ := strings.Cut(m[1], ":"); strings.TrimSpace(key) {
		case "not compiled":
			b.NotCompiled = strings.TrimSpace(val)
			if b.NotCompiled == "" {
				b.NotCompiled = "(no reason given)"
			}
		case "given":
			b.Given, b.GivenLine = strings.TrimSpace(val), k+1
		}
	}
}

// goGets returns the go get commands of a block: the lines of a shell
// block (joined across trailing backslashes, split at && and ;), and the
// comments of a Go block, that say "go get".
func goGets(b *block) []goGet {
	var out []goGet
	switch b.Lang {
	case "sh", "bash", "shell", "console":
		for i := 0; i < len(b.Lines); i++ {
			line, first := b.Lines[i], i
			for strings.HasSuffix(line, `\`) && i+1 < len(b.Lines) {
				i++
				line = strings.TrimSuffix(line, `\`) + " " + b.Lines[i]
			}
			line = strings.TrimPrefix(strings.TrimSpace(line), "$ ")
			if c, _, ok := strings.Cut(line, "#"); ok {
				line = c
			}
			for _, part := range strings.FieldsFunc(line, func(r rune) bool { return r == ';' || r == '&' }) {
				if f := strings.Fields(part); len(f) > 2 && f[0] == "go" && f[1] == "get" {
					out = append(out, goGet{Line: b.start() + first, Args: f[2:]})
				}
			}
		}
	case "go":
		for i, line := range b.Lines {
			_, comment, ok := strings.Cut(line, "//")
			if !ok {
				continue
			}
			_, rest, ok := strings.Cut(comment, "go get ")
			if !ok {
				continue
			}
			var args []string
			for _, a := range strings.Fields(rest) {
				if !argRE.MatchString(a) {
					break
				}
				args = append(args, a)
			}
			if len(args) > 0 {
				out = append(out, goGet{Line: b.start() + i, Args: args})
			}
		}
	}
	return out
}

// snippet is a Go block turned into a package of the scratch module.
type snippet struct {
	Block   *block
	Kind    string // "file", "decls" or "stmts"
	Dir     string // the package's directory in the scratch module
	Name    string // the package name
	Test    bool   // the block declares tests: written as a _test.go file
	Imports []string
	Src     []byte
}

// newSnippet turns a Go block into a compilable file. Positions in the
// file map back to the README through //line directives, so the compiler's
// messages name the README's lines.
func newSnippet(b *block, abs string) (*snippet, error) {
	s := &snippet{Block: b, Dir: "line" + strconv.Itoa(b.Line), Name: "snippet"}
	lineDir := func(line int) string { return fmt.Sprintf("//line %s:%d:1\n", abs, line) }
	if isFile(b.Lines) {
		s.Kind = "file"
		s.Src = []byte(lineDir(b.start()) + strings.Join(b.Lines, "\n") + "\n")
		f, err := parser.ParseFile(token.NewFileSet(), "snippet.go", s.Src, parser.AllErrors)
		if err != nil {
			return nil, err
		}
		s.Name, s.Test, s.Imports = f.Name.Name, hasTests(f), importPaths(f)
		return s, nil
	}

	// A fragment: leading imports, then declarations or statements.
	n := 0
scan:
	for n < len(b.Lines) {
		t := strings.TrimSpace(b.Lines[n])
		switch {
		case t == "" || strings.HasPrefix(t, "//"):
			n++
		case strings.HasPrefix(t, "import ("):
			for n < len(b.Lines) && strings.TrimSpace(b.Lines[n]) != ")" {
				n++
			}
			n++
		case strings.HasPrefix(t, "import "):
			n++
		default:
			break scan
		}
	}
	n = min(n, len(b.Lines))
	imports, body := strings.Join(b.Lines[:n], "\n"), strings.Join(b.Lines[n:], "\n")
	var given string
	if b.Given != "" {
		// One line, so that every message about it names the comment.
		given = lineDir(b.GivenLine) + "var ( " + b.Given + " )\n"
	}
	render := func(kind string, auto, unused []string) []byte {
		var w bytes.Buffer
		w.WriteString("// Code generated by releasecheck. DO NOT EDIT.\n\npackage snippet\n\n")
		for _, p := range auto {
			fmt.Fprintf(&w, "import %q\n", p)
		}
		w.WriteString(lineDir(b.start()) + imports + "\n")
		w.WriteString(given)
		if kind == "decls" {
			w.WriteString(lineDir(b.start()+n) + body + "\n")
			return w.Bytes()
		}
		w.WriteString("func _() {\n" + lineDir(b.start()+n) + body + "\n")
		w.WriteString("//line generated.go:1\n")
		for _, name := range unused {
			fmt.Fprintf(&w, "\t_ = %s\n", name)
		}
		w.WriteString("}\n")
		return w.Bytes()
	}

	fset := token.NewFileSet()
	kind := "decls"
	f, err := parser.ParseFile(fset, "snippet.go", render(kind, nil, nil), parser.AllErrors)
	if err != nil {
		declErr := err
		kind = "stmts"
		f, err = parser.ParseFile(fset, "snippet.go", render(kind, nil, nil), parser.AllErrors)
		if err != nil {
			if first := strings.Fields(body); len(first) > 0 && slices.Contains([]string{"func", "type", "const"}, first[0]) {
				err = declErr
			}
			return nil, err
		}
	}
	s.Kind = kind
	var unused []string
	if kind == "stmts" {
		unused = declared(f)
	}
	auto := missingImports(f)
	s.Src = render(kind, auto, unused)
	f, err = parser.ParseFile(token.NewFileSet(), "snippet.go", s.Src, parser.AllErrors)
	if err != nil {
		return nil, err
	}
	s.Test, s.Imports = hasTests(f), importPaths(f)
	return s, nil
}

// isFile reports whether a block is a complete Go file: its first line
// that is not blank or a comment is a package clause.
func isFile(lines []string) bool {
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "//") {
			continue
		}
		return strings.HasPrefix(t, "package ")
	}
	return false
}

// hasTests reports whether f declares a TestXxx function.
func hasTests(f *ast.File) bool {
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "Test") {
			return true
		}
	}
	return false
}

func importPaths(f *ast.File) []string {
	var out []string
	for _, is := range f.Imports {
		if p, err := strconv.Unquote(is.Path.Value); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// missingImports returns the autoImports that f uses as package names but
// neither imports nor declares.
func missingImports(f *ast.File) []string {
	imported := map[string]bool{}
	for _, is := range f.Imports {
		p, _ := strconv.Unquote(is.Path.Value)
		imported[importName(is, p)] = true
	}
	unresolved := map[*ast.Ident]bool{}
	for _, id := range f.Unresolved {
		unresolved[id] = true
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && unresolved[id] && !imported[id.Name] {
			if p, ok := autoImports[id.Name]; ok {
				imported[id.Name] = true
				out = append(out, p)
			}
		}
		return true
	})
	slices.Sort(out)
	return out
}

// importName is the name an import declares: its alias, the name
// autoImports knows the path by, or the path's last element (without a
// major version suffix).
func importName(is *ast.ImportSpec, p string) string {
	if is.Name != nil {
		return is.Name.Name
	}
	for name, ap := range autoImports {
		if ap == p {
			return name
		}
	}
	base := path.Base(p)
	if len(base) > 1 && base[0] == 'v' && strings.Trim(base[1:], "0123456789") == "" {
		base = path.Base(path.Dir(p))
	}
	return base
}

// declared returns the variables the statements of the fragment's function
// body declare at its top level, which the fragment may leave unused.
func declared(f *ast.File) []string {
	var out []string
	add := func(id *ast.Ident) {
		if id.Name != "_" && !slices.Contains(out, id.Name) {
			out = append(out, id.Name)
		}
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != "_" || fd.Body == nil {
			continue
		}
		for _, st := range fd.Body.List {
			switch st := st.(type) {
			case *ast.AssignStmt:
				if st.Tok == token.DEFINE {
					for _, e := range st.Lhs {
						if id, ok := e.(*ast.Ident); ok {
							add(id)
						}
					}
				}
			case *ast.DeclStmt:
				if gd, ok := st.Decl.(*ast.GenDecl); ok && gd.Tok == token.VAR {
					for _, sp := range gd.Specs {
						for _, id := range sp.(*ast.ValueSpec).Names {
							add(id)
						}
					}
				}
			}
		}
	}
	return out
}
