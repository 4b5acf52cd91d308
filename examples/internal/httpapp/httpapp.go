// Package httpapp is the common example app on net/http, shared by
// examples/nethttp and the demo.
package httpapp

import (
	"net/http"

	halthttp "github.com/halt-go/halt/adapters/nethttp"
	"github.com/halt-go/halt/examples/internal/app"
)

// Handler serves the common app: GET / under the global limiter, POST
// /auth/login, GET /api/search, GET /api/beta, POST /auth/otp, GET
// /api/smooth and GET /api/export under their own limiters
// stacked on it, GET /health (exempt) and the status endpoint GET
// /rate_limit (never counted, never limited).
func Handler(ls app.Limiters) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, app.HelloBody) })
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, app.HealthBody) })
	json := func(body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, body) })
	}
	mux.Handle("POST /auth/login", halthttp.Middleware(ls.Auth)(json(app.LoginBody)))
	mux.Handle("GET /api/search", halthttp.Middleware(ls.Search)(json(app.SearchBody)))
	mux.Handle("GET /api/beta", halthttp.Middleware(ls.Beta)(json(app.BetaBody)))
	mux.Handle("POST /auth/otp", halthttp.Middleware(ls.OTP)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, body := app.CheckOTP(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})))
	mux.Handle("GET /api/smooth", halthttp.Middleware(ls.Smooth)(json(app.SmoothBody)))
	mux.Handle("GET /api/export", halthttp.Middleware(ls.Export)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app.Export(r.Context())
		writeJSON(w, app.ExportBody)
	})))
	return halthttp.Middleware(ls.Global, halthttp.WithStatusEndpoint(app.StatusPath, ls.Status()...))(mux)
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}
