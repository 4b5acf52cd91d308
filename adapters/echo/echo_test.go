package haltecho_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	haltecho "github.com/halt-go/halt/adapters/echo"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
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
	if cfg.CustomDeny {
		opts = append(opts, haltecho.WithDenyHandler(func(c echo.Context, d halt.Decision) error {
			c.Response().Header().Set("X-Denied-By", "halttest")
			return c.Blob(http.StatusTooManyRequests, "text/plain", []byte("custom "+strconv.FormatInt(d.RetrySeconds(), 10)))
		}))
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = echo.ExtractIPDirect() // Halt resolves client IPs, not echo
	if cfg.Flow != nil {
		e.Use(middleware.Recover()) // echo's own recovery answers a panic with 500
	}
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
	gopts := opts
	if cfg.Status {
		gopts = append(gopts[:len(gopts):len(gopts)], haltecho.WithStatusEndpoint("/rate_limit", cfg.Global, cfg.Route))
	}
	e.Use(haltecho.Middleware(cfg.Global, gopts...))
	e.GET("/", hello)
	e.GET("/health", hello)
	e.GET("/admin/stats", hello)
	e.GET("/items/:id", hello)
	if cfg.Flow != nil {
		e.GET("/outcome", func(c echo.Context) error {
			o := halttest.OutcomeOf(c.Request().Header.Get)
			o.Wait(cfg, c.Request().Context().Done())
			switch {
			case o.Panic:
				panic("halttest: the handler panics")
			case o.Error != 0:
				return echo.NewHTTPError(o.Error, "error")
			}
			return c.String(o.Status, "ok")
		}, haltecho.Middleware(cfg.Flow, opts...))
	}
	if cfg.Settle != nil {
		e.POST("/settle", func(c echo.Context) error {
			cost, _ := strconv.ParseInt(c.Request().Header.Get("X-Cost"), 10, 64)
			res, ok, err := haltecho.Reserve(c, cfg.Settle, cost)
			if !ok {
				return err
			}
			actual, _ := strconv.ParseInt(c.Request().Header.Get("X-Actual"), 10, 64)
			if err := res.Settle(actual); err != nil {
				return err
			}
			return c.String(http.StatusOK, "settled")
		})
	}
	var route []echo.MiddlewareFunc
	if cfg.Route != nil {
		route = append(route, haltecho.Middleware(cfg.Route, opts...))
	}
	e.POST("/auth/login", hello, route...)
	if cfg.Handler != nil {
		e.POST("/generate", func(c echo.Context) error {
			cost, _ := strconv.ParseInt(c.Request().Header.Get("X-Cost"), 10, 64)
			if ok, err := haltecho.Check(c, cfg.Handler, cost); !ok {
				return err
			}
			return c.String(http.StatusOK, "generated")
		})
	}
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

// Check returns the error of writing the rejection, for the handler to
// return to echo; a write that works returns nil.
func TestCheckReturnsWriteError(t *testing.T) {
	l, err := halt.New(newStore(t), halt.Policy{Name: "check", Limit: 1, Window: time.Minute},
		halt.WithTrustedProxies("127.0.0.1/32"))
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	newContext := func(w http.ResponseWriter) echo.Context {
		req := httptest.NewRequestWithContext(t.Context(), "POST", "/generate", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("X-Forwarded-For", "203.0.113.90")
		return e.NewContext(req, w)
	}
	if ok, err := haltecho.Check(newContext(httptest.NewRecorder()), l, 1); !ok || err != nil {
		t.Fatalf("first check: %v %v", ok, err)
	}
	w := httptest.NewRecorder()
	if ok, err := haltecho.Check(newContext(w), l, 1); ok || err != nil || w.Code != 429 ||
		w.Body.String() != halttest.RateLimitBody(60) || w.Header().Get("Retry-After") != "60" {
		t.Fatalf("second check: %v %v, %d %v %q", ok, err, w.Code, w.Header(), w.Body.String())
	}
	broken := &failingWriter{ResponseRecorder: httptest.NewRecorder()}
	if ok, err := haltecho.Check(newContext(broken), l, 1); ok || !errors.Is(err, errWrite) {
		t.Fatalf("check with a failing writer: %v %v", ok, err)
	}
}

var errWrite = errors.New("connection reset")

type failingWriter struct{ *httptest.ResponseRecorder }

func (f *failingWriter) Write([]byte) (int, error) { return 0, errWrite }

// Route is echo's c.Path() in e.Use and group middleware: a PerRoute
// policy counts each route of a group apart.
func TestPerRouteInGroup(t *testing.T) {
	p := halt.Policy{Name: "group", Limit: 1, Window: time.Minute, PerRoute: true}
	l, err := halt.New(newStore(t), p, halt.WithTrustedProxies("127.0.0.1/32"))
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	ok := func(c echo.Context) error { return c.String(http.StatusOK, "ok") }
	api := e.Group("/api", haltecho.Middleware(l))
	api.GET("/items/:id", ok)
	api.GET("/files/*", ok)
	for _, step := range []struct {
		path string
		want int
	}{{"/api/items/1", 200}, {"/api/items/2", 429}, {"/api/files/a/b", 200}, {"/api/files/c", 429}} {
		w := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(t.Context(), "GET", step.path, nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("X-Forwarded-For", "203.0.113.91")
		e.ServeHTTP(w, req)
		if w.Code != step.want {
			t.Fatalf("GET %s: %d, want %d", step.path, w.Code, step.want)
		}
	}
	c := e.NewContext(httptest.NewRequestWithContext(t.Context(), "GET", "/api/items/3", nil), httptest.NewRecorder())
	c.SetPath("/api/items/:id")
	if key := l.Key(haltecho.Request(c)); key != "halt:group:/api/items/:id:{ip:192.0.2.1}" {
		t.Fatalf("key %q", key)
	}
}

// Stacked three deep (server, group, Check in the handler): a rejection by
// the last gives back what both middleware limiters took.
func TestStackedGiveBack(t *testing.T) {
	store := newStore(t)
	proxy := halt.WithTrustedProxies("127.0.0.1/32")
	limiter := func(name string, limit int64) *halt.Limiter {
		l, err := halt.New(store, halt.Policy{Name: name, Limit: limit, Window: time.Hour}, proxy)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	global, group, handler := limiter("global", 100), limiter("group", 3), limiter("handler", 1)
	e := echo.New()
	e.Use(haltecho.Middleware(global))
	api := e.Group("/api", haltecho.Middleware(group))
	api.POST("/generate", func(c echo.Context) error {
		if ok, err := haltecho.Check(c, handler, 1); !ok {
			return err
		}
		return c.String(http.StatusOK, "generated")
	})
	newRequest := func() *http.Request {
		req := httptest.NewRequestWithContext(t.Context(), "POST", "/api/generate", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("X-Forwarded-For", "203.0.113.93")
		return req
	}
	// handler admits 1, then refuses: global and group are charged once
	for i, want := range []int{200, 429, 429, 429, 429} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, newRequest())
		if w.Code != want {
			t.Fatalf("request %d: %d, want %d", i+1, w.Code, want)
		}
	}
	standing := func(l *halt.Limiter) int64 {
		st, err := l.Standing(t.Context(), haltecho.Request(e.NewContext(newRequest(), httptest.NewRecorder())))
		if err != nil {
			t.Fatal(err)
		}
		return st[0].Remaining
	}
	if g, gr := standing(global), standing(group); g != 99 || gr != 2 {
		t.Fatalf("after 1 admitted and 4 refused: global %d left, group %d left; want 99 and 2", g, gr)
	}
}
