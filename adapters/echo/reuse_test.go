package haltecho_test

import (
	"net/http"
	"testing"

	haltecho "github.com/halt-go/halt/adapters/echo"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/labstack/echo/v4"
)

// TestReuse: pooled exchanges and shared header values (see
// halttest.RunReuseTests).
func TestReuse(t *testing.T) {
	halttest.RunReuseTests(t, newStore, func(l *halt.Limiter) http.Handler {
		// echo builds its chain for each request, one allocation per
		// middleware: the baseline has a middleware that does nothing.
		mw := func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error { return next(c) }
		}
		if l != nil {
			mw = haltecho.Middleware(l)
		}
		e := echo.New()
		e.Use(mw)
		e.GET("/", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
		return e
	})
}
