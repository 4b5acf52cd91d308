package haltgin_test

import (
	"net/http"
	"strconv"
	"testing"

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
	if cfg.Style != nil {
		opts = append(opts, haltgin.WithHeaderStyle(cfg.Style))
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
	return halttest.ServeHandler(t, r)
}

// newStore gives every limiter of the suite a fresh memory store.
func newStore(t *testing.T) halt.Store {
	s := memory.New(nil)
	t.Cleanup(func() { _ = s.Close() })
	return s
}
