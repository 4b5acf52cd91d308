package haltgin_test

import (
	"log"
	"net/http"

	"github.com/gin-gonic/gin"
	haltgin "github.com/halt-go/halt/adapters/gin"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/stores/memory"
)

// A global limit for every route, a stricter one stacked on the login
// route, and /health exempt by default.
func Example() {
	store := memory.New(nil)
	defer store.Close()
	proxies := halt.WithTrustedProxies("10.0.0.0/8") // your load balancers
	global, err := halt.New(store, halt.Policy{Name: "public", Limit: 100, Window: 60e9, Burst: 120}, proxies)
	if err != nil {
		log.Fatal(err)
	}
	auth, err := halt.New(store, halt.Policy{Name: "auth", Limit: 10, Window: 60e9, BlockDuration: 300e9}, proxies)
	if err != nil {
		log.Fatal(err)
	}

	r := gin.New()
	r.Use(haltgin.Middleware(global))
	r.GET("/", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"message": "Hello World"}) })
	r.POST("/auth/login", haltgin.Middleware(auth), func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"token": "…"}) })
	r.GET("/health", func(c *gin.Context) { c.String(http.StatusOK, "ok") })

	// A group with its own limit, where writes cost more.
	writes, err := halt.New(store, halt.Policy{Name: "api", Limit: 50, Window: 60e9}, proxies)
	if err != nil {
		log.Fatal(err)
	}
	api := r.Group("/api", haltgin.Middleware(writes, haltgin.WithCost(func(c *gin.Context) int64 {
		if c.Request.Method == http.MethodPost {
			return 5 // writes cost more
		}
		return 1
	})))
	api.GET("/items", func(c *gin.Context) { c.JSON(http.StatusOK, []string{}) })

	_ = r // r.Run(":8080")
}
