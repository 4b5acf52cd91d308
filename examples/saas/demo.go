package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/halt-go/halt/examples/internal/app"
)

// runDemo serves the example on a free loopback port (memory store, or
// Redis with HALT_REDIS_URL) and plays a session against it, printing what
// happens.
func runDemo(out io.Writer) error {
	cfg, err := app.FromEnv()
	if err != nil {
		return err
	}
	store, closer, err := cfg.Store()
	if err != nil {
		return err
	}
	defer closer.Close()
	s, err := newServer(store)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	call := func(method, path, key, body string) (int, http.Header, string, error) {
		req, err := http.NewRequestWithContext(context.Background(), method, base+path, strings.NewReader(body))
		if err != nil {
			return 0, nil, "", err
		}
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, strings.TrimSpace(string(b)), nil
	}
	burst := func(key string, n int) error {
		counts := map[int]int{}
		var last string
		for i := 0; i < n; i++ {
			st, h, body, err := call("GET", "/v1/echo?msg=hi", key, "")
			if err != nil {
				return err
			}
			counts[st]++
			if st != http.StatusOK {
				last = fmt.Sprintf("  last: %d Retry-After: %s %s", st, h.Get("Retry-After"), body)
			}
		}
		fmt.Fprintf(out, "GET /v1/echo as %-10s x%-3d -> %d x 200, %d x 429\n%s\n", key, n, counts[200], counts[429], last)
		return nil
	}
	limits := func(key string) error {
		_, _, body, err := call("GET", "/v1/limits", key, "")
		fmt.Fprintf(out, "GET /v1/limits as %s\n  %s\n", key, body)
		return err
	}

	fmt.Fprintf(out, "Halt SaaS demo on %s (%s store)\n\n", base, storeName(cfg))
	st, _, body, err := call("GET", "/v1/echo", "", "")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "GET /v1/echo without a key -> %d %s\n\n", st, body)

	fmt.Fprintln(out, "trial: 100 per minute, but a daily quota of 20")
	if err := burst("trial-demo", 21); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nfree: 10 per minute, daily quota 50; a rejection spends no quota")
	if err := burst("free-demo", 11); err != nil {
		return err
	}
	if err := limits("free-demo"); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nfree keeps hammering: the fifth rejection starts a penalty at half the limit")
	if err := burst("free-demo", 4); err != nil {
		return err
	}
	if err := limits("free-demo"); err != nil {
		return err
	}
	fmt.Fprintln(out, "\npro: POST /v1/generate with 750 bytes costs 7 of both")
	st, h, body, err := call("POST", "/v1/generate", "pro-demo", strings.Repeat("x", 750))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "POST /v1/generate -> %d RateLimit-Remaining: %s %s\n", st, h.Get("RateLimit-Remaining"), body)
	return limits("pro-demo")
}

func storeName(cfg app.Config) string {
	if cfg.RedisURL != "" {
		return "redis"
	}
	return "memory"
}
