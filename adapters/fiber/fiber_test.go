package haltfiber_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/utils"
	haltfiber "github.com/halt-go/halt/adapters/fiber"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

func TestConformance(t *testing.T) {
	halttest.RunAdapterTests(t, newStore, harness, halttest.NoRequestCancel())
}

// harness serves the suite's routes with fiber on a real loopback
// listener (fiber is not a net/http handler). Quirks: the suite's ~70 KB
// X-Forwarded-For needs a ReadBufferSize above fiber's 4096 default.
func harness(t *testing.T, cfg halttest.AdapterConfig) string {
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ReadBufferSize: 256 << 10})
	if cfg.Flow != nil {
		app.Use(recover.New()) // fiber's own recovery answers a panic with 500
	}
	if cfg.UserFromHeader {
		app.Use(func(c *fiber.Ctx) error {
			if id := c.Get("X-User"); id != "" {
				c.Locals(halt.DefaultUserKey, utils.CopyString(id))
			}
			return c.Next()
		})
	}
	opts := options(cfg)
	gopts := opts
	if cfg.Status {
		gopts = append(gopts[:len(gopts):len(gopts)], haltfiber.WithStatusEndpoint("/rate_limit", cfg.Global, cfg.Route))
	}
	app.Use(haltfiber.Middleware(cfg.Global, gopts...))
	send := func(c *fiber.Ctx) error { return c.SendString("ok") }
	for _, path := range []string{"/", "/health", "/admin/stats", "/items/:id"} {
		app.Get(path, send)
	}
	if cfg.Flow != nil {
		app.Get("/outcome", haltfiber.Middleware(cfg.Flow, opts...), func(c *fiber.Ctx) error {
			o := halttest.OutcomeOf(func(name string) string { return c.Get(name) })
			o.Wait(cfg, c.Context().Done())
			switch {
			case o.Panic:
				panic("halttest: the handler panics")
			case o.Error != 0:
				return fiber.NewError(o.Error, "error")
			}
			return c.Status(o.Status).SendString("ok")
		})
	}
	if cfg.Settle != nil {
		app.Post("/settle", func(c *fiber.Ctx) error {
			cost, _ := strconv.ParseInt(c.Get("X-Cost"), 10, 64)
			res, ok, err := haltfiber.Reserve(c, cfg.Settle, cost)
			if !ok {
				return err
			}
			actual, _ := strconv.ParseInt(c.Get("X-Actual"), 10, 64)
			if err := res.Settle(actual); err != nil {
				return err
			}
			return c.SendString("settled")
		})
	}
	login := []fiber.Handler{send}
	if cfg.Route != nil {
		login = append([]fiber.Handler{haltfiber.Middleware(cfg.Route, opts...)}, login...)
	}
	app.Post("/auth/login", login...)
	if cfg.Handler != nil {
		app.Post("/generate", func(c *fiber.Ctx) error {
			cost, _ := strconv.ParseInt(c.Get("X-Cost"), 10, 64)
			if ok, err := haltfiber.Check(c, cfg.Handler, cost); !ok {
				return err
			}
			return c.SendString("generated")
		})
	}
	return listen(t, app)
}

