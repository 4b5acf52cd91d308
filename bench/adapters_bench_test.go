package bench

// In-process benchmarks of the framework adapters: each framework's
// hello-world handler bare, with Halt (memory store, limit never reached, a
// public client behind a trusted proxy so the whole path runs: forwarded
// header walk, key, store, headers), and with a peer limiter for
// comparison. Requests go through the framework's own ServeHTTP (or
// fasthttp handler for fiber), no test server. Results: RESULTS-adapters.md.

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/gofiber/fiber/v2"
	fiberlimiter "github.com/gofiber/fiber/v2/middleware/limiter"
	haltchi "github.com/halt-go/halt/adapters/chi"
	haltecho "github.com/halt-go/halt/adapters/echo"
	haltfiber "github.com/halt-go/halt/adapters/fiber"
	haltgin "github.com/halt-go/halt/adapters/gin"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/stores/memory"
	"github.com/labstack/echo/v4"
	ulule "github.com/ulule/limiter/v3"
	ulgin "github.com/ulule/limiter/v3/drivers/middleware/gin"
	ulmemory "github.com/ulule/limiter/v3/drivers/store/memory"
	"github.com/valyala/fasthttp"
)

// The benchmark client: 203.0.113.7 behind the trusted proxy 127.0.0.1.
const (
	benchPeer   = "127.0.0.1:40000"
	benchClient = "203.0.113.7"
	benchProxy  = "127.0.0.1/32"
)

// unreachable is a limiter whose limit no benchmark reaches: a billion an
// hour. Its RateLimit-Remaining values have ten digits; core formats
// numbers below 1024 without allocating, larger ones with one allocation.
func unreachable(tb testing.TB) *halt.Limiter {
	return benchLimiter(tb, halt.Policy{Name: "bench", Limit: 1_000_000_000, Window: time.Hour})
}

// unreachableSmall is never reached either (1,000 per 100µs refills ten
// tokens a microsecond, faster than any loop here), with header values
// below 1024 as real limits have.
func unreachableSmall(tb testing.TB) *halt.Limiter {
	return benchLimiter(tb, halt.Policy{Name: "bench", Limit: 1000, Window: 100 * time.Microsecond})
}

// peerSmall is unreachableSmall without trusted proxies: the client is the
// peer, as fiber's own limiter sees it (c.IP() without a proxy header), so
// the X-Forwarded-For walk is not part of the comparison; the loopback peer
// is limited, not exempt as private.
func peerSmall(tb testing.TB) *halt.Limiter {
	tb.Helper()
	store := memory.New(nil)
	tb.Cleanup(func() { _ = store.Close() })
	l, err := halt.New(store, halt.Policy{Name: "bench", Limit: 1000, Window: 100 * time.Microsecond},
		halt.WithExemptPrivateIPs(false), halt.WithTelemetry(halt.NopTelemetry{}))
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func benchLimiter(tb testing.TB, p halt.Policy, opts ...halt.Option) *halt.Limiter {
	tb.Helper()
	store := memory.New(nil)
	tb.Cleanup(func() { _ = store.Close() })
	opts = append([]halt.Option{halt.WithTrustedProxies(benchProxy), halt.WithTelemetry(halt.NopTelemetry{})}, opts...)
	l, err := halt.New(store, p, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// httpOp returns one GET / through h with a reused request and writer.
func httpOp(tb testing.TB, h http.Handler) func() {
	r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
	r.RemoteAddr = benchPeer
	r.Header.Set("X-Forwarded-For", benchClient)
	w := &discard{h: make(http.Header)}
	return func() {
		clear(w.h)
		w.code = http.StatusOK
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			tb.Fatalf("status %d", w.code)
		}
	}
}

// fiberOp returns one GET / through app's fasthttp handler on a reused
// RequestCtx, as fasthttp serves a keep-alive connection.
func fiberOp(tb testing.TB, app *fiber.App) func() {
	var req fasthttp.Request
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURI("/")
	req.Header.Set("X-Forwarded-For", benchClient)
	peer, err := net.ResolveTCPAddr("tcp", benchPeer)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, peer, nil)
	h := app.Handler()
	return func() {
		ctx.Response.Reset()
		h(ctx)
		if ctx.Response.StatusCode() != fiber.StatusOK {
			tb.Fatalf("status %d", ctx.Response.StatusCode())
		}
	}
}

func loop(b *testing.B, op func()) {
	b.ReportAllocs()
	for b.Loop() {
		op()
	}
}

// The hello-world servers, each with the given middleware.

func ginEngine(mw ...gin.HandlerFunc) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(mw...)
	r.GET("/", func(c *gin.Context) { c.String(http.StatusOK, "Hello World") })
	return r
}

func echoServer(mw ...echo.MiddlewareFunc) http.Handler {
	e := echo.New()
	e.Use(mw...)
	e.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "Hello World") })
	return e
}

