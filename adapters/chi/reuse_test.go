package haltchi_test

import (
	"net/http"
	"testing"

	"github.com/go-chi/chi/v5"
	haltchi "github.com/halt-go/halt/adapters/chi"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// TestReuse: shared header values (see halttest.RunReuseTests).
func TestReuse(t *testing.T) {
	halttest.RunReuseTests(t, newStore, func(l *halt.Limiter) http.Handler {
		r := chi.NewRouter()
		if l != nil {
			r.Use(haltchi.Middleware(l))
		}
		r.Get("/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		return r
	})
}

// TestStackSurvivesPanics: handlers that panic leave the request stack, so
// give-backs keep working after more of them than the stack holds.
func TestStackSurvivesPanics(t *testing.T) {
	halttest.StackSurvivesPanics(t, newStore, func(l *halt.Limiter, next http.Handler) http.Handler {
		return haltchi.Middleware(l)(next)
	})
}
