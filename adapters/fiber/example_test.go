package haltfiber_test

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/gofiber/fiber/v2"
	haltfiber "github.com/halt-go/halt/adapters/fiber"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

// An app-wide limit per user, a stricter one on the login route with
// fiber's LimitReached convention, and a metrics route that skips the
// limiter with Next. The requests go through app.Test, as in fiber's own
// tests.
func Example() {
	app := fiber.New(fiber.Config{ReadBufferSize: 64 << 10}) // room for long X-Forwarded-For chains
	store := memory.New(nil)
	defer store.Close()
	clock := halt.WithClock(halttest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))) // for a stable output

	// Your authentication runs first and records the user in c.Locals.
	app.Use(func(c *fiber.Ctx) error {
		if user := c.Get("X-Demo-User"); user != "" {
			c.Locals(halt.DefaultUserKey, user)
		}
		return c.Next()
	})
	perUser, err := halt.New(store, halt.Policy{Name: "per_user", Limit: 100, Window: time.Minute, KeyStrategy: halt.KeyUser}, clock)
	if err != nil {
		panic(err)
	}
	app.Use(haltfiber.Middleware(perUser, haltfiber.WithNext(func(c *fiber.Ctx) bool {
		return c.Path() == "/metrics"
	})))
	app.Get("/", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"message": "Hello World"}) })
	app.Get("/metrics", func(c *fiber.Ctx) error { return c.SendString("# metrics") })

	auth, err := halt.New(store, halt.Policy{Name: "auth", Limit: 1, Window: time.Minute, KeyStrategy: halt.KeyUser,
		BlockDuration: 5 * time.Minute}, clock)
	if err != nil {
		panic(err)
	}
	slowDown := haltfiber.WithLimitReached(func(c *fiber.Ctx) error {
		return c.Status(fiber.StatusTooManyRequests).SendString("slow down")
	})
	app.Post("/auth/login", haltfiber.Middleware(auth, slowDown), func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"token": "…"})
	})
	// app.Listen(":8080")

	for _, q := range [][2]string{{"GET", "/"}, {"GET", "/metrics"}, {"POST", "/auth/login"}, {"POST", "/auth/login"}} {
		req := httptest.NewRequest(q[0], q[1], nil)
		req.Header.Set("X-Demo-User", "alice")
		res, err := app.Test(req)
		if err != nil {
			panic(err)
		}
		_ = res.Body.Close()
		fmt.Printf("%-4s %-11s %d  remaining=%q retry-after=%q\n", q[0], q[1], res.StatusCode,
			res.Header.Get("RateLimit-Remaining"), res.Header.Get("Retry-After"))
	}
	// Output:
	// GET  /           200  remaining="99" retry-after=""
	// GET  /metrics    200  remaining="" retry-after=""
	// POST /auth/login 200  remaining="0" retry-after=""
	// POST /auth/login 429  remaining="0" retry-after="300"
}

// A handler that knows its cost only once it has read the request: the
// prompt's length decides how much of the budget it takes.
func ExampleCheck() {
	store := memory.New(nil)
	defer store.Close()
	tokens, err := halt.New(store, halt.Policy{Name: "tokens", Limit: 10_000, Window: time.Hour})
	if err != nil {
		panic(err)
	}
	app := fiber.New()
	app.Post("/generate", func(c *fiber.Ctx) error {
		var req struct{ Prompt string }
		if err := c.BodyParser(&req); err != nil {
			return fiber.ErrBadRequest
		}
		if ok, err := haltfiber.Check(c, tokens, int64(len(req.Prompt))); !ok {
			return err // the rejection is written; err is the write's
		}
		return c.JSON(fiber.Map{"text": "…"})
	})
	_ = app
}
