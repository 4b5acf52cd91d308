package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const sample = "# Title\n" + // 1
	"\n" + // 2
	"```sh\n" + // 3
	"go get github.com/halt-go/halt/core \\\n" + // 4
	"       github.com/halt-go/halt/presets\n" + // 5
	"cd x && go get example.com/a@v1.2.3; go run .\n" + // 6
	"```\n" + // 7
	"<!-- given: store halt.Store; login http.HandlerFunc -->\n" + // 8
	"```go\n" + // 9
	"// gin: go get github.com/halt-go/halt/adapters/gin\n" + // 10
	"l, err := halt.New(store, presets.PublicAPI())\n" + // 11
	"```\n" + // 12
	"<!-- not compiled: an illustration -->\n" + // 13
	"\n" + // 14
	"```go\n" + // 15
	"x := …\n" + // 16
	"```\n" + // 17
	"````text\n" + // 18
	"```go\n" + // 19
	"````\n" // 20

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseReadme(t *testing.T) {
	r, err := parseReadme(writeFile(t, "README.md", sample), "README.md")
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Line              int
		Lang, Given, Skip string
		GivenLine, N      int
	}
	var blocks []got
	for _, b := range r.Blocks {
		blocks = append(blocks, got{b.Line, b.Lang, b.Given, b.NotCompiled, b.GivenLine, len(b.Lines)})
	}
	want := []got{
		{Line: 3, Lang: "sh", N: 3},
		{Line: 9, Lang: "go", Given: "store halt.Store; login http.HandlerFunc", GivenLine: 8, N: 2},
		{Line: 15, Lang: "go", Skip: "an illustration", N: 1},
		{Line: 18, Lang: "text", N: 1}, // a longer fence holds a shorter one
	}
	if !reflect.DeepEqual(blocks, want) {
		t.Errorf("blocks\n got %+v\nwant %+v", blocks, want)
	}
	wantGets := []goGet{
		{Line: 4, Args: []string{"github.com/halt-go/halt/core", "github.com/halt-go/halt/presets"}},
		{Line: 6, Args: []string{"example.com/a@v1.2.3"}},
		{Line: 10, Args: []string{"github.com/halt-go/halt/adapters/gin"}},
	}
	if !reflect.DeepEqual(r.GoGets, wantGets) {
		t.Errorf("go gets\n got %+v\nwant %+v", r.GoGets, wantGets)
	}
}

func TestParseReadmeUnclosed(t *testing.T) {
	_, err := parseReadme(writeFile(t, "README.md", "text\n```go\nx := 1\n"), "README.md")
	if err == nil || !strings.Contains(err.Error(), "README.md:2: code block never closed") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewSnippet(t *testing.T) {
	const abs = "/repo/README.md"
	tests := []struct {
		name     string
		block    block
		kind     string
		test     bool
		contains []string
		absent   []string
	}{{
		name: "file",
		block: block{Line: 10, Lines: []string{
			"package main", "", `import "fmt"`, "", `func main() { fmt.Println("hi") }`,
		}},
		kind:     "file",
		contains: []string{"//line /repo/README.md:11:1\npackage main\n"},
		absent:   []string{"Code generated"},
	}, {
		name: "statements",
		block: block{Line: 20, GivenLine: 19, Given: "store halt.Store", Lines: []string{
			"limiter, err := halt.New(store, presets.PublicAPI())",
			"var mux = http.NewServeMux()",
			"_ = limiter",
		}},
		kind: "stmts",
		contains: []string{
			`import "github.com/halt-go/halt/core"`,
			`import "github.com/halt-go/halt/presets"`,
			`import "net/http"`,
			"//line /repo/README.md:19:1\nvar ( store halt.Store )\n",
			"func _() {\n//line /repo/README.md:21:1\nlimiter, err :=",
			"\t_ = limiter\n\t_ = err\n\t_ = mux\n}",
		},
	}, {
		name: "declarations with their own imports",
		block: block{Line: 30, Lines: []string{
			"import (",
			`	halthttp "github.com/halt-go/halt/adapters/nethttp"`,
			")",
			"",
			"func handler(w http.ResponseWriter, r *http.Request) { _ = halthttp.Request(r) }",
		}},
		kind: "decls",
		contains: []string{
			`import "net/http"`,
			"//line /repo/README.md:31:1\nimport (",
			"//line /repo/README.md:35:1\nfunc handler",
		},
		absent: []string{`import "github.com/halt-go/halt/adapters/nethttp"`, "func _()"},
	}, {
		name: "a local variable is not a package",
		block: block{Line: 40, Lines: []string{
			"memory := map[string]int{}",
			"fmt.Println(memory.x)",
		}},
		kind:     "stmts",
		contains: []string{`import "fmt"`},
		absent:   []string{"stores/memory"},
	}, {
		name: "test",
		block: block{Line: 50, Lines: []string{
			"func TestX(t *testing.T) { t.Log(time.Second) }",
		}},
		kind:     "decls",
		test:     true,
		contains: []string{`import "testing"`, `import "time"`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newSnippet(&tt.block, abs)
			if err != nil {
				t.Fatal(err)
			}
			src := string(s.Src)
			if s.Kind != tt.kind || s.Test != tt.test {
				t.Errorf("kind %s, test %v; want %s, %v", s.Kind, s.Test, tt.kind, tt.test)
			}
			for _, c := range tt.contains {
				if !strings.Contains(src, c) {
					t.Errorf("source lacks %q:\n%s", c, src)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(src, a) {
					t.Errorf("source has %q:\n%s", a, src)
				}
			}
		})
	}
}

func TestNewSnippetSyntaxError(t *testing.T) {
	b := &block{Line: 7, Lines: []string{"client := redis.NewClient()", "if err != nil { … }"}}
	_, err := newSnippet(b, "/repo/stores/redis/README.md")
	if err == nil || !strings.Contains(err.Error(), "/repo/stores/redis/README.md:9:") {
		t.Fatalf("err = %v, want one naming README line 9", err)
	}
}
