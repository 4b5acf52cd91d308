package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// repoPath is the repository's import path prefix: the module in directory
// d is repoPath/d, and its tags are d/vX.Y.Z.
const repoPath = "github.com/halt-go/halt"

// unpublished lists the directories whose modules are never tagged: they
// exist for the repository's own use and no user requires them.
var unpublished = []string{"examples", "bench", "tools"}

// repoMod is one go.mod of the repository.
type repoMod struct {
	Dir       string // slash-separated, relative to the repository root
	Path      string
	File      *modfile.File
	Published bool
}

// inRepo reports whether a module path belongs to this repository.
func inRepo(p string) bool { return strings.HasPrefix(p, repoPath+"/") }

// findModules returns every module of the repository in dir order. It skips
// hidden directories (.git, .tmp), testdata and vendor.
func findModules(root string) ([]*repoMod, error) {
	var mods []*repoMod
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() != "go.mod" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := modfile.Parse(p, data, nil)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		m := &repoMod{Dir: filepath.ToSlash(rel), File: f, Published: true}
		if f.Module != nil {
			m.Path = f.Module.Mod.Path
		}
		for _, u := range unpublished {
			if m.Dir == u || strings.HasPrefix(m.Dir, u+"/") {
				m.Published = false
			}
		}
		mods = append(mods, m)
		return nil
	})
	if err == nil && len(mods) == 0 {
		err = fmt.Errorf("no go.mod under %s", root)
	}
	return mods, err
}

// published returns the published modules in dependency order: a module
// comes after every in-repo module it requires (ties in directory order).
func published(mods []*repoMod) ([]*repoMod, error) {
	byPath := map[string]*repoMod{}
	for _, m := range mods {
		if m.Published {
			byPath[m.Path] = m
		}
	}
	var order []*repoMod
	state := map[*repoMod]int{} // 1 visiting, 2 done
	var visit func(m *repoMod) error
	visit = func(m *repoMod) error {
		switch state[m] {
		case 1:
			return fmt.Errorf("%s/go.mod: requirement cycle through %s", m.Dir, m.Path)
		case 2:
			return nil
		}
		state[m] = 1
		for _, r := range m.File.Require {
			if dep := byPath[r.Mod.Path]; dep != nil {
				if err := visit(dep); err != nil {
					return err
				}
			}
		}
		state[m] = 2
		order = append(order, m)
		return nil
	}
	for _, m := range mods {
		if m.Published {
			if err := visit(m); err != nil {
				return nil, err
			}
		}
	}
	return order, nil
}

// checkVersion says whether v can be the version of every published module:
// canonical semver (no build metadata), major version 0 or 1, because the
// module paths carry no /vN suffix.
func checkVersion(v string) error {
	if !semver.IsValid(v) || semver.Canonical(v) != v || strings.Count(strings.SplitN(v, "-", 2)[0], ".") != 2 {
		return fmt.Errorf("version %q is not of the form vX.Y.Z (or vX.Y.Z-pre)", v)
	}
	if m := semver.Major(v); m != "v0" && m != "v1" {
		return fmt.Errorf("version %s: a major version above v1 needs /%s module paths", v, m)
	}
	return nil
}

// goLine is the go directive's required shape: a released minor, 1.N.0.
var goLine = regexp.MustCompile(`^1\.[0-9]+\.0$`)

// checkModules reports every way the go.mod files are not ready to be
// tagged at version: module paths that do not match their directories,
// toolchain lines, go lines not of the form 1.N.0, in-repo requirements at
// another version or without a local replace, published modules that
// require unpublished ones or replace third-party modules.
func checkModules(mods []*repoMod, version string) error {
	dirOf := map[string]string{}
	pub := map[string]bool{}
	for _, m := range mods {
		dirOf[m.Path] = m.Dir
		pub[m.Path] = m.Published
	}
	var errs []error
	bad := func(m *repoMod, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path.Join(m.Dir, "go.mod"), fmt.Sprintf(format, args...)))
	}
	for _, m := range mods {
		if want := repoPath + "/" + m.Dir; m.Path != want {
			bad(m, "module path %q, want %q (tags are <dir>/vX.Y.Z)", m.Path, want)
		}
		if m.File.Toolchain != nil {
			bad(m, "toolchain %s: no go.mod names a toolchain (users choose theirs)", m.File.Toolchain.Name)
		}
		switch {
		case m.File.Go == nil:
			bad(m, "no go directive")
		case !goLine.MatchString(m.File.Go.Version):
			bad(m, "go %s: write the oldest Go release the module supports as 1.N.0", m.File.Go.Version)
		}
		replaced := map[string]*modfile.Replace{}
		for _, r := range m.File.Replace {
			if !inRepo(r.Old.Path) {
				if m.Published {
					bad(m, "replace %s: users ignore replace directives, so a published module must not need one", r.Old.Path)
				}
				continue
			}
			replaced[r.Old.Path] = r
			target, ok := dirOf[r.Old.Path]
			if !ok {
				bad(m, "replace %s: no such module in the repository", r.Old.Path)
				continue
			}
			want, err := filepath.Rel(filepath.FromSlash(m.Dir), filepath.FromSlash(target))
			if err != nil {
				return err
			}
			if r.Old.Version != "" || r.New.Version != "" || filepath.ToSlash(want) != r.New.Path {
				bad(m, "replace %s => %s %s, want => %s", r.Old.Path, r.New.Path, r.New.Version, filepath.ToSlash(want))
			}
		}
		for _, r := range m.File.Require {
			p := r.Mod.Path
			if !inRepo(p) {
				continue
			}
			if _, ok := dirOf[p]; !ok {
				bad(m, "require %s: no such module in the repository", p)
				continue
			}
			if r.Mod.Version != version {
				bad(m, "require %s %s, want %s (run: make bump VERSION=%s)", p, r.Mod.Version, version, version)
			}
			if m.Published && !pub[p] {
				bad(m, "require %s: a published module cannot require an unpublished one", p)
			}
			if replaced[p] == nil {
				bad(m, "require %s: no replace to its directory for local development", p)
			}
		}
	}
	return errors.Join(errs...)
}

// bump sets every in-repo requirement of every module to version and
// returns the go.mod files it changed.
func bump(root string, mods []*repoMod, version string) ([]string, error) {
	var changed []string
	for _, m := range mods {
		dirty := false
		for _, r := range m.File.Require {
			if inRepo(r.Mod.Path) && r.Mod.Version != version {
				if err := m.File.AddRequire(r.Mod.Path, version); err != nil {
					return changed, err
				}
				dirty = true
			}
		}
		if !dirty {
			continue
		}
		m.File.Cleanup()
		data, err := m.File.Format()
		if err != nil {
			return changed, err
		}
		name := filepath.Join(root, filepath.FromSlash(m.Dir), "go.mod")
		old, err := os.ReadFile(name)
		if err != nil {
			return changed, err
		}
		if bytes.Equal(old, data) {
			continue
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			return changed, err
		}
		changed = append(changed, path.Join(m.Dir, "go.mod"))
	}
	return changed, nil
}

// tags returns the tag of every published module at version, in
// dependency order.
func tags(mods []*repoMod, version string) ([]string, error) {
	order, err := published(mods)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(order))
	for _, m := range order {
		out = append(out, m.Dir+"/"+version)
	}
	return out, nil
}

// dirs returns the modules' directories, for messages.
func dirs(mods []*repoMod) []string {
	out := make([]string, 0, len(mods))
	for _, m := range mods {
		out = append(out, m.Dir)
	}
	return slices.Clip(out)
}
