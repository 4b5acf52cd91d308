package haltgin_test

import (
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
	if cfg.UserFromHeader {
		r.Use(func(c *gin.Context) {
			if u := c.GetHeader("X-User"); u != "" {
				c.Set(halt.DefaultUserKey, u)
			}
		})
	}
	r.Use(haltgin.Middleware(cfg.Global, opts...))
	r.GET("/", ok)
	r.GET("/health", ok)
	r.GET("/admin/stats", ok)
	r.GET("/items/:id", ok)
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
