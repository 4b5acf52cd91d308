package main

import (
	"archive/zip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestBuildProxy(t *testing.T) {
	root := repo(t, map[string]string{
		"core":       "module github.com/halt-go/halt/core\n\ngo 1.25.0\n",
		"core/inner": "module github.com/halt-go/halt/core/inner\n\ngo 1.25.0\n",
	})
	for name, data := range map[string]string{
		"LICENSE":          "MIT\n",
		"core/halt.go":     "package halt\n",
		"core/inner/x.go":  "package inner\n",
		"core/sub/sub.go":  "package sub\n",
		"core/.git/config": "x",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mods, err := findModules(root)
	if err != nil {
		t.Fatal(err)
	}
	proxy := t.TempDir()
	if err := buildProxy(root, proxy, mods[:1], "v0.2.0", time.Unix(1e9, 0)); err != nil {
		t.Fatal(err)
	}
	vdir := filepath.Join(proxy, "github.com", "halt-go", "halt", "core", "@v")
	for name, want := range map[string]string{
		"list":        "v0.2.0\n",
		"v0.2.0.info": `{"Version":"v0.2.0","Time":"2001-09-09T01:46:40Z"}`,
		"v0.2.0.mod":  "module github.com/halt-go/halt/core\n\ngo 1.25.0\n",
	} {
		data, err := os.ReadFile(filepath.Join(vdir, name))
		if err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want %q", name, data, err, want)
		}
	}
	zr, err := zip.OpenReader(filepath.Join(vdir, "v0.2.0.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	slices.Sort(names)
	p := "github.com/halt-go/halt/core@v0.2.0/"
	if want := []string{p + "LICENSE", p + "go.mod", p + "halt.go", p + "sub/sub.go"}; !slices.Equal(names, want) {
		t.Errorf("zip holds %v, want %v", names, want)
	}
}