// echoNoop is the least middleware echo can run: it only calls next.
// Echo applies middleware to the handler on every request (e.Use), so the
// function it returns, which holds next, is allocated per request; this
// row shows what any echo middleware pays for that before doing anything.
func echoNoop(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error { return next(c) }
}

func chiRouter(mw ...func(http.Handler) http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Use(mw...)
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("Hello World")) })
	return r
}

func fiberApp(mw ...fiber.Handler) *fiber.App {
	a := fiber.New(fiber.Config{DisableStartupMessage: true})
	for _, m := range mw {
		a.Use(m)
	}
	a.Get("/", func(c *fiber.Ctx) error { return c.SendString("Hello World") })
	return a
}

// The header floor: a middleware that writes the three headers Halt writes
// by default, with fixed values, through each framework's cheapest way (no
// allocation), and calls the next handler. Every limiter that sets these
// headers pays at least this; what Halt adds beyond it and Check is its
// adapter.
var (
	floorLimit, floorRemaining, floorReset = []string{"1000"}, []string{"999"}, []string{"1"}
	floorNames                             = [3][]byte{[]byte("X-Ratelimit-Limit"), []byte("X-Ratelimit-Remaining"), []byte("X-Ratelimit-Reset")}
	floorValues                            = [3][]byte{[]byte("1000"), []byte("999"), []byte("1")}
)

func setFloorHeaders(h http.Header) {
	h["X-Ratelimit-Limit"], h["X-Ratelimit-Remaining"], h["X-Ratelimit-Reset"] = floorLimit, floorRemaining, floorReset
}

func headersHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setFloorHeaders(w.Header())
		next.ServeHTTP(w, r)
	})
}

func headersGin(c *gin.Context) {
	setFloorHeaders(c.Writer.Header())
	c.Next()
}

func headersEcho(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		setFloorHeaders(c.Response().Header())
		return next(c)
	}
}

func headersFiber(c *fiber.Ctx) error {
	h := &c.Response().Header
	for i, name := range floorNames {
		h.SetCanonical(name, floorValues[i])
	}
	return c.Next()
}

func ululeGin() gin.HandlerFunc {
	return ulgin.NewMiddleware(ulule.New(ulmemory.NewStore(), ulule.Rate{Period: time.Hour, Limit: 1_000_000_000}))
}

func fiberLimiter() fiber.Handler {
	return fiberlimiter.New(fiberlimiter.Config{Max: 1_000_000_000, Expiration: time.Hour})
}

func BenchmarkAdapterGin(b *testing.B) {
	b.Run("bare", func(b *testing.B) { loop(b, httpOp(b, ginEngine())) })
	b.Run("halt", func(b *testing.B) { loop(b, httpOp(b, ginEngine(haltgin.Middleware(unreachable(b))))) })
	b.Run("halt-small", func(b *testing.B) { loop(b, httpOp(b, ginEngine(haltgin.Middleware(unreachableSmall(b))))) })
	b.Run("ulule", func(b *testing.B) { loop(b, httpOp(b, ginEngine(ululeGin()))) })
}

func BenchmarkAdapterEcho(b *testing.B) {
	b.Run("bare", func(b *testing.B) { loop(b, httpOp(b, echoServer())) })
	b.Run("noop", func(b *testing.B) { loop(b, httpOp(b, echoServer(echoNoop))) })
	b.Run("halt", func(b *testing.B) { loop(b, httpOp(b, echoServer(haltecho.Middleware(unreachable(b))))) })
	b.Run("halt-small", func(b *testing.B) { loop(b, httpOp(b, echoServer(haltecho.Middleware(unreachableSmall(b))))) })
}

func BenchmarkAdapterChi(b *testing.B) {
	b.Run("bare", func(b *testing.B) { loop(b, httpOp(b, chiRouter())) })
	b.Run("halt", func(b *testing.B) { loop(b, httpOp(b, chiRouter(haltchi.Middleware(unreachable(b))))) })
	b.Run("halt-small", func(b *testing.B) { loop(b, httpOp(b, chiRouter(haltchi.Middleware(unreachableSmall(b))))) })
}

func BenchmarkAdapterFiber(b *testing.B) {
	b.Run("bare", func(b *testing.B) { loop(b, fiberOp(b, fiberApp())) })
	b.Run("halt", func(b *testing.B) { loop(b, fiberOp(b, fiberApp(haltfiber.Middleware(unreachable(b))))) })
	b.Run("halt-small", func(b *testing.B) { loop(b, fiberOp(b, fiberApp(haltfiber.Middleware(unreachableSmall(b))))) })
	b.Run("halt-peer", func(b *testing.B) { loop(b, fiberOp(b, fiberApp(haltfiber.Middleware(peerSmall(b))))) })
	b.Run("fiberlimiter", func(b *testing.B) { loop(b, fiberOp(b, fiberApp(fiberLimiter()))) })
}
