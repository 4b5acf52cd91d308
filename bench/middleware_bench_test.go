package bench

import (
	"net/http"
	"net/http/httptest"
	"testing"

	halthttp "github.com/halt-go/halt/adapters/nethttp"
)

// discard is a reusable http.ResponseWriter: the benchmark measures the
// middleware, not a recorder's allocations. Each request gets a fresh
// header map, as net/http gives each response (in both variants, so the
// difference is the middleware's own cost, its first header insert
// included).
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
		w := &discard{}
		b.ReportAllocs()
		for b.Loop() {
			w.h = make(http.Header)
			h.ServeHTTP(w, r)
			if w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
		}
	}
	b.Run("handler=bare", func(b *testing.B) { run(b, ok) })
	b.Run("handler=halthttp", func(b *testing.B) { run(b, halthttp.Middleware(newBenchLimiter(b))(ok)) })
}
