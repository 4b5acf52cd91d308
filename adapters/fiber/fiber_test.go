package haltfiber_test

import (
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"
	haltfiber "github.com/halt-go/halt/adapters/fiber"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

func TestConformance(t *testing.T) {
	halttest.RunAdapterTests(t, newStore, harness)
}

// harness serves the suite's routes with fiber on a real loopback
// listener (fiber is not a net/http handler). Quirks: the suite's ~70 KB
// X-Forwarded-For needs a ReadBufferSize above fiber's 4096 default.
func harness(t *testing.T, cfg halttest.AdapterConfig) string {
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ReadBufferSize: 256 << 10})
	if cfg.UserFromHeader {
		app.Use(func(c *fiber.Ctx) error {
			if id := c.Get("X-User"); id != "" {
				c.Locals(halt.DefaultUserKey, utils.CopyString(id))
			}
			return c.Next()
		})
	}
	opts := options(cfg)
	app.Use(haltfiber.Middleware(cfg.Global, opts...))
	send := func(c *fiber.Ctx) error { return c.SendString("ok") }
	for _, path := range []string{"/", "/health", "/admin/stats", "/items/:id"} {
		app.Get(path, send)
	}
	login := []fiber.Handler{send}
	if cfg.Route != nil {
		login = append([]fiber.Handler{haltfiber.Middleware(cfg.Route, opts...)}, login...)
	}
	app.Post("/auth/login", login...)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Listener(ln) }()
	t.Cleanup(func() {
		if err := app.Shutdown(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

func options(cfg halttest.AdapterConfig) []haltfiber.Option {
	var opts []haltfiber.Option
	if cfg.Style != nil {
		opts = append(opts, haltfiber.WithHeaderStyle(cfg.Style))
	}
	if cfg.CustomDeny {
		opts = append(opts, haltfiber.WithDenyHandler(func(c *fiber.Ctx, d halt.Decision) error {
			c.Set("X-Denied-By", "halttest")
			c.Set(fiber.HeaderContentType, "text/plain")
			return c.Status(http.StatusTooManyRequests).SendString("custom " + strconv.FormatInt(d.RetrySeconds(), 10))
		}))
	}
	if cfg.SkipFromHeader {
		opts = append(opts, haltfiber.WithNext(func(c *fiber.Ctx) bool { return c.Get("X-Skip") == "1" }))
	}
	if cfg.CostFromHeader {
		opts = append(opts, haltfiber.WithCost(func(c *fiber.Ctx) int64 {
			n, _ := strconv.ParseInt(c.Get("X-Cost"), 10, 64)
			return n
		}))
	}
	return opts
}

// newStore gives each limiter of the suite its own memory store.
func newStore(t *testing.T) halt.Store {
	s := memory.New(nil)
	t.Cleanup(func() { _ = s.Close() })
	return s
}
