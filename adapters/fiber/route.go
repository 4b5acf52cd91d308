package haltfiber

import (
	"reflect"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
)

// fiber marks the routes of app.Use, group.Use and app.Static, and the
// placeholders of mounted apps, with unexported fields of fiber.Route (its
// Method is the request's, as for any route). Their indexes are read once;
// reflect reads a bool field without allocating.
var (
	useField   = routeField("use")
	mountField = routeField("mount")
)

func routeField(name string) int {
	f, ok := reflect.TypeFor[fiber.Route]().FieldByName(name)
	if !ok || f.Type.Kind() != reflect.Bool || len(f.Index) != 1 {
		return -1
	}
	return f.Index[0]
}

// flag reads the bool field i of r; known is false when this fiber has no
// such field.
func flag(r *fiber.Route, i int) (v, known bool) {
	if i < 0 {
		return false, false
	}
	return reflect.ValueOf(r).Elem().Field(i).Bool(), true
}

// routePattern returns the registered path of the route c's request matched
// or, in middleware added with Use, of the first route that is not a Use
// route, after the current one in the method's stack, whose path matches
// the request's: the route fiber's router will reach next. "" when none
// does.
func routePattern(c *fiber.Ctx) string {
	cur := c.Route()
	use, known := flag(cur, useField)
	if known && !use {
		return cur.Path
	}
	app := c.App()
	cfg := app.Config()
	path := c.Path()
	if !cfg.StrictRouting {
		path = trimSlashes(path)
	}
	if !known && matchRoute(cur.Path, path, &cfg) {
		return cur.Path // a fiber without the field: a route that matches whole is taken as final
	}
	var stack []*fiber.Route
	method := c.Method()
	for _, s := range app.Stack() {
		if len(s) > 0 && s[0].Method == method {
			stack = s
			break
		}
	}
	start := 0
	for i, r := range stack {
		if r == cur {
			start = i + 1
			break
		}
	}
	for _, r := range stack[start:] {
		if use, _ := flag(r, useField); use {
			continue
		}
		if mount, _ := flag(r, mountField); mount {
			continue
		}
		if matchRoute(r.Path, path, &cfg) {
			return r.Path
		}
	}
	return ""
}

// matchRoute reports whether the detection path (the request path, its
// trailing slashes trimmed unless routing is strict) matches the route
// pattern, as fiber's router decides for a route that is not a Use route.
// matchPattern decides for the common syntax without allocating; fiber's
// own RoutePatternMatch, which parses the pattern every time, decides the
// rest.
func matchRoute(pattern, path string, cfg *fiber.Config) bool {
	if m, ok := matchPattern(pattern, path, cfg.CaseSensitive, cfg.StrictRouting); ok {
		return m
	}
	return fiber.RoutePatternMatch(path, pattern, *cfg)
}

// segment kinds of a route pattern.
const (
	segOther    = iota // anything matchPattern leaves to fiber
	segStatic          // a constant segment
	segParam           // ":name"
	segOptional        // ":name?"
	segStar            // "*"
	segPlus            // "+"
)

func segmentKind(seg string) int {
	switch {
	case seg == "*":
		return segStar
	case seg == "+":
		return segPlus
	case seg != "" && seg[0] == ':':
		name, kind := seg[1:], segParam
		if n := len(name); n > 0 && name[n-1] == '?' {
			name, kind = name[:n-1], segOptional
		}
		if name == "" {
			return segOther
		}
		for i := 0; i < len(name); i++ {
			if b := name[i]; b != '_' && (b < '0' || b > '9') && (b < 'a' || b > 'z') && (b < 'A' || b > 'Z') {
				return segOther // constraints, params within a segment, escapes
			}
		}
		return kind
	}
	for i := 0; i < len(seg); i++ {
		switch seg[i] {
		case ':', '*', '+', '\\':
			return segOther // a parameter or wildcard within a segment, escapes
		}
	}
	return segStatic
}

// matchPattern matches path against a pattern made of whole segments:
// constants, ":param", and, as the last segment only, ":param?", "*" and
// "+". ok is false for any other pattern, and for the corners where fiber
// matches a pattern with parameters other than segment by segment (an empty
// segment, a trailing slash under strict routing). A segment that cannot
// match decides before the segments after it are looked at: fiber too
// needs every constant of a pattern, in order, and a parameter of a whole
// segment never spans a slash in a match.
func matchPattern(pattern, path string, caseSensitive, strict bool) (matched, ok bool) {
	if !strict {
		pattern = trimSlashes(pattern)
	}
	if pattern == "" || pattern[0] != '/' || path == "" || path[0] != '/' {
		return false, false
	}
	switch pattern {
	case "/":
		return path == "/", true
	case "/*":
		return true, true
	}
	params := false
	rest, p := path, pattern[1:]
	for {
		seg, after, more := strings.Cut(p, "/")
		kind := segmentKind(seg)
		switch kind {
		case segOther:
			return false, false
		case segStar, segPlus, segOptional:
			if more {
				return false, false
			}
		case segParam:
			params = true
		case segStatic:
			// fiber matches an empty segment next to a parameter oddly; a
			// trailing one (strict routing) makes its slash optional
			if seg == "" && (more || params) {
				return false, false
			}
		}
		switch kind {
		case segStar:
			return true, true
		case segPlus:
			return len(rest) > 1, true
		case segOptional:
			if rest != "" {
				_, rest = nextSegment(rest)
			}
			return rest == "", true
		}
		if rest == "" {
			return false, true
		}
		var v string
		v, rest = nextSegment(rest)
		if kind == segParam && v == "" ||
			kind == segStatic && v != seg && (caseSensitive || !utils.EqualFold(v, seg)) {
			return false, true
		}
		if !more {
			return rest == "", true
		}
		p = after
	}
}

// nextSegment splits rest, which starts with '/', into its first segment
// and what follows it ("" or "/...").
func nextSegment(rest string) (seg, after string) {
	rest = rest[1:]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i], rest[i:]
	}
	return rest, ""
}

// trimSlashes strips the trailing slashes of a path longer than "/", as
// fiber does without strict routing.
func trimSlashes(s string) string {
	if len(s) > 1 {
		return utils.TrimRight(s, '/')
	}
	return s
}
