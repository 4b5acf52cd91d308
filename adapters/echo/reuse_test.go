package haltecho_test

import (
	"net/http"
	"testing"
	"time"

	haltecho "github.com/halt-go/halt/adapters/echo"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/labstack/echo/v4"
)

// router is the test's router: GET / answers 200 after mw (for nil, a
// middleware that does nothing).
func router(mw echo.MiddlewareFunc) http.Handler {
	e := echo.New()
	if mw == nil {
		// echo builds its chain for each request, one allocation per
		// middleware: the baseline has a middleware that does nothing.
		mw = func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error { return next(c) }
		}
	}
	e.Use(mw)
	e.GET("/", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	return e
}

// limitedRouter is router behind the Halt middleware with a limit of n
// per window, the peer being the client.
func limitedRouter(t *testing.T, n int64, window time.Duration) http.Handler {
	l, err := halt.New(newStore(t), halt.Policy{Name: "reuse", Limit: n, Window: window},
		halt.WithTelemetry(halt.NopTelemetry{}))
	if err != nil {
		t.Fatal(err)
	}
	return router(haltecho.Middleware(l))
}

// TestHeadersOutliveRequest: the headers of each response stay as the
// middleware set them while later requests go through it, for values below
// 1024 (shared) and above (formatted for the response).
func TestHeadersOutliveRequest(t *testing.T) {
	halttest.HeadersOutliveRequest(t, limitedRouter(t, 1000, time.Hour))
	halttest.HeadersOutliveRequest(t, limitedRouter(t, 5000, time.Hour))
}
