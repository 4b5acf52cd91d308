package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// buildProxy writes a GOPROXY=file:// tree into dir that serves every
// module of mods at version, from the working tree under root, as the
// module proxy will serve the tagged commit: list, .info, .mod and .zip.
func buildProxy(root, dir string, mods []*repoMod, version string, at time.Time) error {
	license, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, m := range mods {
		mv := module.Version{Path: m.Path, Version: version}
		ep, err := module.EscapePath(m.Path)
		if err != nil {
			return err
		}
		ev, err := module.EscapeVersion(version)
		if err != nil {
			return err
		}
		vdir := filepath.Join(dir, filepath.FromSlash(ep), "@v")
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			return err
		}
		info, err := json.Marshal(struct {
			Version string
			Time    time.Time
		}{version, at.UTC().Truncate(time.Second)})
		if err != nil {
			return err
		}
		src := filepath.Join(root, filepath.FromSlash(m.Dir))
		gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
		if err != nil {
			return err
		}
		var zbuf bytes.Buffer
		if err := moduleZip(&zbuf, mv, src, license); err != nil {
			return fmt.Errorf("%s: %w", m.Dir, err)
		}
		for name, data := range map[string][]byte{
			"list":       []byte(version + "\n"),
			ev + ".info": info,
			ev + ".mod":  gomod,
			ev + ".zip":  zbuf.Bytes(),
		} {
			if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// moduleZip writes the module zip of the module in dir. x/mod/zip decides
// which files belong (no nested modules, no VCS directories, size limits);
// like the go command serving a module from a repository subdirectory, it
// adds the repository's LICENSE when the module directory has none.
func moduleZip(w io.Writer, mv module.Version, dir string, license []byte) error {
	var first bytes.Buffer
	if err := modzip.CreateFromDir(&first, mv, dir); err != nil {
		return err
	}
	zr, err := zip.NewReader(bytes.NewReader(first.Bytes()), int64(first.Len()))
	if err != nil {
		return err
	}
	prefix := mv.Path + "@" + mv.Version + "/"
	var files []modzip.File
	haveLicense := false
	for _, f := range zr.File {
		name := strings.TrimPrefix(f.Name, prefix)
		if name == "LICENSE" {
			haveLicense = true
		}
		files = append(files, zipEntry{name: name, f: f})
	}
	if !haveLicense && license != nil {
		files = append(files, dataFile{name: "LICENSE", data: license})
	}
	return modzip.Create(w, mv, files)
}

// zipEntry is a file of a zip that x/mod/zip already vetted.
type zipEntry struct {
	name string
	f    *zip.File
}

func (e zipEntry) Path() string                { return e.name }
func (e zipEntry) Lstat() (fs.FileInfo, error) { return e.f.FileInfo(), nil }
func (e zipEntry) Open() (io.ReadCloser, error) {
	return e.f.Open()
}

// dataFile is a file held in memory.
type dataFile struct {
	name string
	data []byte
}

func (f dataFile) Path() string                 { return f.name }
func (f dataFile) Lstat() (fs.FileInfo, error)  { return dataInfo(f), nil }
func (f dataFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

type dataInfo dataFile

func (i dataInfo) Name() string       { return filepath.Base(i.name) }
func (i dataInfo) Size() int64        { return int64(len(i.data)) }
func (i dataInfo) Mode() fs.FileMode  { return 0o644 }
func (i dataInfo) ModTime() time.Time { return time.Time{} }
func (i dataInfo) IsDir() bool        { return false }
func (i dataInfo) Sys() any           { return nil }
