package bench

// In-process benchmarks of the framework adapters: each framework's
// hello-world handler bare, with Halt (memory store, limit never reached, a
// public client behind a trusted proxy so the whole path runs: forwarded
// header walk, key, store, headers), and with a peer limiter for
// comparison. Requests go through the framework's own ServeHTTP (or
// fasthttp handler for fiber), no test server. Results: RESULTS-adapters.md.

import (
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

func benchLimiter(tb testing.TB, p halt.Policy) *halt.Limiter {
	tb.Helper()
	store := memory.New(nil)
	tb.Cleanup(func() { _ = store.Close() })
	l, err := halt.New(store, p, halt.WithTrustedProxies(benchProxy), halt.WithTelemetry(halt.NopTelemetry{}))
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// serveLoop serves GET / through h b.N times with a reused writer.
func serveLoop(b *testing.B, h http.Handler) {
	r := httptest.NewRequestWithContext(b.Context(), http.MethodGet, "/", nil)
	r.RemoteAddr = benchPeer
	r.Header.Set("X-Forwarded-For", benchClient)
	w := &discard{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code = http.StatusOK
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

func BenchmarkAdapterGin(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	engine := func(mw ...gin.HandlerFunc) *gin.Engine {
		r := gin.New()
		r.Use(mw...)
		r.GET("/", func(c *gin.Context) { c.String(http.StatusOK, "Hello World") })
		return r
	}
	b.Run("bare", func(b *testing.B) { serveLoop(b, engine()) })
	b.Run("halt", func(b *testing.B) { serveLoop(b, engine(haltgin.Middleware(unreachable(b)))) })
	b.Run("halt-small", func(b *testing.B) { serveLoop(b, engine(haltgin.Middleware(unreachableSmall(b)))) })
	b.Run("ulule", func(b *testing.B) {
		rate := ulule.Rate{Period: time.Hour, Limit: 1_000_000_000}
		serveLoop(b, engine(ulgin.NewMiddleware(ulule.New(ulmemory.NewStore(), rate))))
	})
}

func BenchmarkAdapterEcho(b *testing.B) {
	server := func(mw ...echo.MiddlewareFunc) *echo.Echo {
		e := echo.New()
		e.Use(mw...)
		e.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "Hello World") })
		return e
	}
	b.Run("bare", func(b *testing.B) { serveLoop(b, server()) })
	b.Run("halt", func(b *testing.B) { serveLoop(b, server(haltecho.Middleware(unreachable(b)))) })
	b.Run("halt-small", func(b *testing.B) { serveLoop(b, server(haltecho.Middleware(unreachableSmall(b)))) })
}

func BenchmarkAdapterChi(b *testing.B) {
	router := func(mw ...func(http.Handler) http.Handler) chi.Router {
		r := chi.NewRouter()
		r.Use(mw...)
		r.Get("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("Hello World")) })
		return r
	}
	b.Run("bare", func(b *testing.B) { serveLoop(b, router()) })
	b.Run("halt", func(b *testing.B) { serveLoop(b, router(haltchi.Middleware(unreachable(b)))) })
	b.Run("halt-small", func(b *testing.B) { serveLoop(b, router(haltchi.Middleware(unreachableSmall(b)))) })
}

// fiberLoop serves GET / through app's fasthttp handler b.N times on one
// reused RequestCtx, as fasthttp does for a keep-alive connection.
func fiberLoop(b *testing.B, app *fiber.App) {
	var req fasthttp.Request
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURI("/")
	req.Header.Set("X-Forwarded-For", benchClient)
	peer, err := net.ResolveTCPAddr("tcp", benchPeer)
	if err != nil {
		b.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, peer, nil)
	h := app.Handler()
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		h(&ctx)
		if ctx.Response.StatusCode() != fiber.StatusOK {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
	}
}

func BenchmarkAdapterFiber(b *testing.B) {
	app := func(mw ...fiber.Handler) *fiber.App {
		a := fiber.New(fiber.Config{DisableStartupMessage: true})
		for _, m := range mw {
			a.Use(m)
		}
		a.Get("/", func(c *fiber.Ctx) error { return c.SendString("Hello World") })
		return a
	}
	b.Run("bare", func(b *testing.B) { fiberLoop(b, app()) })
	b.Run("halt", func(b *testing.B) { fiberLoop(b, app(haltfiber.Middleware(unreachable(b)))) })
	b.Run("halt-small", func(b *testing.B) { fiberLoop(b, app(haltfiber.Middleware(unreachableSmall(b)))) })
	b.Run("fiberlimiter", func(b *testing.B) {
		fiberLoop(b, app(fiberlimiter.New(fiberlimiter.Config{Max: 1_000_000_000, Expiration: time.Hour})))
	})
}
