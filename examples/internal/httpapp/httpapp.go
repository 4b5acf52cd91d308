// Package httpapp is the common example app on net/http, shared by
// examples/nethttp and the demo.
package httpapp

import (
	"net/http"

	halthttp "github.com/halt-go/halt/adapters/nethttp"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/examples/internal/app"
)

// Handler serves GET / under global, POST /auth/login under auth stacked on
// global, and GET /health (exempt).
func Handler(global, auth *halt.Limiter) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, app.HelloBody) })
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, app.HealthBody) })
	login := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, app.LoginBody) })
	mux.Handle("POST /auth/login", halthttp.Middleware(auth)(login))
	return halthttp.Middleware(global)(mux)
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}
