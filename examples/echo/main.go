// Command echo serves the common example app with the echo adapter.
//
//	ADDR=127.0.0.1:8080 HALT_TRUSTED_PROXIES=127.0.0.1/32 go run ./echo
package main

import (
	"log"
	"net/http"
	"time"

	haltecho "github.com/halt-go/halt/adapters/echo"
	"github.com/halt-go/halt/examples/internal/app"
	"github.com/labstack/echo/v4"
)

func reply(body string) echo.HandlerFunc {
	return func(c echo.Context) error { return c.JSONBlob(http.StatusOK, []byte(body)) }
}

func main() {
	e := echo.New()
	e.HideBanner = true
	cfg, ls, closer, err := app.Setup()
	if err != nil {
		log.Fatalf("echo example: %v", err)
	}

	e.Use(haltecho.Middleware(ls.Global, haltecho.WithStatusEndpoint(app.StatusPath, ls.Status()...)))
	e.GET("/", reply(app.HelloBody))
	e.POST("/auth/login", reply(app.LoginBody), haltecho.Middleware(ls.Auth))
	e.GET("/api/search", reply(app.SearchBody), haltecho.Middleware(ls.Search))
	e.GET("/api/beta", reply(app.BetaBody), haltecho.Middleware(ls.Beta))
	e.POST("/auth/otp", func(c echo.Context) error {
		status, body := app.CheckOTP(c.Request().Body)
		return c.JSONBlob(status, []byte(body))
	}, haltecho.Middleware(ls.OTP))
	e.GET("/api/smooth", reply(app.SmoothBody), haltecho.Middleware(ls.Smooth))
	e.GET("/api/export", func(c echo.Context) error {
		app.Export(c.Request().Context())
		return c.JSONBlob(http.StatusOK, []byte(app.ExportBody))
	}, haltecho.Middleware(ls.Export))
	e.GET("/health", reply(app.HealthBody))

	e.Server.ReadHeaderTimeout = 5 * time.Second
	if err := e.Start(cfg.Addr); err != nil {
		_ = closer.Close()
		log.Fatalf("echo example: %v", err)
	}
}
