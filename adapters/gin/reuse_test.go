package haltgin_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	haltgin "github.com/halt-go/halt/adapters/gin"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// router is the test's router: GET / answers 200 after mw (none for nil).
func router(mw gin.HandlerFunc) http.Handler {
	e := gin.New()
	if mw != nil {
		e.Use(mw)
	}
	e.GET("/", func(c *gin.Context) { c.Status(http.StatusOK) })
	return e
}

// limitedRouter is router behind the Halt middleware with a limit of n
// per window, the peer being the client.
func limitedRouter(t *testing.T, n int64, window time.Duration) http.Handler {
	l, err := halt.New(newStore(t), halt.Policy{Name: "reuse", Limit: n, Window: window},
		halt.WithTelemetry(halt.NopTelemetry{}))
	if err != nil {
		t.Fatal(err)
	}
	return router(haltgin.Middleware(l))
}

// TestHeadersOutliveRequest: the headers of each response stay as the
// middleware set them while later requests go through it, for values below
// 1024 (shared) and above (formatted for the response).
func TestHeadersOutliveRequest(t *testing.T) {
	halttest.HeadersOutliveRequest(t, limitedRouter(t, 1000, time.Hour))
	halttest.HeadersOutliveRequest(t, limitedRouter(t, 5000, time.Hour))
}
