// Command demo is Halt's tour (make demo): it starts the common example app
// in-process, then plays a client behind a trusted proxy firing a burst, and
// prints every response's status and rate-limit headers so you can watch
// 200s turn into 429s.
//
// It uses the memory store, or Redis when HALT_REDIS_URL is set, and
// HALT_HEADER_STYLE like the examples.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/examples/internal/app"
	"github.com/halt-go/halt/examples/internal/httpapp"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// run plays the demo; extra options go to both limiters (the test passes a
// stopped clock, so a slow machine cannot refill a token mid-burst).
func run(out io.Writer, extra ...halt.Option) error {
	cfg, err := app.FromEnv()
	if err != nil {
		return err
	}
	// The demo's client talks through a "proxy" on 127.0.0.1 that reports
	// the real client in X-Forwarded-For; declare it trusted.
	cfg.TrustedProxies = []string{"127.0.0.1/32"}
	store, closer, err := cfg.Store()
	if err != nil {
		return err
	}
	defer closer.Close()
	metrics, err := cfg.ServeMetrics() // HALT_METRICS_ADDR
	if err != nil {
		return err
	}
	defer metrics.Close()
	ls, err := cfg.Limiters(store, extra...)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: httpapp.Handler(ls), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	fmt.Fprintf(out, "Halt demo: the common example app on %s (store: %s, headers: %s)\n",
		base, storeName(cfg), styleName())
	fmt.Fprintln(out, "GET / is limited by presets.PublicAPI (100/min, burst 120) per client IP;")
	fmt.Fprintln(out, "POST /auth/login adds presets.AuthEndpoints (5/min, burst 10, 5-minute cooldown);")
	fmt.Fprintln(out, "GET /api/search adds search_second (2/s) and search_hour (20/h), decided together;")
	fmt.Fprintln(out, "a refused request costs the limiters before it nothing. GET /rate_limit shows the standing.")
	fmt.Fprintln(out)

	c := &demoClient{out: out, base: base, hc: &http.Client{Timeout: 5 * time.Second}}
	getOK, get429 := c.burst("GET", "/", "203.0.113.7", 125)
	postOK, post429 := c.burst("POST", "/auth/login", "203.0.113.8", 12)
	healthOK, _ := c.burst("GET", "/health", "203.0.113.7", 2)
	searchOK, search429 := c.burst("GET", "/api/search", "203.0.113.9", 3)
	c.burst("GET", "/rate_limit", "203.0.113.9", 1)
	if c.err != nil {
		return c.err
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Summary")
	fmt.Fprintf(out, "  GET /            %3d x 200, %d x 429 (client 203.0.113.7: the burst of 120, then refused)\n", getOK, get429)
	fmt.Fprintf(out, "  POST /auth/login %3d x 200, %d x 429 (client 203.0.113.8: burst 10, then a 5-minute cooldown)\n", postOK, post429)
	fmt.Fprintf(out, "  GET /health      %3d x 200 (exempt: never limited, no rate-limit headers)\n", healthOK)
	fmt.Fprintf(out, "  GET /api/search  %3d x 200, %d x 429 (client 203.0.113.9: 2 per second; search_hour keeps 18)\n", searchOK, search429)
	if getOK != 120 || postOK != 10 || healthOK != 2 || searchOK != 2 {
		return fmt.Errorf("unexpected counts: the limits did not hold")
	}
	return nil
}

type demoClient struct {
	out  io.Writer
	base string
	hc   *http.Client
	n    int
	err  error
}

// burst sends n requests as client ip and prints one line per response.
func (c *demoClient) burst(method, path, ip string, n int) (ok, limited int) {
	for i := 0; i < n && c.err == nil; i++ {
		req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, nil)
		if err != nil {
			c.err = err
			return
		}
		req.Header.Set("X-Forwarded-For", ip)
		res, err := c.hc.Do(req)
		if err != nil {
			c.err = err
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		c.n++
		line := fmt.Sprintf("%4d  %-4s %-12s -> %d", c.n, method, path, res.StatusCode)
		for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit",
			"RateLimit-Policy", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"} {
			if v := strings.Join(res.Header.Values(h), ", "); v != "" {
				line += fmt.Sprintf("  %s: %s", h, v)
			}
		}
		switch {
		case res.StatusCode == http.StatusTooManyRequests:
			line += "  " + strings.TrimSpace(string(body))
			limited++
		case path == app.StatusPath:
			line += "  " + strings.TrimSpace(string(body))
		case res.StatusCode == http.StatusOK:
			ok++
		}
		fmt.Fprintln(c.out, line)
	}
	return ok, limited
}

func storeName(cfg app.Config) string {
	if cfg.RedisURL != "" {
		return "redis"
	}
	return "memory"
}

func styleName() string {
	if s := os.Getenv("HALT_HEADER_STYLE"); s != "" {
		return s
	}
	return "standard"
}
