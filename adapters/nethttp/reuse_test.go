package halthttp_test

import (
	"net/http"
	"testing"

	halthttp "github.com/halt-go/halt/adapters/nethttp"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// TestReuse: pooled exchanges and shared header values (see
// halttest.RunReuseTests).
func TestReuse(t *testing.T) {
	halttest.RunReuseTests(t, newStore, func(l *halt.Limiter) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		if l == nil {
			return mux
		}
		return halthttp.Middleware(l)(mux)
	})
}

// TestStackSurvivesPanics: handlers that panic leave the request stack, so
// give-backs keep working after more of them than the stack holds.
func TestStackSurvivesPanics(t *testing.T) {
	halttest.StackSurvivesPanics(t, newStore, func(l *halt.Limiter, next http.Handler) http.Handler {
		return halthttp.Middleware(l)(next)
	})
}
