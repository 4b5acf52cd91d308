// Command releasecheck prepares and checks a release of Halt's modules.
//
//	releasecheck bump VERSION    set every in-repo requirement of every go.mod to VERSION
//	releasecheck tags VERSION    print the tags of a release, in dependency order
//	releasecheck check VERSION   check that the modules install as users will get them
//
// check verifies the go.mod files (every in-repo requirement at VERSION,
// with a replace for local development), builds a file-based module proxy
// holding every published module at VERSION from the working tree, and then,
// in a scratch module per README outside the repository, with GOWORK=off and
// no replace directives, runs the README's go get lines, compiles every Go
// block of the README, runs the blocks that are tests, and serves the
// net/http quick start for one real request. See RELEASING.md for the
// conventions README blocks follow.
//
// Run it from the repository root (or pass -C), as make release-check does.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	root := flag.String("C", ".", "the repository root")
	keep := flag.Bool("keep", false, "check: keep the scratch directory (proxy, module cache, README modules) and print its path")
	verbose := flag.Bool("v", false, "check: log every go command and its duration")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: releasecheck [-C dir] [-keep] [-v] bump|tags|check VERSION\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	cmd, version := flag.Arg(0), flag.Arg(1)
	abs, err := filepath.Abs(*root)
	if err != nil {
		fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "go.work")); err != nil {
		fatal(fmt.Errorf("%s is not the repository root (no go.work)", abs))
	}
	if err := checkVersion(version); err != nil {
		fatal(err)
	}
	mods, err := findModules(abs)
	if err != nil {
		fatal(err)
	}
	switch cmd {
	case "bump":
		changed, err := bump(abs, mods, version)
		if err != nil {
			fatal(err)
		}
		for _, c := range changed {
			fmt.Println(c)
		}
		if len(changed) == 0 {
			fmt.Fprintf(os.Stderr, "releasecheck: every in-repo requirement already names %s\n", version)
		}
	case "tags":
		ts, err := tags(mods, version)
		if err != nil {
			fatal(err)
		}
		fmt.Println(strings.Join(ts, "\n"))
	case "check":
		if err := check(abs, version, mods, *keep, *verbose); err != nil {
			fatal(err)
		}
	default:
		flag.Usage()
		os.Exit(2)
	}
}

// check runs the release check, logging to standard error.
func check(root, version string, mods []*repoMod, keep, verbose bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	c := &checker{ctx: ctx, root: root, version: version, mods: mods, keep: keep, verbose: verbose, log: os.Stderr}
	if err := c.run(); err != nil {
		return fmt.Errorf("FAIL after %s\n%w", time.Since(start).Round(time.Second), err)
	}
	c.logf("ok: %s installs as users will get it (%s)", version, time.Since(start).Round(time.Second))
	return nil
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "releasecheck: %v\n", err)
	os.Exit(1)
}
