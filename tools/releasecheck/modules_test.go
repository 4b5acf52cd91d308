package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// repo writes go.mod files (by directory) into a temporary repository.
func repo(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for dir, gomod := range files {
		d := filepath.Join(root, filepath.FromSlash(dir))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "go.mod"), []byte(gomod), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

var good = map[string]string{
	"core": "module github.com/halt-go/halt/core\n\ngo 1.25.0\n",
	"stores/memory": `module github.com/halt-go/halt/stores/memory

go 1.25.0

require github.com/halt-go/halt/core v0.2.0

replace github.com/halt-go/halt/core => ../../core
`,
	"adapters/gin": `module github.com/halt-go/halt/adapters/gin

go 1.25.0

require (
	github.com/gin-gonic/gin v1.12.0
	github.com/halt-go/halt/core v0.2.0
	github.com/halt-go/halt/stores/memory v0.2.0
)

replace (
	github.com/halt-go/halt/core => ../../core
	github.com/halt-go/halt/stores/memory => ../../stores/memory
)
`,
	"examples": `module github.com/halt-go/halt/examples

go 1.26.0

require github.com/halt-go/halt/adapters/gin v0.2.0

replace github.com/halt-go/halt/adapters/gin => ../adapters/gin

replace github.com/gin-gonic/gin => ../../gin
`,
	".tmp/junk": "module junk\n",
}

func TestModules(t *testing.T) {
	root := repo(t, good)
	mods, err := findModules(root)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dirs(mods), []string{"adapters/gin", "core", "examples", "stores/memory"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("modules %v, want %v", got, want)
	}
	if err := checkModules(mods, "v0.2.0"); err != nil {
		t.Errorf("check: %v", err)
	}
	ts, err := tags(mods, "v0.2.0")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"core/v0.2.0", "stores/memory/v0.2.0", "adapters/gin/v0.2.0"}; !reflect.DeepEqual(ts, want) {
		t.Errorf("tags %v, want %v", ts, want)
	}

	err = checkModules(mods, "v0.3.0")
	if err == nil || strings.Count(err.Error(), "want v0.3.0 (run: make bump VERSION=v0.3.0)") != 4 {
		t.Fatalf("check at v0.3.0: %v", err)
	}
	changed, err := bump(root, mods, "v0.3.0")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"adapters/gin/go.mod", "examples/go.mod", "stores/memory/go.mod"}; !reflect.DeepEqual(changed, want) {
		t.Errorf("bump changed %v, want %v", changed, want)
	}
	mods, err = findModules(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkModules(mods, "v0.3.0"); err != nil {
		t.Errorf("check after bump: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(root, "adapters", "gin", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "github.com/gin-gonic/gin v1.12.0\n\tgithub.com/halt-go/halt/core v0.3.0\n") {
		t.Errorf("bumped go.mod:\n%s", data)
	}
}

func TestCheckModulesReports(t *testing.T) {
	files := map[string]string{
		"core": "module github.com/halt-go/halt/core\n\ngo 1.25\n\ntoolchain go1.26.8\n",
		"presets": `module github.com/halt-go/halt/presets

go 1.25.0

require (
	github.com/halt-go/halt/core v0.0.0
	github.com/halt-go/halt/examples v0.2.0
)

replace github.com/halt-go/halt/core => ../cor

replace github.com/x/y => ../y
`,
		"examples": "module github.com/halt-go/halt/examples\n\ngo 1.26.0\n",
		"bench":    "module github.com/halt-go/halt/benchmarks\n\ngo 1.26.0\n",
	}
	mods, err := findModules(repo(t, files))
	if err != nil {
		t.Fatal(err)
	}
	err = checkModules(mods, "v0.2.0")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`bench/go.mod: module path "github.com/halt-go/halt/benchmarks", want "github.com/halt-go/halt/bench"`,
		"core/go.mod: toolchain go1.26.8",
		"core/go.mod: go 1.25: write the oldest Go release the module supports as 1.N.0",
		"presets/go.mod: replace github.com/halt-go/halt/core => ../cor , want => ../core",
		"presets/go.mod: replace github.com/x/y: users ignore replace directives",
		"presets/go.mod: require github.com/halt-go/halt/core v0.0.0, want v0.2.0",
		"presets/go.mod: require github.com/halt-go/halt/examples: a published module cannot require an unpublished one",
		"presets/go.mod: require github.com/halt-go/halt/examples: no replace to its directory",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestCheckVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"v0.2.0": true, "v1.0.0": true, "v0.3.0-rc.1": true,
		"0.2.0": false, "v0.2": false, "v2.0.0": false, "v0.2.0+meta": false, "": false,
	} {
		if err := checkVersion(v); (err == nil) != ok {
			t.Errorf("checkVersion(%q) = %v", v, err)
		}
	}
}
