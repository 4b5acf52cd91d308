package haltgin_test

import (
	"log"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	haltgin "github.com/halt-go/halt/adapters/gin"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/stores/memory"
)

// A global limit for every route, a stricter one stacked on the login
// route, a group with its own limit where writes cost more, and /health
// exempt by default.
func Example() {
	r := gin.New()
	store := memory.New(nil)
	defer store.Close()
	limit := func(p halt.Policy) *halt.Limiter {
		l, err := halt.New(store, p, halt.WithTrustedProxies("10.0.0.0/8")) // your load balancers
		if err != nil {
			log.Fatal(err)
		}
		return l
	}

	r.Use(haltgin.Middleware(limit(halt.Policy{Name: "public", Limit: 100, Window: time.Minute, Burst: 120})))
	r.GET("/", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"message": "Hello World"}) })
	r.GET("/health", func(c *gin.Context) { c.String(http.StatusOK, "ok") })

	auth := limit(halt.Policy{Name: "auth", Limit: 10, Window: time.Minute, BlockDuration: 5 * time.Minute})
	r.POST("/auth/login", haltgin.Middleware(auth), func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"token": "…"}) })

	writesCostMore := haltgin.WithCost(func(c *gin.Context) int64 {
		if c.Request.Method == http.MethodGet {
			return 1
		}
		return 5
	})
	api := r.Group("/api", haltgin.Middleware(limit(halt.Policy{Name: "api", Limit: 50, Window: time.Minute}), writesCostMore))
	api.GET("/items", func(c *gin.Context) { c.JSON(http.StatusOK, []string{}) })

	_ = r // r.Run(":8080")
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
