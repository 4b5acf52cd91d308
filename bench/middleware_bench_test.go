package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	halthttp "github.com/halt-go/halt/adapters/nethttp"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/stores/memory"
	haltprom "github.com/halt-go/halt/telemetry/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// discard is a reusable http.ResponseWriter: the benchmark measures the
// middleware, not a recorder's or a server's allocations. Its header map is
// emptied before each request and reused (a server allocates one per
// response, for both variants alike).
type discard struct {
	h    http.Header
	code int
}

func (w *discard) Header() http.Header         { return w.h }
func (w *discard) Write(p []byte) (int, error) { return len(p), nil }
func (w *discard) WriteHeader(code int)        { w.code = code }

var plainText = []string{"text/plain; charset=utf-8"}

// BenchmarkMiddleware serves one request through a bare handler and through
// halthttp.Middleware around it; the difference is what the middleware adds
// (time and allocations) to every request.
func BenchmarkMiddleware(b *testing.B) {
	// The handler sets a header of its own, as nearly every handler does
	// (so the header map's first allocation is the handler's, not the
	// middleware's).
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = plainText
		w.WriteHeader(http.StatusOK)
	})
	run := func(b *testing.B, h http.Handler) {
		r := httptest.NewRequest(http.MethodGet, "/api/items", nil)
		r.RemoteAddr = "198.18.0.7:52311"
		w := &discard{h: make(http.Header)}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, r)
			if w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
		}
	}
	b.Run("handler=bare", func(b *testing.B) { run(b, ok) })
	b.Run("handler=halthttp", func(b *testing.B) {
		// A limit of 50 that refills faster than the loop can ask: every
		// request is allowed and the headers carry two-digit numbers, as a
		// real limit's do (strconv formats numbers below 100 without
		// allocating).
		run(b, halthttp.Middleware(middlewareLimiter(b))(ok))
	})
	b.Run("handler=halthttp-prometheus", func(b *testing.B) {
		// The same with the Prometheus sink registered: what reporting
		// every decision to Prometheus adds to the quiet default.
		run(b, halthttp.Middleware(middlewareLimiter(b, halt.WithTelemetry(promTelemetry())))(ok))
	})
	// The Prometheus sink's cost in parts: a sink that counts requests
	// and does nothing with the count (what the limiter spends reporting
	// an outcome), and one that also times the store call (the second
	// clock read that timing costs).
	b.Run("handler=halthttp-counter", func(b *testing.B) {
		run(b, halthttp.Middleware(middlewareLimiter(b, halt.WithTelemetry(&nopCounter{})))(ok))
	})
	b.Run("handler=halthttp-timer", func(b *testing.B) {
		run(b, halthttp.Middleware(middlewareLimiter(b, halt.WithTelemetry(&nopTimer{})))(ok))
	})
}

// nopCounter is a metrics sink that counts nothing: it implements
// halt.RequestCounter, so the limiter reports each request's outcome to
// it in one call, and no store timing.
type nopCounter struct{ halt.NopTelemetry }

func (*nopCounter) OnRequest(context.Context, string, halt.Outcome) {}

// nopTimer is nopCounter that also has the store's decisions timed
// (halt.StoreTimer), and discards the durations.
type nopTimer struct{ nopCounter }

func (*nopTimer) OnStoreDuration(context.Context, string, time.Duration) {}

// middlewareLimiter is the middleware benchmarks' limiter: the memory
// store, a limit of 50 that refills faster than any loop asks.
func middlewareLimiter(tb testing.TB, opts ...halt.Option) *halt.Limiter {
	tb.Helper()
	s := memory.New(nil)
	tb.Cleanup(func() { _ = s.Close() })
	l, err := halt.New(s, halt.Policy{Name: "bench", Limit: 50, Window: time.Microsecond}, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// promTelemetry is the Prometheus sink as an application wires it:
// registered with a registry.
func promTelemetry() *haltprom.Telemetry {
	sink := haltprom.New()
	prometheus.NewRegistry().MustRegister(sink)
	return sink
}
