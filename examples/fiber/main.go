// Command fiber serves the common example app with the fiber adapter.
//
//	ADDR=127.0.0.1:8080 HALT_TRUSTED_PROXIES=127.0.0.1/32 go run ./fiber
package main

import (
	"bytes"
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
	f.Post("/auth/otp", haltfiber.Middleware(ls.OTP), func(c *fiber.Ctx) error {
		status, body := app.CheckOTP(bytes.NewReader(c.Body()))
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Status(status).SendString(body)
	})
	f.Get("/api/smooth", haltfiber.Middleware(ls.Smooth), send(app.SmoothBody))
	f.Get("/api/export", haltfiber.Middleware(ls.Export), func(c *fiber.Ctx) error {
		app.Export(c.UserContext())
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.SendString(app.ExportBody)
	})
	f.Get("/health", send(app.HealthBody))

	log.Printf("fiber example listening on http://%s", cfg.Addr)
	log.Fatal(errors.Join(f.Listen(cfg.Addr), closer.Close()))
}
