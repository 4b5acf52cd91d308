// Command fiber serves the common example app with the fiber adapter.
//
//	ADDR=127.0.0.1:8080 HALT_TRUSTED_PROXIES=127.0.0.1/32 go run ./fiber
package main

import (
	"errors"
	"log"

	"github.com/gofiber/fiber/v2"
	haltfiber "github.com/halt-go/halt/adapters/fiber"
	"github.com/halt-go/halt/examples/internal/app"
)

func main() {
	// Fiber refuses requests whose headers exceed ReadBufferSize (4 KiB by
	// default); long X-Forwarded-For chains need more.
	f := fiber.New(fiber.Config{DisableStartupMessage: true, ReadBufferSize: 64 << 10})
	cfg, ls, closer, err := app.Setup()
	if err != nil {
		log.Fatal(err)
	}

	f.Use(haltfiber.Middleware(ls.Global, haltfiber.WithStatusEndpoint(app.StatusPath, ls.Status()...)))
	send := func(body string) fiber.Handler {
		return func(c *fiber.Ctx) error {
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
			return c.SendString(body)
		}
	}
	f.Get("/", send(app.HelloBody))
	f.Post("/auth/login", haltfiber.Middleware(ls.Auth), send(app.LoginBody))
	f.Get("/api/search", haltfiber.Middleware(ls.Search), send(app.SearchBody))
	f.Get("/api/beta", haltfiber.Middleware(ls.Beta), send(app.BetaBody))
	f.Get("/health", send(app.HealthBody))

	log.Printf("fiber example listening on http://%s", cfg.Addr)
	log.Fatal(errors.Join(f.Listen(cfg.Addr), closer.Close()))
}
