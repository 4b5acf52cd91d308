package haltgin_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gin-gonic/gin"
	haltgin "github.com/halt-go/halt/adapters/gin"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

// A global limit for every route, a stricter one stacked on the login
// route, a group where writes cost more, and /health exempt by default.
func Example() {
	gin.SetMode(gin.ReleaseMode) // no route listing on stdout
	store := memory.New(nil)
	defer store.Close()
	clock := halttest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) // for a stable output
	limit := func(p halt.Policy) *halt.Limiter {
		l, err := halt.New(store, p, halt.WithTrustedProxies("10.0.0.0/8"), halt.WithClock(clock)) // your load balancers
		if err != nil {
			panic(err)
		}
		return l
	}

	r := gin.New()
	r.Use(haltgin.Middleware(limit(halt.Policy{Name: "public", Limit: 100, Window: time.Minute, Burst: 120})))
	r.GET("/", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"message": "Hello World"}) })
	r.GET("/health", func(c *gin.Context) { c.String(http.StatusOK, "ok") })

	auth := limit(halt.Policy{Name: "auth", Limit: 1, Window: time.Minute, BlockDuration: 5 * time.Minute})
	r.POST("/auth/login", haltgin.Middleware(auth), func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"token": "…"}) })

	writesCostMore := haltgin.WithCost(func(c *gin.Context) int64 {
		if c.Request.Method == http.MethodGet {
			return 1
		}
		return 5
	})
	api := r.Group("/api", haltgin.Middleware(limit(halt.Policy{Name: "api", Limit: 10, Window: time.Minute}), writesCostMore))
	api.GET("/items", func(c *gin.Context) { c.JSON(http.StatusOK, []string{}) })
	api.POST("/items", func(c *gin.Context) { c.Status(http.StatusCreated) })
	// r.Run(":8080")

	for _, q := range [][2]string{{"GET", "/"}, {"GET", "/health"}, {"POST", "/auth/login"}, {"POST", "/auth/login"},
		{"GET", "/api/items"}, {"POST", "/api/items"}} {
		req := httptest.NewRequest(q[0], q[1], nil)
		req.RemoteAddr = "10.0.0.2:40000"                // the load balancer,
		req.Header.Set("X-Forwarded-For", "203.0.113.7") // for this client
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		fmt.Printf("%-4s %-11s %d  remaining=%q retry-after=%q\n", q[0], q[1], w.Code,
			w.Header().Get("RateLimit-Remaining"), w.Header().Get("Retry-After"))
	}
	// Output:
	// GET  /           200  remaining="119" retry-after=""
	// GET  /health     200  remaining="" retry-after=""
	// POST /auth/login 200  remaining="0" retry-after=""
	// POST /auth/login 429  remaining="0" retry-after="300"
	// GET  /api/items  200  remaining="9" retry-after=""
	// POST /api/items  201  remaining="0" retry-after=""
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
	r := gin.New()
	r.POST("/generate", func(c *gin.Context) {
		var req struct{ Prompt string }
		if err := c.ShouldBindJSON(&req); err != nil {
			c.AbortWithStatus(http.StatusBadRequest)
			return
		}
		if !haltgin.Check(c, tokens, int64(len(req.Prompt))) {
			return // the rejection is written and the chain aborted
		}
		c.JSON(http.StatusOK, gin.H{"text": "…"})
	})
	_ = r
}
