// Command gin serves the common example app with the gin adapter.
//
//	ADDR=127.0.0.1:8080 HALT_TRUSTED_PROXIES=127.0.0.1/32 go run ./gin
package main

import (
	"log"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	haltgin "github.com/halt-go/halt/adapters/gin"
	"github.com/halt-go/halt/examples/internal/app"
)

func main() {
	cfg, ls, closer, err := app.Setup()
	if err != nil {
		log.Fatal(err)
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery(), haltgin.Middleware(ls.Global, haltgin.WithStatusEndpoint(app.StatusPath, ls.Status()...)))
	json := func(body string) gin.HandlerFunc {
		return func(c *gin.Context) { c.Data(http.StatusOK, "application/json", []byte(body)) }
	}
	r.GET("/", json(app.HelloBody))
	r.POST("/auth/login", haltgin.Middleware(ls.Auth), json(app.LoginBody))
	r.GET("/api/search", haltgin.Middleware(ls.Search), json(app.SearchBody))
	r.GET("/api/beta", haltgin.Middleware(ls.Beta), json(app.BetaBody))
	r.POST("/auth/otp", haltgin.Middleware(ls.OTP), func(c *gin.Context) {
		status, body := app.CheckOTP(c.Request.Body)
		c.Data(status, "application/json", []byte(body))
	})
	r.GET("/api/smooth", haltgin.Middleware(ls.Smooth), json(app.SmoothBody))
	r.GET("/api/export", haltgin.Middleware(ls.Export), func(c *gin.Context) {
		app.Export(c.Request.Context())
		c.Data(http.StatusOK, "application/json", []byte(app.ExportBody))
	})
	r.GET("/health", json(app.HealthBody))

	log.Printf("gin example listening on http://%s", cfg.Addr)
	srv := &http.Server{Addr: cfg.Addr, Handler: r, ReadHeaderTimeout: 5 * time.Second}
	err = srv.ListenAndServe()
	_ = closer.Close()
	log.Fatal(err)
}
