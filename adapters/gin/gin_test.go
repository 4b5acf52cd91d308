package haltgin_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	haltgin "github.com/halt-go/halt/adapters/gin"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

func init() { gin.SetMode(gin.TestMode) }

func TestConformance(t *testing.T) {
	halttest.RunAdapterTests(t, newStore, serve)
}

// serve is the adapter harness: gin's quirks live here.
func serve(t *testing.T, cfg halttest.AdapterConfig) string {
	ok := func(c *gin.Context) { c.String(http.StatusOK, "ok") }
	var opts []haltgin.Option
	if cfg.CostFromHeader {
		opts = append(opts, haltgin.WithCost(func(c *gin.Context) int64 {
			n, _ := strconv.ParseInt(c.GetHeader("X-Cost"), 10, 64)
			return n
		}))
	}
	if cfg.SkipFromHeader {
		opts = append(opts, haltgin.WithSkip(func(c *gin.Context) bool { return c.GetHeader("X-Skip") == "1" }))
	}
	if cfg.CustomDeny {
		opts = append(opts, haltgin.WithDenyHandler(func(c *gin.Context, d halt.Decision) {
			c.Header("X-Denied-By", "halttest")
			c.Data(http.StatusTooManyRequests, "text/plain", []byte("custom "+strconv.FormatInt(d.RetrySeconds(), 10)))
		}))
	}
	r := gin.New()
	if err := r.SetTrustedProxies(nil); err != nil { // Halt resolves client IPs, not gin
		t.Fatal(err)
	}
	if cfg.Flow != nil {
		r.Use(gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, _ any) { c.AbortWithStatus(http.StatusInternalServerError) }))
	}
	if cfg.UserFromHeader {
		r.Use(func(c *gin.Context) {
			if u := c.GetHeader("X-User"); u != "" {
				c.Set(halt.DefaultUserKey, u)
			}
		})
	}
	gopts := opts
	if cfg.Status {
		gopts = append(gopts[:len(gopts):len(gopts)], haltgin.WithStatusEndpoint("/rate_limit", cfg.Global, cfg.Route))
	}
	r.Use(haltgin.Middleware(cfg.Global, gopts...))
	r.GET("/", ok)
	r.GET("/health", ok)
	r.GET("/admin/stats", ok)
	r.GET("/items/:id", ok)
	if cfg.Flow != nil {
		r.GET("/outcome", haltgin.Middleware(cfg.Flow, opts...), func(c *gin.Context) {
			o := halttest.OutcomeOf(c.GetHeader)
			o.Wait(cfg, c.Request.Context().Done())
			switch {
			case o.Panic:
				panic("halttest: the handler panics")
			case o.Error != 0:
				c.String(o.Error, "error")
			default:
				c.String(o.Status, "ok")
			}
		})
	}
	if cfg.Settle != nil {
		r.POST("/settle", func(c *gin.Context) {
			cost, _ := strconv.ParseInt(c.GetHeader("X-Cost"), 10, 64)
			res, ok := haltgin.Reserve(c, cfg.Settle, cost)
			if !ok {
				return
			}
			actual, _ := strconv.ParseInt(c.GetHeader("X-Actual"), 10, 64)
			if err := res.Settle(actual); err != nil {
				c.String(http.StatusInternalServerError, err.Error())
				return
			}
			c.String(http.StatusOK, "settled")
		})
	}
	login := []gin.HandlerFunc{ok}
	if cfg.Route != nil {
		login = []gin.HandlerFunc{haltgin.Middleware(cfg.Route, opts...), ok}
	}
	r.POST("/auth/login", login...)
	if cfg.Handler != nil {
		r.POST("/generate", func(c *gin.Context) {
			cost, _ := strconv.ParseInt(c.GetHeader("X-Cost"), 10, 64)
			if !haltgin.Check(c, cfg.Handler, cost) {
				return
			}
			c.String(http.StatusOK, "generated")
		})
	}
	return halttest.ServeHandler(t, r)
}

