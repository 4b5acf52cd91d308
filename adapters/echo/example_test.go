package haltecho_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	haltecho "github.com/halt-go/halt/adapters/echo"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
	"github.com/labstack/echo/v4"
)

// The server-wide limit, a stricter limit on one route, and a group whose
// health probe skips the limiter through echo's Skipper convention.
func Example() {
	store := memory.New(nil)
	defer store.Close()
	clock := halt.WithClock(halttest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))) // for a stable output
	trusted := halt.WithTrustedProxies("10.0.0.0/8")                                        // your load balancers
	public, errPublic := halt.New(store, halt.Policy{Name: "public", Limit: 100, Window: time.Minute, Burst: 120}, trusted, clock)
	login, errLogin := halt.New(store, halt.Policy{Name: "auth", Limit: 1, Window: time.Minute, BlockDuration: 5 * time.Minute}, trusted, clock)
	if err := errors.Join(errPublic, errLogin); err != nil {
		panic(err)
	}

	e := echo.New()
	e.Use(haltecho.Middleware(public))
	e.GET("/", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"message": "Hello World"}) })
	e.POST("/auth/login", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) },
		haltecho.Middleware(login))

	admin := e.Group("/admin", haltecho.Middleware(login, haltecho.WithSkip(func(c echo.Context) bool {
		return c.Path() == "/admin/ping"
	})))
	admin.GET("/ping", func(c echo.Context) error { return c.String(http.StatusOK, "pong") })
	// e.Start(":8080")

	for _, q := range [][2]string{{"GET", "/"}, {"POST", "/auth/login"}, {"POST", "/auth/login"}, {"GET", "/admin/ping"}} {
		req := httptest.NewRequest(q[0], q[1], nil)
		req.RemoteAddr = "10.0.0.2:40000"                // the load balancer,
		req.Header.Set("X-Forwarded-For", "203.0.113.7") // for this client
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		fmt.Printf("%-4s %-11s %d  remaining=%q retry-after=%q\n", q[0], q[1], rec.Code,
			rec.Header().Get("RateLimit-Remaining"), rec.Header().Get("Retry-After"))
	}
	// Output:
	// GET  /           200  remaining="119" retry-after=""
	// POST /auth/login 204  remaining="0" retry-after=""
	// POST /auth/login 429  remaining="0" retry-after="300"
	// GET  /admin/ping 200  remaining="117" retry-after=""
}

// A handler that knows its cost only once it has read the request: the
// prompt's length decides how much of the budget it takes.
func ExampleCheck() {
	store := memory.New(nil)
	defer store.Close()
	tokens, err := halt.New(store, halt.Policy{Name: "tokens", Limit: 10_000, Window: time.Hour})
	if err != nil {
		panic(err)
	}
	e := echo.New()
	e.POST("/generate", func(c echo.Context) error {
		var req struct{ Prompt string }
		if err := c.Bind(&req); err != nil {
			return err
		}
		if ok, err := haltecho.Check(c, tokens, int64(len(req.Prompt))); !ok {
			return err // the rejection is written; err is the write's
		}
		return c.JSON(http.StatusOK, map[string]string{"text": "…"})
	})
	_ = e
}
