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

// limitedRouter is router behind the Halt middleware with a limit of n
// per window, the peer being the client.
func limitedRouter(t *testing.T, n int64, window time.Duration) http.Handler {
	l, err := halt.New(newStore(t), halt.Policy{Name: "reuse", Limit: n, Window: window},
		halt.WithTelemetry(halt.NopTelemetry{}))
	if err != nil {
		t.Fatal(err)
	}
	return router(halthttp.Middleware(l))
}

// TestHeadersOutliveRequest: the headers of each response stay as the
// middleware set them while later requests go through it, for values below
// 1024 (shared) and above (formatted for the response).
func TestHeadersOutliveRequest(t *testing.T) {
	halttest.HeadersOutliveRequest(t, limitedRouter(t, 1000, time.Hour))
	halttest.HeadersOutliveRequest(t, limitedRouter(t, 5000, time.Hour))
}

// TestStackSurvivesPanics: handlers that panic leave the request stack, so
// give-backs keep working after more of them than the stack holds.
func TestStackSurvivesPanics(t *testing.T) {
	halttest.StackSurvivesPanics(t, newStore, func(l *halt.Limiter, next http.Handler) http.Handler {
		return halthttp.Middleware(l)(next)
	})
}