// newStore gives every limiter of the suite a fresh memory store.
func newStore(t *testing.T) halt.Store {
	s := memory.New(nil)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Check aborts the chain on a rejection: handlers after the checking one
// do not run.
func TestCheckAborts(t *testing.T) {
	l, err := halt.New(newStore(t), halt.Policy{Name: "check", Limit: 1, Window: time.Minute},
		halt.WithTrustedProxies("127.0.0.1/32"))
	if err != nil {
		t.Fatal(err)
	}
	var after int
	r := gin.New()
	r.POST("/generate", func(c *gin.Context) {
		if haltgin.Check(c, l, 1) {
			c.Next()
		}
	}, func(c *gin.Context) { after++; c.String(http.StatusOK, "generated") })
	for i, want := range []int{200, 429} {
		w := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(t.Context(), "POST", "/generate", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("X-Forwarded-For", "203.0.113.90")
		r.ServeHTTP(w, req)
		if w.Code != want {
			t.Fatalf("request %d: status %d, want %d", i+1, w.Code, want)
		}
	}
	if after != 1 {
		t.Fatalf("the handler after Check ran %d times, want 1", after)
	}
}

// A PerRoute policy in a group's middleware counts each of the group's
// routes apart, and the group's route patterns are gin's full paths.
func TestPerRouteInGroup(t *testing.T) {
	p := halt.Policy{Name: "group", Limit: 1, Window: time.Minute, PerRoute: true}
	l, err := halt.New(newStore(t), p, halt.WithTrustedProxies("127.0.0.1/32"))
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	api := r.Group("/api", haltgin.Middleware(l))
	ok := func(c *gin.Context) { c.String(http.StatusOK, "ok") }
	api.GET("/items/:id", ok)
	api.GET("/search", ok)
	get := func(path string) int {
		w := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(t.Context(), "GET", path, nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("X-Forwarded-For", "203.0.113.91")
		r.ServeHTTP(w, req)
		return w.Code
	}
	for _, step := range []struct {
		path string
		want int
	}{{"/api/items/1", 200}, {"/api/items/2", 429}, {"/api/search", 200}, {"/api/search", 429}} {
		if got := get(step.path); got != step.want {
			t.Fatalf("GET %s: %d, want %d", step.path, got, step.want)
		}
	}
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequestWithContext(t.Context(), "GET", "/api/items/3", nil)
	c.Request.RemoteAddr = "203.0.113.92:1"
	if got := haltgin.Request(c).Route(); got != "" {
		t.Fatalf("Route of an unrouted context = %q, want \"\"", got)
	}
	if key := l.Key(haltgin.Request(c)); key != "halt:group::{ip:203.0.113.92}" {
		t.Fatalf("key of an unrouted request %q", key)
	}
}

// Stacked three deep (engine, group, Check in the handler): a rejection
// by the last gives back what both middleware limiters took.
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
	r := gin.New()
	r.Use(haltgin.Middleware(global))
	api := r.Group("/api", haltgin.Middleware(group))
	api.POST("/generate", func(c *gin.Context) {
		if haltgin.Check(c, handler, 1) {
			c.String(http.StatusOK, "generated")
		}
	})
	do := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(t.Context(), "POST", "/api/generate", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("X-Forwarded-For", "203.0.113.93")
		r.ServeHTTP(w, req)
		return w
	}
	// handler admits 1, then refuses: global and group are charged once
	for i, want := range []int{200, 429, 429, 429, 429} {
		if w := do(); w.Code != want {
			t.Fatalf("request %d: %d, want %d", i+1, w.Code, want)
		}
	}
	standing := func(l *halt.Limiter) int64 {
		req := httptest.NewRequestWithContext(t.Context(), "POST", "/api/generate", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("X-Forwarded-For", "203.0.113.93")
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = req
		st, err := l.Standing(t.Context(), haltgin.Request(c))
		if err != nil {
			t.Fatal(err)
		}
		return st[0].Remaining
	}
	if g, gr := standing(global), standing(group); g != 99 || gr != 2 {
		t.Fatalf("after 1 admitted and 4 refused: global %d left, group %d left; want 99 and 2", g, gr)
	}
}
