package bench

// Requests per second over real loopback HTTP, bare framework vs the same
// framework with Halt, driven by wrk. Opt-in (it takes minutes and needs
// wrk): HALT_BENCH_LOOPBACK=1 go test -run TestAdapterLoopback -v .
// HALT_BENCH_SECONDS (default 5) and HALT_BENCH_ROUNDS (default 3) tune
// it; bare and Halt runs alternate and the median round is reported.
//
// On a shared 2-core machine wrk and the server compete for the same cores
// as everything else, and req/s swings by 30% from round to round. So the
// test also reports the server's CPU time per request (this process's
// user+system time over the requests wrk completed), which contention
// barely moves: at saturation, throughput is the inverse of that cost, so
// its relative growth is the req/s a server loses to Halt.

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
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/gofiber/fiber/v2"
	haltchi "github.com/halt-go/halt/adapters/chi"
	haltecho "github.com/halt-go/halt/adapters/echo"
	haltfiber "github.com/halt-go/halt/adapters/fiber"
	haltgin "github.com/halt-go/halt/adapters/gin"
	halthttp "github.com/halt-go/halt/adapters/nethttp"
	halt "github.com/halt-go/halt/core"
	"github.com/labstack/echo/v4"
)

// loopbackServer starts one variant of a framework's hello-world server on
// ln; limiter is nil for the bare variant. It returns a stop function.
type loopbackServer func(ln net.Listener, l *halt.Limiter) (stop func())

func serveHTTP(ln net.Listener, h http.Handler) func() {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Shutdown(context.Background()) }
}

var loopbackServers = []struct {
	name  string
	start loopbackServer
}{
	{"nethttp", func(ln net.Listener, l *halt.Limiter) func() {
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("Hello World")) })
		if l != nil {
			h = halthttp.Middleware(l)(h)
		}
		return serveHTTP(ln, h)
	}},
	{"gin", func(ln net.Listener, l *halt.Limiter) func() {
		gin.SetMode(gin.ReleaseMode)
		r := gin.New()
		if l != nil {
			r.Use(haltgin.Middleware(l))
		}
		r.GET("/", func(c *gin.Context) { c.String(http.StatusOK, "Hello World") })
		return serveHTTP(ln, r)
	}},
	{"echo", func(ln net.Listener, l *halt.Limiter) func() {
		e := echo.New()
		if l != nil {
			e.Use(haltecho.Middleware(l))
		}
		e.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "Hello World") })
		return serveHTTP(ln, e)
	}},
	{"chi", func(ln net.Listener, l *halt.Limiter) func() {
		r := chi.NewRouter()
		if l != nil {
			r.Use(haltchi.Middleware(l))
		}
		r.Get("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("Hello World")) })
		return serveHTTP(ln, r)
	}},
	{"fiber", func(ln net.Listener, l *halt.Limiter) func() {
		app := fiber.New(fiber.Config{DisableStartupMessage: true})
		if l != nil {
			app.Use(haltfiber.Middleware(l))
		}
		app.Get("/", func(c *fiber.Ctx) error { return c.SendString("Hello World") })
		go func() { _ = app.Listener(ln) }()
		return func() { _ = app.Shutdown() }
	}},
}

var (
	wrkRate  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkTotal = regexp.MustCompile(`([0-9]+) requests in`)
)

// run is one wrk run: requests/second, and the server's CPU time per
// request in microseconds.
type run struct{ rate, cpu float64 }

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// wrkRun drives url for d; non-2xx responses fail the run.
func wrkRun(ctx context.Context, wrk, url string, d time.Duration) (run, error) {
	cpu0 := processCPU()
	out, err := exec.CommandContext(ctx, wrk, "-t1", "-c32", "-d"+strconv.Itoa(int(d.Seconds()))+"s",
		"-H", "X-Forwarded-For: "+benchClient, url).CombinedOutput()
	cpu := processCPU() - cpu0
	if err != nil {
		return run{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	if bytes.Contains(out, []byte("Non-2xx or 3xx responses")) {
		return run{}, fmt.Errorf("wrk saw errors:\n%s", out)
	}
	rate, total := wrkRate.FindSubmatch(out), wrkTotal.FindSubmatch(out)
	if rate == nil || total == nil {
		return run{}, errors.New("no Requests/sec in wrk output:\n" + string(out))
	}
	var r run
	r.rate, _ = strconv.ParseFloat(string(rate[1]), 64)
	n, _ := strconv.ParseFloat(string(total[1]), 64)
	r.cpu = float64(cpu.Microseconds()) / max(n, 1)
	return r, nil
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
	l := unreachable(t)
	t.Logf("%-8s %11s %11s %7s %11s %11s %7s", "server", "bare req/s", "halt req/s", "delta",
		"bare µs/req", "halt µs/req", "delta")
	for _, s := range loopbackServers {
		var bare, withHalt []run
		for range rounds {
			for _, variant := range []*halt.Limiter{nil, l} {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				stop := s.start(ln, variant)
				r, err := wrkRun(t.Context(), wrk, "http://"+ln.Addr().String()+"/", d)
				stop()
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if variant == nil {
					bare = append(bare, r)
				} else {
					withHalt = append(withHalt, r)
				}
			}
		}
		br, hr := median(bare, func(r run) float64 { return r.rate }), median(withHalt, func(r run) float64 { return r.rate })
		bc, hc := median(bare, func(r run) float64 { return r.cpu }), median(withHalt, func(r run) float64 { return r.cpu })
		t.Logf("%-8s %11.0f %11.0f %+6.1f%% %11.2f %11.2f %+6.1f%%   (rounds bare %v, halt %v)",
			s.name, br, hr, 100*(hr-br)/br, bc, hc, 100*(hc-bc)/bc, bare, withHalt)
	}
}

func median(runs []run, field func(run) float64) float64 {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = field(r)
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}
