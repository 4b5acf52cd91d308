package haltgin_test

import (
	"net/http"
	"testing"

	"github.com/gin-gonic/gin"
	haltgin "github.com/halt-go/halt/adapters/gin"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// TestReuse: shared header values (see halttest.RunReuseTests).
func TestReuse(t *testing.T) {
	halttest.RunReuseTests(t, newStore, func(l *halt.Limiter) http.Handler {
		e := gin.New()
		if l != nil {
			e.Use(haltgin.Middleware(l))
		}
		e.GET("/", func(c *gin.Context) { c.Status(http.StatusOK) })
		return e
	})
}
