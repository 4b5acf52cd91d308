package halthttp_test

import (
	"net/http"
	"testing"
	"time"

	halthttp "github.com/halt-go/halt/adapters/nethttp"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// router is the test's router: GET / answers 200 after mw (none for nil).
func router(mw func(http.Handler) http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	if mw == nil {
		return mux
	}
	return mw(mux)
}

// limitedRouter is router behind the Halt middleware with a limit of 1,000
// per window, the peer being the client.
func limitedRouter(t *testing.T, window time.Duration) http.Handler {
	l, err := halt.New(newStore(t), halt.Policy{Name: "reuse", Limit: 1000, Window: window},
		halt.WithTelemetry(halt.NopTelemetry{}))
	if err != nil {
		t.Fatal(err)
	}
	return router(halthttp.Middleware(l))
}

// TestHeadersOutliveRequest: the headers of each response stay as the
// middleware set them while later requests go through it.
func TestHeadersOutliveRequest(t *testing.T) {
	halttest.HeadersOutliveRequest(t, limitedRouter(t, time.Hour))
}
