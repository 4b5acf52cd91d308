package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"

	haltchi "github.com/halt-go/halt/adapters/chi"
	haltecho "github.com/halt-go/halt/adapters/echo"
	haltfiber "github.com/halt-go/halt/adapters/fiber"
	haltgin "github.com/halt-go/halt/adapters/gin"
	"github.com/halt-go/halt/core/halttest"
)

// TestAdapterCPUTime prints the adapter benchmarks' operations as the least
// thread CPU time per request over many short rounds (see TestCPUTime): on
// a busy shared machine, wall-clock ns/op of the same code varies by 2x,
// this by a few percent. It runs only with HALT_BENCH_CPUTIME=1 (run.sh's
// adapters section); HALT_BENCH_ROWS=fiber/ keeps the rows named so.
func TestAdapterCPUTime(t *testing.T) {
	if os.Getenv("HALT_BENCH_CPUTIME") != "1" {
		t.Skip("set HALT_BENCH_CPUTIME=1 (run.sh adapters)")
	}
	const ops, rounds = 20_000, 200
	rows := []struct {
		name string
		op   func() func()
	}{
		{"check/xff", func() func() {
			// Limiter.Check alone on the adapters' request (a client behind
			// the trusted proxy, the small limit): the part of each
			// adapter's cost that is the check itself.
			l := unreachableSmall(t)
			req := canonicalRequest{&halttest.FakeRequest{Ctx: context.Background(), URLPath: "/", Peer: benchPeer,
				Headers: http.Header{"X-Forwarded-For": {benchClient}}}}
			return func() {
				if d, err := l.Check(req.Ctx, req); err != nil || !d.Allowed {
					t.Fatalf("Check = %+v, %v", d, err)
				}
			}
		}},
		{"gin/bare", func() func() { return httpOp(t, ginEngine()) }},
		{"gin/headers", func() func() { return httpOp(t, ginEngine(headersGin)) }},
		{"gin/halt", func() func() { return httpOp(t, ginEngine(haltgin.Middleware(unreachable(t)))) }},
		{"gin/halt-small", func() func() { return httpOp(t, ginEngine(haltgin.Middleware(unreachableSmall(t)))) }},
		{"gin/ulule", func() func() { return httpOp(t, ginEngine(ululeGin())) }},
		{"echo/bare", func() func() { return httpOp(t, echoServer()) }},
		{"echo/noop", func() func() { return httpOp(t, echoServer(echoNoop)) }},
		{"echo/headers", func() func() { return httpOp(t, echoServer(headersEcho)) }},
		{"echo/halt", func() func() { return httpOp(t, echoServer(haltecho.Middleware(unreachable(t)))) }},
		{"echo/halt-small", func() func() { return httpOp(t, echoServer(haltecho.Middleware(unreachableSmall(t)))) }},
		{"chi/bare", func() func() { return httpOp(t, chiRouter()) }},
		{"chi/headers", func() func() { return httpOp(t, chiRouter(headersHTTP)) }},
		{"chi/halt", func() func() { return httpOp(t, chiRouter(haltchi.Middleware(unreachable(t)))) }},
		{"chi/halt-small", func() func() { return httpOp(t, chiRouter(haltchi.Middleware(unreachableSmall(t)))) }},
		{"fiber/bare", func() func() { return fiberOp(t, fiberApp()) }},
		{"fiber/headers", func() func() { return fiberOp(t, fiberApp(headersFiber)) }},
		{"fiber/halt", func() func() { return fiberOp(t, fiberApp(haltfiber.Middleware(unreachable(t)))) }},
		{"fiber/halt-small", func() func() { return fiberOp(t, fiberApp(haltfiber.Middleware(unreachableSmall(t)))) }},
		{"fiber/halt-peer", func() func() { return fiberOp(t, fiberApp(haltfiber.Middleware(peerSmall(t)))) }},
		{"fiber/fiberlimiter", func() func() { return fiberOp(t, fiberApp(fiberLimiter())) }},
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fmt.Printf("%-24s %s\n", "adapter (least CPU)", "ns/op")
	only := os.Getenv("HALT_BENCH_ROWS") // a prefix: "fiber/" runs the fiber rows only
	for _, r := range rows {
		if !strings.HasPrefix(r.name, only) {
			continue
		}
		fmt.Printf("%-24s %6.1f\n", r.name, warmLeastCPUTime(ops, rounds, r.op()))
	}
	// fiber's target, rounds taken in turn (rounds of 1,000 requests, as
	// the middleware pairs in TestCPUTime): Halt keyed by the peer against
	// fiber's own limiter, so that a slow spell of the machine falls on
	// both alike. The difference of the least rounds, and the median over
	// rounds of each pair's difference.
	const pair = "fiber/halt-peer-minus-fiberlimiter"
	if strings.HasPrefix(pair, only) {
		a, b := fiberOp(t, fiberApp(haltfiber.Middleware(peerSmall(t)))), fiberOp(t, fiberApp(fiberLimiter()))
		for range ops {
			a()
			b()
		}
		ta, tb, med := leastCPUTimeInterleaved(1_000, 1_000, a, b, false)
		fmt.Printf("%-24s %+6.1f (%.1f - %.1f); median round pair %+.1f\n", pair, ta-tb, ta, tb, med)
	}
}

// canonicalRequest reads headers by their canonical names, as the adapters
// do (FakeRequest canonicalizes each name first).
type canonicalRequest struct{ *halttest.FakeRequest }

func (r canonicalRequest) HeaderValues(name string) []string { return r.Headers[name] }

// warmLeastCPUTime runs op ops times to warm caches and pools, then
// measures it with leastCPUTime.
func warmLeastCPUTime(ops, rounds int, op func()) float64 {
	for range ops {
		op()
	}
	return leastCPUTime(ops, rounds, op)
}
