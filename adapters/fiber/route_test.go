package haltfiber_test

import (
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
	haltfiber "github.com/halt-go/halt/adapters/fiber"
)

// routeRecorder records the Route a halt.Request reports at each level of a
// fiber app, and the route fiber itself reports in the handler.
type routeRecorder map[string]string

func (rec routeRecorder) at(level string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		rec[level] = haltfiber.Request(c).Route()
		return c.Next()
	}
}

func (rec routeRecorder) handler(c *fiber.Ctx) error {
	rec["fiber"] = c.Route().Path
	rec["handler"] = haltfiber.Request(c).Route()
	return c.SendString("ok")
}

func routeApp(cfg fiber.Config) (*fiber.App, routeRecorder) {
	rec := routeRecorder{}
	app := fiber.New(cfg)
	app.Use(rec.at("app Use"))
	app.Get("/items/new", rec.at("route"), rec.handler) // before the parameter: first match wins
	app.Get("/items/:id", rec.handler)
	app.Post("/items/:id", rec.handler)
	app.Get("/users/:id<int>", rec.handler) // a constraint: left to fiber's matcher
	app.Get("/users/:name", rec.handler)
	app.Get("/flights/:from-:to", rec.handler)
	api := app.Group("/api", rec.at("group Use"))
	api.Get("/v1/orders/:id?", rec.handler)
	api.Get("/files/*", rec.handler)
	api.Get("/", rec.handler)
	sub := fiber.New(cfg)
	sub.Use(rec.at("mounted Use"))
	sub.Get("/ping/:n", rec.handler)
	app.Mount("/sub", sub)
	app.Use("/static", rec.at("prefixed Use"), func(c *fiber.Ctx) error { return c.SendString("static") })
	return app, rec
}

func TestRouteAtEveryLevel(t *testing.T) {
	cases := []struct {
		cfg                fiber.Config
		method, path, want string
	}{
		{fiber.Config{}, "GET", "/items/new", "/items/new"},
		{fiber.Config{}, "GET", "/items/42", "/items/:id"},
		{fiber.Config{}, "POST", "/items/42", "/items/:id"},
		{fiber.Config{}, "GET", "/users/7", "/users/:id<int>"},
		{fiber.Config{}, "GET", "/users/ada", "/users/:name"},
		{fiber.Config{}, "GET", "/flights/LAX-SFO", "/flights/:from-:to"},
		{fiber.Config{}, "GET", "/api/v1/orders", "/api/v1/orders/:id?"},
		{fiber.Config{}, "GET", "/api/v1/orders/9", "/api/v1/orders/:id?"},
		{fiber.Config{}, "GET", "/api/files/a/b.txt", "/api/files/*"},
		{fiber.Config{}, "GET", "/api", "/api/"},
		{fiber.Config{}, "GET", "/sub/ping/3", "/sub/ping/:n"},
		{fiber.Config{}, "GET", "/ITEMS/42/", "/items/:id"}, // neither case nor trailing slash matter by default
		{fiber.Config{}, "GET", "/static/app.js", ""},       // served by a Use route: no route pattern
		{fiber.Config{}, "GET", "/nowhere", ""},
		{fiber.Config{}, "DELETE", "/items/42", ""},
		{fiber.Config{CaseSensitive: true}, "GET", "/ITEMS/42", ""},
		{fiber.Config{CaseSensitive: true}, "GET", "/items/42", "/items/:id"},
		{fiber.Config{StrictRouting: true}, "GET", "/items/42/", ""},
		{fiber.Config{StrictRouting: true}, "GET", "/items/42", "/items/:id"},
		{fiber.Config{StrictRouting: true}, "GET", "/api/", "/api/"},
	}
	for _, tc := range cases {
		app, rec := routeApp(tc.cfg)
		res, err := app.Test(httptest.NewRequest(tc.method, tc.path, nil))
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if tc.want != "" && rec["fiber"] != tc.want {
			t.Fatalf("%s %s (case-sensitive %v, strict %v): fiber routed to %q, want %q",
				tc.method, tc.path, tc.cfg.CaseSensitive, tc.cfg.StrictRouting, rec["fiber"], tc.want)
		}
		if len(rec) == 0 {
			t.Fatalf("%s %s: no level ran", tc.method, tc.path)
		}
		for level, got := range rec {
			if level == "fiber" {
				continue
			}
			if got != tc.want {
				t.Errorf("%s %s (case-sensitive %v, strict %v): %s saw %q, want %q (all: %v)",
					tc.method, tc.path, tc.cfg.CaseSensitive, tc.cfg.StrictRouting, level, got, tc.want, rec)
			}
		}
	}
}

// Working out the route from app.Use middleware allocates nothing for the
// common pattern syntax.
func TestRouteFromUseAllocatesNothing(t *testing.T) {
	app := fiber.New()
	allocs := -1.0
	app.Use(func(c *fiber.Ctx) error {
		req := haltfiber.Request(c)
		allocs = testing.AllocsPerRun(100, func() {
			if req.Route() != "/api/items/:id" {
				t.Error("wrong route")
			}
		})
		return c.Next()
	})
	for _, p := range []string{"/", "/health", "/api/users/:id", "/api/users/:id/posts/:post", "/api/files/*"} {
		app.Get(p, func(c *fiber.Ctx) error { return nil })
	}
	app.Get("/api/items/:id", func(c *fiber.Ctx) error { return nil })
	res, err := app.Test(httptest.NewRequest("GET", "/api/items/5", nil))
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if allocs != 0 {
		t.Fatalf("Route from app.Use: %v allocations, want 0", allocs)
	}
}
