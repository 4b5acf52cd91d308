package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// checker runs the check subcommand.
type checker struct {
	ctx     context.Context
	root    string
	version string
	mods    []*repoMod
	keep    bool
	verbose bool
	log     io.Writer

	minGo string   // the oldest go line of the published modules
	tmp   string   // scratch directory: proxy/, modcache/, readmes/
	env   []string // the environment of every go command in a scratch module
}

func (c *checker) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "releasecheck: "+format+"\n", args...)
}

func (c *checker) run() error {
	if err := checkModules(c.mods, c.version); err != nil {
		return fmt.Errorf("the go.mod files are not ready for %s:\n%w", c.version, err)
	}
	pubs, err := published(c.mods)
	if err != nil {
		return err
	}
	for _, m := range pubs {
		if v := m.File.Go.Version; c.minGo == "" || semver.Compare("v"+v, "v"+c.minGo) < 0 {
			c.minGo = v
		}
	}
	c.logf("go.mod files ready: %d modules, %d published at %s: %s", len(c.mods), len(pubs), c.version, strings.Join(dirs(pubs), " "))
	c.warnDirty(pubs)

	if c.tmp, err = os.MkdirTemp("", "halt-releasecheck-"); err != nil {
		return err
	}
	if c.keep {
		c.logf("scratch directory (kept): %s", c.tmp)
	} else {
		defer os.RemoveAll(c.tmp)
	}
	proxy := filepath.Join(c.tmp, "proxy")
	if err := buildProxy(c.root, proxy, pubs, c.version, time.Now()); err != nil {
		return fmt.Errorf("building the module proxy: %w", err)
	}
	if err := c.setEnv(proxy); err != nil {
		return err
	}

	names := []string{"README.md"}
	for _, m := range pubs {
		rel := m.Dir + "/README.md"
		if _, err := os.Stat(filepath.Join(c.root, filepath.FromSlash(rel))); err == nil {
			names = append(names, rel)
		}
	}
	var errs []error
	for _, rel := range names {
		start := time.Now()
		if err := c.checkReadme(rel); err != nil {
			c.logf("%s: FAIL (%s)", rel, time.Since(start).Round(time.Millisecond))
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// warnDirty says when the zips differ from what the tags will hold: they
// are built from the working tree, changes and ignored files included.
func (c *checker) warnDirty(pubs []*repoMod) {
	args := []string{"-C", c.root, "status", "--porcelain", "--ignored", "--"}
	args = append(args, dirs(pubs)...)
	out, err := exec.CommandContext(c.ctx, "git", args...).Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return
	}
	c.logf("warning: the working tree differs from HEAD in published modules; the zips hold the working tree:\n%s", out)
}

// setEnv prepares the environment of a user outside the repository:
// no workspace, no replace directives (the scratch modules have none, and
// a dependency's are ignored), Halt's modules from the file proxy and
// everything else from the local module cache or the usual GOPROXY, into a
// scratch module cache that is deleted afterwards.
func (c *checker) setEnv(proxy string) error {
	out, err := exec.CommandContext(c.ctx, "go", "env", "-json", "GOPROXY", "GOMODCACHE", "GOFLAGS", "GOSUMDB", "GONOSUMDB").Output()
	if err != nil {
		return fmt.Errorf("go env: %w", err)
	}
	var ge struct{ GOPROXY, GOMODCACHE, GOFLAGS, GOSUMDB, GONOSUMDB string }
	if err := json.Unmarshal(out, &ge); err != nil {
		return err
	}
	proxies := []string{fileURL(proxy)}
	if ge.GOMODCACHE != "" {
		// The module cache's download directory has the layout of a proxy:
		// a read-only mirror of what this machine already downloaded.
		proxies = append(proxies, fileURL(filepath.Join(ge.GOMODCACHE, "cache", "download")))
	}
	if ge.GOPROXY != "" {
		proxies = append(proxies, ge.GOPROXY)
	}
	flags := []string{"-modcacherw", "-trimpath"} // a removable cache; build cache hits across scratch caches
	for _, f := range strings.Fields(ge.GOFLAGS) {
		if !strings.HasPrefix(f, "-mod=") && !slices.Contains(flags, f) {
			flags = append(flags, f)
		}
	}
	nosumdb := repoPath // not in the checksum database until published
	if ge.GONOSUMDB != "" {
		nosumdb += "," + ge.GONOSUMDB
	}
	// GOENV=off: a go env -w setting (GOPRIVATE, say) must not undo these;
	// the ones that matter are read above and passed on.
	drop := []string{"GOENV", "GOWORK", "GOFLAGS", "GOPROXY", "GOMODCACHE", "GOSUMDB", "GONOSUMDB", "GOPRIVATE",
		"GONOPROXY", "GOINSECURE", "GOTOOLCHAIN", "GO111MODULE", "ADDR"}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !slices.Contains(drop, k) {
			c.env = append(c.env, kv)
		}
	}
	c.env = append(c.env,
		"GOENV=off",
		"GOWORK=off",
		"GO111MODULE=on",
		"GOTOOLCHAIN=local",
		"GOFLAGS="+strings.Join(flags, " "),
		"GOPROXY="+strings.Join(proxies, ","),
		"GOMODCACHE="+filepath.Join(c.tmp, "modcache"),
		"GOSUMDB="+ge.GOSUMDB,
		"GONOSUMDB="+nosumdb,
	)
	return nil
}

func fileURL(dir string) string { return "file://" + filepath.ToSlash(dir) }

// goCmd runs the go command in dir with the scratch environment.
func (c *checker) goCmd(dir string, args ...string) (string, error) {
	start := time.Now()
	cmd := exec.CommandContext(c.ctx, "go", args...)
	cmd.Dir, cmd.Env = dir, c.env
	out, err := cmd.CombinedOutput()
	if c.verbose {
		c.logf("  %s: go %s (%s)", filepath.Base(dir), strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	}
	return c.clean(string(out)), err
}

// clean makes the go command's output name files relative to the root.
func (c *checker) clean(s string) string {
	return strings.ReplaceAll(s, c.root+string(filepath.Separator), "")
}

// checkReadme checks one README in a scratch module of its own, as a user
// who reads only that README.
func (c *checker) checkReadme(rel string) error {
	start := time.Now()
	abs := filepath.Join(c.root, filepath.FromSlash(rel))
	r, err := parseReadme(abs, rel)
	if err != nil {
		return err
	}
	dir := filepath.Join(c.tmp, "readmes", strings.NewReplacer("/", "-", ".md", "").Replace(rel))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if out, err := c.goCmd(dir, "mod", "init", "example.com/readme"); err != nil {
		return fmt.Errorf("%s: go mod init: %w\n%s", rel, err, out)
	}
	// The oldest Go the modules support: go get raises it where a module
	// needs more, and the blocks must not need a newer language.
	if out, err := c.goCmd(dir, "mod", "edit", "-go="+c.minGo); err != nil {
		return fmt.Errorf("%s: go mod edit: %w\n%s", rel, err, out)
	}
	for _, g := range r.GoGets {
		if out, err := c.goCmd(dir, append([]string{"get"}, g.Args...)...); err != nil {
			return fmt.Errorf("%s:%d: go get %s: %w\n%s", rel, g.Line, strings.Join(g.Args, " "), err, out)
		}
	}

	var errs []error
	var snippets []*snippet
	skipped := 0
	for _, b := range r.Blocks {
		switch {
		case b.Lang != "go":
			continue
		case b.NotCompiled != "":
			skipped++
			c.logf("%s:%d: not compiled: %s", rel, b.Line, b.NotCompiled)
			continue
		}
		s, err := newSnippet(b, abs)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: Go block does not parse:\n%s", rel, b.Line, c.clean(err.Error())))
			continue
		}
		if err := s.write(dir); err != nil {
			return err
		}
		snippets = append(snippets, s)
	}
	if len(snippets) > 0 && len(r.GoGets) == 0 {
		errs = append(errs, fmt.Errorf("%s: Go blocks but no go get line: a reader would not know which modules to add", rel))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(snippets) == 0 {
		c.logf("%s: no Go blocks (%s)", rel, time.Since(start).Round(time.Millisecond))
		return nil
	}

	for _, step := range [][]string{{"build", "./..."}, {"vet", "./..."}} {
		if out, err := c.goCmd(dir, step...); err != nil {
			return c.blockErrors(r, snippets, "go "+strings.Join(step, " "), out)
		}
	}
	var tests []string
	for _, s := range snippets {
		if s.Test {
			tests = append(tests, "./"+s.Dir)
		}
	}
	if len(tests) > 0 {
		if out, err := c.goCmd(dir, append([]string{"test", "-count=1"}, tests...)...); err != nil {
			return c.blockErrors(r, snippets, "go test", out)
		}
	}
	c.logf("%s: %d go get lines, %d Go blocks compiled (%d tests run), %d not compiled (%s)",
		rel, len(r.GoGets), len(snippets), len(tests), skipped, time.Since(start).Round(time.Millisecond))

	if rel == "README.md" {
		return c.runQuickStart(r, dir, snippets)
	}
	return nil
}

// write puts the snippet in its package directory.
func (s *snippet) write(dir string) error {
	pkg := filepath.Join(dir, s.Dir)
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		return err
	}
	name := "snippet.go"
	if s.Test {
		name = "snippet_test.go"
		// A package of tests alone still needs a file to build.
		if err := os.WriteFile(filepath.Join(pkg, "doc.go"), []byte("package "+strings.TrimSuffix(s.Name, "_test")+"\n"), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(pkg, name), s.Src, 0o644)
}

var pkgHeader = regexp.MustCompile(`(?m)^(# |FAIL\s+|ok\s+)example\.com/readme/line(\d+)`)

// blockErrors turns a failing go command's output into an error naming
// the README's blocks.
func (c *checker) blockErrors(r *readme, snippets []*snippet, step, out string) error {
	failed := map[*block]bool{}
	for _, m := range pkgHeader.FindAllStringSubmatch(out, -1) {
		for _, s := range snippets {
			if !strings.HasPrefix(m[1], "ok") && s.Dir == "line"+m[2] {
				failed[s.Block] = true
			}
		}
	}
	// Messages name README lines (//line directives): find their blocks.
	lineRef := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(r.Rel) + `:(\d+)`)
	for _, m := range lineRef.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		for _, s := range snippets {
			if b := s.Block; n > b.Line && n <= b.Line+len(b.Lines) || n == b.GivenLine {
				failed[b] = true
			}
		}
	}
	var which []string
	for _, s := range snippets {
		if failed[s.Block] {
			which = append(which, fmt.Sprintf("%s:%d", r.Rel, s.Block.Line))
		}
	}
	out = pkgHeader.ReplaceAllStringFunc(out, func(h string) string {
		m := pkgHeader.FindStringSubmatch(h)
		return m[1] + r.Rel + ":" + m[2] + " (Go block)"
	})
	if len(which) == 0 {
		return fmt.Errorf("%s: %s failed:\n%s", r.Rel, step, out)
	}
	return fmt.Errorf("%s: %s failed for the Go block(s) at %s:\n%s", r.Rel, step, strings.Join(which, ", "), out)
}

