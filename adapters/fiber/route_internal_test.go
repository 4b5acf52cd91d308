package haltfiber

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// The fields Route relies on exist in the fiber this module builds with; a
// fiber that renames them fails here rather than answering approximately.
func TestRouteFieldsFound(t *testing.T) {
	if useField < 0 || mountField < 0 {
		t.Fatalf("fiber.Route has no bool fields use (%d) and mount (%d)", useField, mountField)
	}
	app := fiber.New()
	app.Use(func(c *fiber.Ctx) error { return c.Next() })
	app.Get("/x", func(*fiber.Ctx) error { return nil })
	var uses, routes int
	for _, r := range app.Stack()[0] { // GET
		if use, _ := flag(r, useField); use {
			uses++
		} else {
			routes++
		}
	}
	if uses != 1 || routes != 1 {
		t.Fatalf("GET stack: %d Use routes and %d routes, want 1 and 1", uses, routes)
	}
}

// matchPattern agrees with fiber's own matcher wherever it decides, on
// random patterns and paths under each routing configuration.
func TestMatchPatternAgreesWithFiber(t *testing.T) {
	consts := []string{"a", "b", "ab", "A", "items", "v1.2", "x-y", ""}
	patternSegs := append([]string{":id", ":id?", "*", "+", ":a-:b", ":n<int>", "p*", "\\:lit"}, consts...)
	pathSegs := append([]string{"1", "42", "B", "Items", "a.b", "a-b", "-", ":id", "*"}, consts...)
	rng := rand.New(rand.NewPCG(1, 2))
	build := func(segs []string, n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte('/')
			b.WriteString(segs[rng.IntN(len(segs))])
		}
		if n == 0 || rng.IntN(5) == 0 {
			b.WriteByte('/')
		}
		return b.String()
	}
	configs := []fiber.Config{{}, {CaseSensitive: true}, {StrictRouting: true}, {CaseSensitive: true, StrictRouting: true}}
	decided, matched := 0, 0
	// instance turns a pattern into a path that often matches it: constants
	// kept (or another case), parameters and wildcards filled in, now and
	// then a segment changed, added or dropped.
	instance := func(pattern string) string {
		var b strings.Builder
		for _, seg := range strings.Split(pattern, "/")[1:] {
			switch roll := rng.IntN(12); {
			case roll == 0:
				continue
			case roll == 1:
				seg = pathSegs[rng.IntN(len(pathSegs))]
			case strings.ContainsAny(seg, ":*+"):
				seg = strings.NewReplacer(":id?", "7", ":id", "42", ":a", "x", ":b", "y", ":n<int>", "5",
					"*", "w/v", "+", "p", "\\", "").Replace(seg)
			case rng.IntN(4) == 0:
				seg = strings.ToUpper(seg)
			}
			b.WriteString("/" + seg)
		}
		if b.Len() == 0 || rng.IntN(8) == 0 {
			b.WriteByte('/')
		}
		return b.String()
	}
	for i := range 200_000 {
		pattern := build(patternSegs, rng.IntN(4))
		path := build(pathSegs, rng.IntN(5))
		if i%2 == 1 {
			path = instance(pattern)
		}
		cfg := configs[i%len(configs)]
		detect := path
		if !cfg.StrictRouting {
			detect = trimSlashes(path)
		}
		got, ok := matchPattern(pattern, detect, cfg.CaseSensitive, cfg.StrictRouting)
		if !ok {
			continue
		}
		decided++
		if got {
			matched++
		}
		if want := fiber.RoutePatternMatch(detect, pattern, cfg); got != want {
			t.Fatalf("pattern %q, path %q (case-sensitive %v, strict %v): matchPattern %v, fiber %v",
				pattern, path, cfg.CaseSensitive, cfg.StrictRouting, got, want)
		}
	}
	if decided < 100_000 || matched < 10_000 {
		t.Fatalf("matchPattern decided only %d of 200,000 cases, %d of them matches", decided, matched)
	}
	t.Logf("%d decided, %d matches", decided, matched)
}

// The common syntax is decided without fiber's matcher.
func TestMatchPatternScope(t *testing.T) {
	for _, p := range []string{"/", "/*", "/items", "/items/:id", "/users/:id/posts/:post_id", "/users/:id?",
		"/files/*", "/files/+", "/Items/"} {
		if _, ok := matchPattern(p, "/items/1", false, false); !ok {
			t.Errorf("%q left to fiber", p)
		}
	}
	for _, tc := range [][2]string{{"/users/:id<int>", "/users/1"}, {"/flights/:from-:to", "/flights/a-b"},
		{"/:file.:ext", "/a.txt"}, {"/api*", "/api/x"}, {"/a/*/b", "/a/x/b"}, {"/a/:b?/c", "/a/c"},
		{"/v\\:1", "/v:1"}, {"/shop/:id/", "/shop/1"}, {"/a//b", "/a//b"}} {
		if _, ok := matchPattern(tc[0], tc[1], false, true); ok {
			t.Errorf("%q decided by matchPattern", tc[0])
		}
	}
	// a constant that does not match decides, whatever follows it
	if m, ok := matchPattern("/users/:id<int>", "/items/1", false, false); m || !ok {
		t.Errorf("/users/:id<int> against /items/1: %v %v", m, ok)
	}
}
