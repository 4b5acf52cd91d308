package bench

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

// newBenchLimiter is a Limiter as an application builds it: the memory
// store, default options (the system clock, private IPs and health paths
// exempt, standard headers), a limit that never refuses.
func newBenchLimiter(b *testing.B) *halt.Limiter {
	s := memory.New(nil)
	b.Cleanup(func() { _ = s.Close() })
	l, err := halt.New(s, *benchPolicy())
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// benchRequests are requests from 10,000 public client addresses.
var benchRequests = func() []*halttest.FakeRequest {
	r := make([]*halttest.FakeRequest, numKeys)
	for i := range r {
		r[i] = &halttest.FakeRequest{
			Ctx:     context.Background(),
			URLPath: "/api/items",
			Headers: http.Header{"Accept": {"application/json"}},
			Peer:    "198.18." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255) + ":52311",
		}
	}
	return r
}()

// BenchmarkCheck is the whole Limiter.Check on a request: exemptions,
// client IP, key, store decision, decision fields. Compare with
// BenchmarkAllowOne (x/time/rate, one limiter).
func BenchmarkCheck(b *testing.B) {
	for _, keys := range []int{1, numKeys} {
		b.Run("keys="+strconv.Itoa(keys)+"/impl=halt/mode=serial", func(b *testing.B) {
			l := newBenchLimiter(b)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d, err := l.Check(ctx, benchRequests[i])
				if err != nil || !d.Allowed || d.Reason != halt.ReasonAllowed {
					b.Fatalf("got %+v, %v", d, err)
				}
				if i++; i == keys {
					i = 0
				}
			}
		})
		b.Run("keys="+strconv.Itoa(keys)+"/impl=halt/mode=parallel", func(b *testing.B) {
			l := newBenchLimiter(b)
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					_, _ = l.Check(ctx, benchRequests[i])
					if i++; i == keys {
						i = 0
					}
				}
			})
		})
	}
}

// BenchmarkTwoPolicies compares one limiter deciding two policies in one
// atomic check (halt.WithPolicies) with two limiters of one policy each,
// checked in turn, on the memory store: what "2 per second and 20 per
// hour" costs either way.
func BenchmarkTwoPolicies(b *testing.B) {
	ctx := context.Background()
	req := benchRequests[0]
	b.Run("impl=one-check", func(b *testing.B) {
		l := twoPolicyLimiter(b)
		b.ReportAllocs()
		for b.Loop() {
			if d, _ := l.Check(ctx, req); !d.Allowed {
				b.Fatal(d)
			}
		}
	})
	b.Run("impl=two-checks", func(b *testing.B) {
		l1, l2 := onePolicyLimiters(b)
		b.ReportAllocs()
		for b.Loop() {
			d1, _ := l1.Check(ctx, req)
			d2, _ := l2.Check(ctx, req)
			if !d1.Allowed || !d2.Allowed {
				b.Fatal(d1, d2)
			}
		}
	})
}

// twoPolicies are BenchmarkTwoPolicies' policies: "per second" and "per
// hour", neither ever reached.
func twoPolicies() (second, hour halt.Policy) {
	second = *benchPolicy()
	second.Name = "second"
	hour = *benchPolicy()
	hour.Name = "hour"
	hour.Window *= 60
	return second, hour
}

// twoPolicyLimiter decides both policies in one check on the memory store.
func twoPolicyLimiter(tb testing.TB) *halt.Limiter {
	tb.Helper()
	second, hour := twoPolicies()
	s := memory.New(nil)
	tb.Cleanup(func() { _ = s.Close() })
	l, err := halt.New(s, second, halt.WithPolicies(hour))
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// onePolicyLimiters are one limiter per policy on one memory store.
func onePolicyLimiters(tb testing.TB) (*halt.Limiter, *halt.Limiter) {
	tb.Helper()
	second, hour := twoPolicies()
	s := memory.New(nil)
	tb.Cleanup(func() { _ = s.Close() })
	l1, err := halt.New(s, second)
	if err != nil {
		tb.Fatal(err)
	}
	l2, err := halt.New(s, hour)
	if err != nil {
		tb.Fatal(err)
	}
	return l1, l2
}
