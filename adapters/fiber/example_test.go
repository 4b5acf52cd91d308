package haltfiber_test

import (
	"time"

	"github.com/gofiber/fiber/v2"
	haltfiber "github.com/halt-go/halt/adapters/fiber"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/stores/memory"
)

// An app-wide limit, a stricter one on the login route with fiber's
// LimitReached convention, and a probe route that skips the limiter with
// Next.
func Example() {
	app := fiber.New(fiber.Config{ReadBufferSize: 64 << 10}) // room for long X-Forwarded-For chains
	store := memory.New(nil)
	defer store.Close()

	lb := halt.WithTrustedProxies("10.0.0.0/8") // your load balancers
	public, err := halt.New(store, halt.Policy{Name: "public", Limit: 100, Window: time.Minute, Burst: 120}, lb)
	if err != nil {
		panic(err)
	}
	app.Use(haltfiber.Middleware(public, haltfiber.WithNext(func(c *fiber.Ctx) bool {
		return c.Path() == "/metrics"
	})))
	app.Get("/", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"message": "Hello World"}) })

	auth, err := halt.New(store, halt.Policy{Name: "auth", Limit: 10, Window: time.Minute, BlockDuration: 5 * time.Minute}, lb)
	if err != nil {
		panic(err)
	}
	slowDown := haltfiber.WithLimitReached(func(c *fiber.Ctx) error {
		return c.Status(fiber.StatusTooManyRequests).SendString("slow down")
	})
	app.Post("/auth/login", haltfiber.Middleware(auth, slowDown), func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"token": "…"})
	})

	_ = app // app.Listen(":8080")
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
