package haltfiber

import (
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// TestResponseGet: the response view finds headers fasthttp keeps among
// its keys (set canonical by Halt, or normalised by c.Set) and those it
// keeps in fields of their own, and misses what is not there.
func TestResponseGet(t *testing.T) {
	app := fiber.New()
	app.Get("/", func(c *fiber.Ctx) error {
		w := (*response)(c)
		if got := w.Get("Ratelimit-Remaining"); got != "" {
			t.Errorf("before any header: %q", got)
		}
		w.SetInt("Ratelimit-Remaining", 7)
		c.Set("x-ratelimit-reset", "30") // normalised by fasthttp to X-Ratelimit-Reset
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		c.Set(fiber.HeaderServer, "halt")
		for name, want := range map[string]string{
			"Ratelimit-Remaining":   "7",
			"X-Ratelimit-Reset":     "30",
			fiber.HeaderContentType: fiber.MIMEApplicationJSON,
			fiber.HeaderServer:      "halt",
			"Ratelimit-Limit":       "",
			fiber.HeaderRetryAfter:  "",
		} {
			if got := w.Get(name); got != want {
				t.Errorf("Get(%q) = %q, want %q", name, got, want)
			}
		}
		return nil
	})
	if _, err := app.Test(httptest.NewRequest("GET", "/", nil)); err != nil {
		t.Fatal(err)
	}
}