// listen serves app on a loopback listener until the test ends.
func listen(t *testing.T, app *fiber.App) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Listener(ln) }()
	t.Cleanup(func() {
		if err := app.Shutdown(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

// TestBuffersNeverKept stores the user id as fasthttp hands it out, an
// unsafe view of the request buffer that the next request on the connection
// overwrites: Halt must copy what it keeps, or alice's counter would turn
// into carol's.
func TestBuffersNeverKept(t *testing.T) {
	l, err := halt.New(newStore(t), halt.Policy{Name: "users", Limit: 1, Window: time.Minute, KeyStrategy: halt.KeyUser},
		halt.WithTrustedProxies("127.0.0.1/32"))
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(func(c *fiber.Ctx) error {
		c.Locals(halt.DefaultUserKey, c.Get("X-User")) // no utils.CopyString on purpose
		return c.Next()
	})
	app.Use(haltfiber.Middleware(l, haltfiber.WithLimitReached(func(c *fiber.Ctx) error {
		return c.Status(fiber.StatusTooManyRequests).SendString("slow down " + c.Get("X-User"))
	})))
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("ok") })
	base := listen(t, app)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}} // one keep-alive connection
	t.Cleanup(hc.CloseIdleConnections)
	get := func(user string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), "GET", base+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-User", user)
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	for _, step := range []struct {
		user   string
		status int
		body   string
	}{
		{"alice", 200, "ok"},
		{"carol", 200, "ok"},
		{"alice", 429, "slow down alice"},
		{"carol", 429, "slow down carol"},
		{"erin0", 200, "ok"},
	} {
		if status, body := get(step.user); status != step.status || body != step.body {
			t.Fatalf("%s: %d %q, want %d %q", step.user, status, body, step.status, step.body)
		}
	}
}

func options(cfg halttest.AdapterConfig) []haltfiber.Option {
	var opts []haltfiber.Option
	if cfg.CustomDeny {
		opts = append(opts, haltfiber.WithDenyHandler(func(c *fiber.Ctx, d halt.Decision) error {
			c.Set("X-Denied-By", "halttest")
			c.Set(fiber.HeaderContentType, "text/plain")
			return c.Status(http.StatusTooManyRequests).SendString("custom " + strconv.FormatInt(d.RetrySeconds(), 10))
		}))
	}
	if cfg.SkipFromHeader {
		opts = append(opts, haltfiber.WithNext(func(c *fiber.Ctx) bool { return c.Get("X-Skip") == "1" }))
	}
	if cfg.CostFromHeader {
		opts = append(opts, haltfiber.WithCost(func(c *fiber.Ctx) int64 {
			n, _ := strconv.ParseInt(c.Get("X-Cost"), 10, 64)
			return n
		}))
	}
	return opts
}

// newStore gives each limiter of the suite its own memory store.
func newStore(t *testing.T) halt.Store {
	s := memory.New(nil)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Stacked three deep (app, group, Check in the handler): a rejection by the
// last gives back what both middleware limiters took.
func TestStackedGiveBack(t *testing.T) {
	store := newStore(t)
	proxy := halt.WithTrustedProxies("127.0.0.1/32", "0.0.0.0/32") // app.Test's peer is 0.0.0.0
	limiter := func(name string, limit int64) *halt.Limiter {
		l, err := halt.New(store, halt.Policy{Name: name, Limit: limit, Window: time.Hour}, proxy)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	global, group, handler := limiter("global", 100), limiter("group", 3), limiter("handler", 1)
	app := fiber.New()
	app.Use(haltfiber.Middleware(global))
	api := app.Group("/api", haltfiber.Middleware(group))
	var remaining [2]int64
	api.Post("/generate", func(c *fiber.Ctx) error {
		for i, l := range []*halt.Limiter{global, group} {
			st, err := l.Standing(c.UserContext(), haltfiber.Request(c))
			if err != nil {
				return err
			}
			remaining[i] = st[0].Remaining
		}
		if ok, err := haltfiber.Check(c, handler, 1); !ok {
			return err
		}
		return c.SendString("generated")
	})
	// handler admits 1, then refuses: global and group are charged once
	for i, want := range []int{200, 429, 429, 429, 429} {
		req := httptest.NewRequest("POST", "/api/generate", nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.93")
		res, err := app.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("request %d: %d, want %d", i+1, res.StatusCode, want)
		}
		// in the handler, before Check: this request's take, and the
		// first one's, never the refused ones'
		if wantG, wantGr := int64(99-min(i, 1)), int64(2-min(i, 1)); remaining != [2]int64{wantG, wantGr} {
			t.Fatalf("request %d: global and group standing %v, want [%d %d]", i+1, remaining, wantG, wantGr)
		}
	}
}