// runQuickStart serves the README's net/http quick start and sends it one
// request, as a client behind a proxy on this host.
func (c *checker) runQuickStart(r *readme, dir string, snippets []*snippet) error {
	var qs *snippet
	for _, s := range snippets {
		if s.Kind == "file" && s.Name == "main" && slices.Contains(s.Imports, repoPath+"/adapters/nethttp") {
			qs = s
			break
		}
	}
	if qs == nil {
		return fmt.Errorf("%s: no net/http quick start (a package main block importing %s/adapters/nethttp)", r.Rel, repoPath)
	}
	where := fmt.Sprintf("%s:%d", r.Rel, qs.Block.Line)
	bin := filepath.Join(c.tmp, "quickstart")
	if out, err := c.goCmd(dir, "build", "-o", bin, "./"+qs.Dir); err != nil {
		return fmt.Errorf("%s: go build: %w\n%s", where, err, out)
	}
	var err error
	for range 3 { // another process may take the free port first
		var retry bool
		if retry, err = c.serveOnce(where, bin); !retry {
			break
		}
	}
	return err
}

// serveOnce starts the quick start on a free loopback port, sends GET /
// and checks the answer. retry is true when the port was taken meanwhile.
func (c *checker) serveOnce(where, bin string) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
	defer cancel()
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return false, err
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return false, err
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(slices.Clone(c.env), "ADDR="+addr)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return false, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cancel()
		if err := <-exited; err != nil && c.verbose {
			c.logf("  the quick start, stopped: %v", err)
		}
	}()

	// Wait until it listens, then send exactly one request.
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err // for the deferred wait
			retry = strings.Contains(logs.String(), "address already in use")
			return retry, fmt.Errorf("%s: the quick start exited before serving (ADDR=%s): %w\n%s", where, addr, err, logs.String())
		case <-time.After(50 * time.Millisecond): // waiting for a process to listen
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("%s: the quick start did not listen on %s within 30s\n%s", where, addr, logs.String())
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("X-Forwarded-For", "203.0.113.7") // a public client behind the local proxy
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return false, fmt.Errorf("%s: GET /: %w\n%s", where, err, logs.String())
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	if err != nil {
		return false, err
	}
	limit := res.Header.Get("RateLimit-Limit")
	if res.StatusCode != http.StatusOK || limit == "" {
		return false, fmt.Errorf("%s: net/http quick start: GET / answered %s with RateLimit-Limit %q, want 200 with the header; headers %v, body %q\n%s",
			where, res.Status, limit, res.Header, body, logs.String())
	}
	c.logf("%s: net/http quick start: GET http://%s/ (X-Forwarded-For: 203.0.113.7) -> %s, RateLimit-Limit: %s, RateLimit-Remaining: %s, body %s",
		where, addr, res.Status, limit, res.Header.Get("RateLimit-Remaining"), bytes.TrimSpace(body))
	return false, nil
}
