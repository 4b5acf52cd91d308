package haltecho_test

import (
	"net/http"
	"strconv"
	"testing"

	haltecho "github.com/halt-go/halt/adapters/echo"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
	"github.com/labstack/echo/v4"
)

// harness builds the suite's server: echo's quirks live here.
func harness(t *testing.T, cfg halttest.AdapterConfig) string {
	hello := func(c echo.Context) error { return c.String(http.StatusOK, "ok") }
	var opts []haltecho.Option
	if cfg.SkipFromHeader {
		opts = append(opts, haltecho.WithSkip(func(c echo.Context) bool {
			return c.Request().Header.Get("X-Skip") == "1"
		}))
	}
	if cfg.CostFromHeader {
		opts = append(opts, haltecho.WithCost(func(c echo.Context) int64 {
			cost, _ := strconv.ParseInt(c.Request().Header.Get("X-Cost"), 10, 64)
			return cost
		}))
	}
	if cfg.Style != nil {
		opts = append(opts, haltecho.WithHeaderStyle(cfg.Style))
	}
	if cfg.CustomDeny {
		opts = append(opts, haltecho.WithDenyHandler(func(c echo.Context, d halt.Decision) error {
			c.Response().Header().Set("X-Denied-By", "halttest")
			return c.Blob(http.StatusTooManyRequests, "text/plain", []byte("custom "+strconv.FormatInt(d.RetrySeconds(), 10)))
		}))
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = echo.ExtractIPDirect() // Halt resolves client IPs, not echo
	if cfg.UserFromHeader {
		e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if user := c.Request().Header.Get("X-User"); user != "" {
					c.Set(halt.DefaultUserKey, user)
				}
				return next(c)
			}
		})
	}
	e.Use(haltecho.Middleware(cfg.Global, opts...))
	e.GET("/", hello)
	e.GET("/health", hello)
	e.GET("/admin/stats", hello)
	e.GET("/items/:id", hello)
	var route []echo.MiddlewareFunc
	if cfg.Route != nil {
		route = append(route, haltecho.Middleware(cfg.Route, opts...))
	}
	e.POST("/auth/login", hello, route...)
	return halttest.ServeHandler(t, e)
}

func TestConformance(t *testing.T) {
	halttest.RunAdapterTests(t, newStore, harness)
}

// newStore gives every limiter of the suite a fresh memory store.
func newStore(t *testing.T) halt.Store {
	s := memory.New(nil)
	t.Cleanup(func() { _ = s.Close() })
	return s
}
