package bench

// Requests per second over real loopback HTTP, each framework bare and with
// Halt, driven by wrk. Opt-in (it takes minutes and needs wrk):
// HALT_BENCH_LOOPBACK=1 go test -run TestAdapterLoopback -v .
// HALT_BENCH_SECONDS (default 5) and HALT_BENCH_ROUNDS (default 3) tune
// it; the variants alternate within each round and the median round is
// reported.
//
// Four variants per framework separate what Halt computes from what its
// headers cost on the wire:
//
//	bare            the hello world
//	bare+headers    the hello world sending three static RateLimit-* headers
//	halt            with Halt (standard headers)
//	halt-noheaders  with Halt, header style NoHeaders
//
// On a 2-core machine wrk (one thread) and the server share the cores, and
// wrk's own parsing of the longer responses shows as lost req/s: compare
// halt with bare+headers for the cost of Halt's work, and halt-noheaders
// with bare for the same without the headers' bytes.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	haltchi "github.com/halt-go/halt/adapters/chi"
	haltecho "github.com/halt-go/halt/adapters/echo"
	haltfiber "github.com/halt-go/halt/adapters/fiber"
	haltgin "github.com/halt-go/halt/adapters/gin"
	halthttp "github.com/halt-go/halt/adapters/nethttp"
	halt "github.com/halt-go/halt/core"
)

// staticHeaders are what Halt's standard style sends for the benchmark
// limiter, as constants.
var staticHeaders = [][2]string{
	{"Ratelimit-Limit", "1000000000"}, {"Ratelimit-Remaining", "999999999"}, {"Ratelimit-Reset", "1"},
}

// loopbackFramework starts a framework's hello world on ln: with Halt when
// l is not nil, else with the static headers when static is set. It
// returns a stop function.
type loopbackFramework struct {
	name  string
	start func(ln net.Listener, l *halt.Limiter, static bool) (stop func())
}

func serveHTTP(ln net.Listener, h http.Handler) func() {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Shutdown(context.Background()) }
}

// httpFramework is a loopbackFramework for a net/http framework whose
// hello world build returns, with Halt's middleware when l is not nil.
func httpFramework(name string, build func(l *halt.Limiter) http.Handler) loopbackFramework {
	return loopbackFramework{name, func(ln net.Listener, l *halt.Limiter, static bool) func() {
		h := build(l)
		if static {
			inner := h
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for _, kv := range staticHeaders {
					w.Header()[kv[0]] = []string{kv[1]}
				}
				inner.ServeHTTP(w, r)
			})
		}
		return serveHTTP(ln, h)
	}}
}

var loopbackFrameworks = []loopbackFramework{
	httpFramework("nethttp", func(l *halt.Limiter) http.Handler {
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("Hello World")) })
		if l != nil {
			h = halthttp.Middleware(l)(h)
		}
		return h
	}),
	httpFramework("gin", func(l *halt.Limiter) http.Handler {
		if l == nil {
			return ginEngine()
		}
		return ginEngine(haltgin.Middleware(l))
	}),
	httpFramework("echo", func(l *halt.Limiter) http.Handler {
		if l == nil {
			return echoServer()
		}
		return echoServer(haltecho.Middleware(l))
	}),
	httpFramework("chi", func(l *halt.Limiter) http.Handler {
		if l == nil {
			return chiRouter()
		}
		return chiRouter(haltchi.Middleware(l))
	}),
	{"fiber", func(ln net.Listener, l *halt.Limiter, static bool) func() {
		var mw []fiber.Handler
		switch {
		case l != nil:
			mw = append(mw, haltfiber.Middleware(l))
		case static:
			mw = append(mw, func(c *fiber.Ctx) error {
				for _, kv := range staticHeaders {
					c.Set(kv[0], kv[1])
				}
				return c.Next()
			})
		}
		app := fiberApp(mw...)
		go func() { _ = app.Listener(ln) }()
		return func() { _ = app.Shutdown() }
	}},
}

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// wrkRun drives url for d and returns requests/second; non-2xx responses
// fail the run.
func wrkRun(ctx context.Context, wrk, url string, d time.Duration) (float64, error) {
	out, err := exec.CommandContext(ctx, wrk, "-t1", "-c32", "-d"+strconv.Itoa(int(d.Seconds()))+"s",
		"-H", "X-Forwarded-For: "+benchClient, url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	if bytes.Contains(out, []byte("Non-2xx or 3xx responses")) {
		return 0, fmt.Errorf("wrk saw errors:\n%s", out)
	}
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		return 0, errors.New("no Requests/sec in wrk output:\n" + string(out))
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func TestAdapterLoopback(t *testing.T) {
	if os.Getenv("HALT_BENCH_LOOPBACK") == "" {
		t.Skip("set HALT_BENCH_LOOPBACK=1 to measure requests/second over loopback with wrk")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Fatal("wrk not found (Debian: apt-get install -y wrk)")
	}
	d := time.Duration(envInt("HALT_BENCH_SECONDS", 5)) * time.Second
	rounds := envInt("HALT_BENCH_ROUNDS", 3)
	withHeaders := unreachable(t)
	without := benchLimiter(t, halt.Policy{Name: "bench", Limit: 1_000_000_000, Window: time.Hour}, halt.WithHeaderStyle(halt.NoHeaders))
	variants := []struct {
		name   string
		l      *halt.Limiter
		static bool
	}{{"bare", nil, false}, {"bare+headers", nil, true}, {"halt", withHeaders, false}, {"halt-noheaders", without, false}}

	fmt.Printf("%-8s %10s %13s %10s %15s   %s\n", "req/s", "bare", "bare+headers", "halt", "halt-noheaders",
		"halt vs bare | vs bare+headers | halt-noheaders vs bare")
	for _, fw := range loopbackFrameworks {
		rates := make([][]float64, len(variants))
		for range rounds {
			for i, v := range variants {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				stop := fw.start(ln, v.l, v.static)
				rate, err := wrkRun(t.Context(), wrk, "http://"+ln.Addr().String()+"/", d)
				stop()
				if err != nil {
					t.Fatalf("%s %s: %v", fw.name, v.name, err)
				}
				rates[i] = append(rates[i], rate)
			}
		}
		m := make([]float64, len(rates))
		for i := range rates {
			m[i] = median(rates[i])
		}
		pct := func(a, b float64) string { return fmt.Sprintf("%+.1f%%", 100*(a-b)/b) }
		fmt.Printf("%-8s %10.0f %13.0f %10.0f %15.0f   %s | %s | %s\n", fw.name, m[0], m[1], m[2], m[3],
			pct(m[2], m[0]), pct(m[2], m[1]), pct(m[3], m[0]))
		for i, v := range variants {
			t.Logf("%s %s rounds: %s", fw.name, v.name, strings.Trim(fmt.Sprint(rates[i]), "[]"))
		}
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
