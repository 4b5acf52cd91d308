// Command chi serves the common example app with the chi adapter.
//
//	ADDR=127.0.0.1:8080 HALT_TRUSTED_PROXIES=127.0.0.1/32 go run ./chi
package main

import (
	"io"
	"log"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	haltchi "github.com/halt-go/halt/adapters/chi"
	"github.com/halt-go/halt/examples/internal/app"
)

func main() { log.Fatal(run()) }

func run() error {
	cfg, ls, closer, err := app.Setup()
	if err != nil {
		return err
	}
	defer closer.Close()

	r := chi.NewRouter()
	r.Use(haltchi.Middleware(ls.Global, haltchi.WithStatusEndpoint(app.StatusPath, ls.Status()...)))
	r.Get("/", serveJSON(app.HelloBody))
	r.With(haltchi.Middleware(ls.Auth)).Post("/auth/login", serveJSON(app.LoginBody))
	r.With(haltchi.Middleware(ls.Search)).Get("/api/search", serveJSON(app.SearchBody))
	r.With(haltchi.Middleware(ls.Beta)).Get("/api/beta", serveJSON(app.BetaBody))
	r.With(haltchi.Middleware(ls.OTP)).Post("/auth/otp", func(w http.ResponseWriter, r *http.Request) {
		status, body := app.CheckOTP(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
	r.With(haltchi.Middleware(ls.Smooth)).Get("/api/smooth", serveJSON(app.SmoothBody))
	r.With(haltchi.Middleware(ls.Export)).Get("/api/export", func(w http.ResponseWriter, r *http.Request) {
		app.Export(r.Context())
		serveJSON(app.ExportBody)(w, r)
	})
	r.Get("/health", serveJSON(app.HealthBody))

	log.Printf("chi example listening on http://%s", cfg.Addr)
	return (&http.Server{Addr: cfg.Addr, Handler: r, ReadHeaderTimeout: 5 * time.Second}).ListenAndServe()
}

func serveJSON(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}
