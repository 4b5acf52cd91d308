package halthttp_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	halthttp "github.com/halt-go/halt/adapters/nethttp"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/stores/memory"
)

// BenchmarkFlow is the middleware with a plain policy, a policy counting
// only failures (every request given back after its 200) and an in-flight
// limit, on the memory store, in one run.
func BenchmarkFlow(b *testing.B) {
	for _, c := range []struct {
		name string
		p    halt.Policy
	}{
		{"plain", halt.Policy{Name: "plain", Limit: 1 << 40, Window: time.Second}},
		{"count_failures", halt.Policy{Name: "count", Limit: 1 << 40, Window: time.Second, Count: halt.CountFailures}},
		{"in_flight", halt.Policy{Name: "inflight", Limit: 1000, Window: time.Minute, Algorithm: halt.InFlight}},
	} {
		b.Run(c.name, func(b *testing.B) {
			store := memory.New(nil)
			defer store.Close()
			l, err := halt.New(store, c.p, halt.WithTelemetry(halt.NopTelemetry{}))
			if err != nil {
				b.Fatal(err)
			}
			h := halthttp.Middleware(l)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "203.0.113.7:1234"
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				clear(w.Header())
				h.ServeHTTP(w, r)
			}
		})
	}
}
