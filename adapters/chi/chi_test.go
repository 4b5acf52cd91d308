package haltchi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	haltchi "github.com/halt-go/halt/adapters/chi"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

// router is the suite's harness: a chi router with the limiter in r.Use
// and the per-route one in r.With.
func router(t *testing.T, cfg halttest.AdapterConfig) string {
	hello := func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }
	var opts []haltchi.Option
	if cfg.SkipFromHeader {
		opts = append(opts, haltchi.WithSkip(skipHeader))
	}
	if cfg.CustomDeny {
		opts = append(opts, haltchi.WithDenyHandler(denyCustom))
	}
	if cfg.CostFromHeader {
		opts = append(opts, haltchi.WithCost(costHeader))
	}
	r := chi.NewRouter()
	if cfg.Flow != nil {
		r.Use(middleware.Recoverer) // chi's own recovery answers a panic with 500
	}
	if cfg.UserFromHeader {
		r.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if id := r.Header.Get("X-User"); id != "" {
					r = haltchi.WithUser(r, id)
				}
				next.ServeHTTP(w, r)
			})
		})
	}
	gopts := opts
	if cfg.Status {
		gopts = append(gopts[:len(gopts):len(gopts)], haltchi.WithStatusEndpoint("/rate_limit", cfg.Global, cfg.Route))
	}
	r.Use(haltchi.Middleware(cfg.Global, gopts...))
	r.Get("/", hello)
	r.Get("/health", hello)
	r.Get("/admin/stats", hello)
	r.Get("/items/{id}", hello)
	if cfg.Flow != nil {
		r.With(haltchi.Middleware(cfg.Flow, opts...)).Get("/outcome", halttest.OutcomeHandler(cfg).ServeHTTP)
	}
	if cfg.Settle != nil {
		r.Post("/settle", halttest.SettleHandler(haltchi.Reserve, cfg.Settle).ServeHTTP)
	}
	if cfg.Route != nil {
		r.With(haltchi.Middleware(cfg.Route, opts...)).Post("/auth/login", hello)
	} else {
		r.Post("/auth/login", hello)
	}
	if cfg.Handler != nil {
		r.Post("/generate", func(w http.ResponseWriter, r *http.Request) {
			if !haltchi.Check(w, r, cfg.Handler, costHeader(r)) {
				return
			}
			_, _ = io.WriteString(w, "generated")
		})
	}
	return halttest.ServeHandler(t, r)
}

func TestConformance(t *testing.T) {
	halttest.RunAdapterTests(t, newStore, router)
}

func skipHeader(r *http.Request) bool { return r.Header.Get("X-Skip") == "1" }

func costHeader(r *http.Request) int64 {
	cost, _ := strconv.ParseInt(r.Header.Get("X-Cost"), 10, 64)
	return cost
}

func denyCustom(w http.ResponseWriter, _ *http.Request, d halt.Decision) {
	h := w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("X-Denied-By", "halttest")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = io.WriteString(w, "custom "+strconv.FormatInt(d.RetrySeconds(), 10))
}

// patternRecorder records what RoutePattern reports at one level, and
// what chi reports in the handler.
type patternRecorder struct{ seen map[string]string }

func (p *patternRecorder) at(level string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.seen[level] = haltchi.RoutePattern(r)
			p.seen[level+" (halt.Request)"] = haltchi.Request(r).Route()
			next.ServeHTTP(w, r)
		})
	}
}

func TestRoutePatternAtEveryLevel(t *testing.T) {
	rec := &patternRecorder{seen: map[string]string{}}
	handler := func(w http.ResponseWriter, r *http.Request) {
		rec.seen["chi"] = chi.RouteContext(r.Context()).RoutePattern()
		rec.seen["handler"] = haltchi.RoutePattern(r)
	}
	r := chi.NewRouter()
	r.Use(rec.at("root Use"))
	r.With(rec.at("root With")).Get("/items/{id}", handler)
	r.Group(func(g chi.Router) {
		g.Use(rec.at("root Group"))
		g.Get("/users/{id}/posts/{post}", handler)
	})
	r.Route("/api/v1", func(api chi.Router) {
		api.Use(rec.at("mounted Use"))
		api.With(rec.at("mounted With")).Get("/orders/{id:[0-9]+}", handler)
		api.Get("/", handler)
		api.Get("/files/*", handler)
	})
	r.Get("/", handler)
	cases := []struct{ method, path, want string }{
		{"GET", "/items/42", "/items/{id}"},
		{"GET", "/users/7/posts/9", "/users/{id}/posts/{post}"},
		{"GET", "/api/v1/orders/12", "/api/v1/orders/{id:[0-9]+}"},
		{"GET", "/api/v1/", "/api/v1"},
		{"GET", "/api/v1/files/a/b", "/api/v1/files/*"},
		{"GET", "/", "/"},
		{"GET", "/nowhere", ""},
		{"POST", "/items/42", ""},
	}
	for _, tc := range cases {
		clear(rec.seen)
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(t.Context(), tc.method, tc.path, nil))
		if tc.want == "" {
			if got := rec.seen["root Use"]; got != "" {
				t.Errorf("%s %s: root Use saw %q, want no pattern", tc.method, tc.path, got)
			}
			continue
		}
		if rec.seen["chi"] != tc.want {
			t.Fatalf("%s %s: chi reports %q in the handler, want %q", tc.method, tc.path, rec.seen["chi"], tc.want)
		}
		for level, got := range rec.seen {
			if got != tc.want {
				t.Errorf("%s %s: %s saw %q, want %q (all: %v)", tc.method, tc.path, level, got, tc.want, rec.seen)
			}
		}
	}
	// Outside chi there is no pattern.
	if p := haltchi.RoutePattern(httptest.NewRequestWithContext(t.Context(), "GET", "/items/1", nil)); p != "" {
		t.Fatalf("RoutePattern outside chi = %q", p)
	}
}

// get sends one request from a client behind the trusted loopback proxy.
func get(t *testing.T, h http.Handler, method, path, client string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, path, nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("X-Forwarded-For", client)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// A PerRoute policy counts each chi route apart, per client, whatever the
// level of the middleware: r.Use, r.With, a group, a mounted subrouter,
// behind StripSlashes.
func TestPerRoute(t *testing.T) {
	p := halt.Policy{Name: "per-route", Limit: 1, Window: time.Minute, PerRoute: true}
	ok := func(w http.ResponseWriter, _ *http.Request) {}
	for _, level := range []string{"Use", "With", "Group", "Mounted", "Mount"} {
		t.Run(level, func(t *testing.T) {
			l, err := halt.New(newStore(t), p, halt.WithTrustedProxies("127.0.0.1/32"))
			if err != nil {
				t.Fatal(err)
			}
			var key string
			item := func(_ http.ResponseWriter, r *http.Request) { key = l.Key(haltchi.Request(r)) }
			r := chi.NewRouter()
			r.Use(middleware.StripSlashes)
			prefix := ""
			switch level {
			case "Use":
				r.Use(haltchi.Middleware(l))
				r.Get("/items/{id}", item)
				r.Get("/search", ok)
			case "With":
				r.With(haltchi.Middleware(l)).Get("/items/{id}", item)
				r.With(haltchi.Middleware(l)).Get("/search", ok)
			case "Group":
				r.Group(func(g chi.Router) {
					g.Use(haltchi.Middleware(l))
					g.Get("/items/{id}", item)
					g.Get("/search", ok)
				})
			case "Mounted":
				r.Route("/", func(sub chi.Router) {
					sub.Use(haltchi.Middleware(l))
					sub.Get("/items/{id}", item)
					sub.Get("/search", ok)
				})
			case "Mount":
				prefix = "/api"
				sub := chi.NewRouter()
				sub.Use(haltchi.Middleware(l))
				sub.Get("/items/{id}", item)
				sub.Get("/search", ok)
				r.Mount(prefix, sub)
			}
			client := "203.0.113." + strconv.Itoa(len(level))
			if w := get(t, r, "GET", prefix+"/items/1", client); w.Code != 200 || w.Header().Get("RateLimit-Remaining") != "0" {
				t.Fatalf("first /items/1: %d %v", w.Code, w.Header())
			}
			if want := "halt:per-route:" + prefix + "/items/%7Bid%7D:{ip:" + client + "}"; key != want {
				t.Fatalf("key in the handler %q, want %q", key, want)
			}
			// the same route under another id: the same counter (with the
			// path StripSlashes rewrites, except in a mount; see RoutePattern)
			second := prefix + "/items/2/"
			if level == "Mounted" || level == "Mount" {
				second = prefix + "/items/2"
			}
			if w := get(t, r, "GET", second, client); w.Code != 429 {
				t.Fatalf("%s after /items/1: %d, want 429", second, w.Code)
			}
			// another route: its own counter; another client: its own too
			if w := get(t, r, "GET", prefix+"/search", client); w.Code != 200 {
				t.Fatalf("/search: %d", w.Code)
			}
			if w := get(t, r, "GET", prefix+"/items/3", client+"0"); w.Code != 200 {
				t.Fatalf("/items/3 from another client: %d", w.Code)
			}
		})
	}
}

// Check in a handler keys a PerRoute policy by the full pattern, here
// inside a mounted subrouter.
func TestCheckPerRoute(t *testing.T) {
	p := halt.Policy{Name: "handler", Limit: 1, Window: time.Minute, PerRoute: true}
	l, err := halt.New(newStore(t), p, halt.WithTrustedProxies("127.0.0.1/32"))
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	var keys []string
	r.Route("/api/v1", func(api chi.Router) {
		api.Post("/generate/{model}", func(w http.ResponseWriter, r *http.Request) {
			keys = append(keys, l.Key(haltchi.Request(r)))
			if haltchi.Check(w, r, l, 1) {
				_, _ = io.WriteString(w, "generated")
			}
		})
	})
	for i, want := range []int{200, 429} {
		if w := get(t, r, "POST", "/api/v1/generate/m"+strconv.Itoa(i), "203.0.113.81"); w.Code != want {
			t.Fatalf("request %d: %d, want %d", i+1, w.Code, want)
		}
	}
	if want := "halt:handler:/api/v1/generate/%7Bmodel%7D:{ip:203.0.113.81}"; keys[0] != want || keys[1] != want {
		t.Fatalf("keys %q, want %q", keys, want)
	}
}

func TestRoutePatternKey(t *testing.T) {
	p := halt.Policy{Name: "endpoint", Limit: 2, Window: time.Minute, KeyStrategy: halt.KeyCustom, KeyFunc: haltchi.RoutePatternKey}
	l, err := halt.New(newStore(t), p, halt.WithTrustedProxies("127.0.0.1/32"))
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	r.Use(haltchi.Middleware(l))
	r.Get("/items/{id}", func(http.ResponseWriter, *http.Request) {})
	if key := l.Key(haltchi.Request(withRoute(t, r, "/items/9"))); key != "halt:endpoint:{custom:/items/%7Bid%7D}" {
		t.Fatalf("key %q", key)
	}
	// one budget for the route, whoever asks
	for i, want := range []int{200, 200, 429} {
		if w := get(t, r, "GET", "/items/"+strconv.Itoa(i), "198.51.100."+strconv.Itoa(i)); w.Code != want {
			t.Fatalf("request %d: %d, want %d", i, w.Code, want)
		}
	}
	// outside chi there is no route, so no key
	if key := l.Key(haltchi.Request(httptest.NewRequestWithContext(t.Context(), "GET", "/items/1", nil))); key != "halt:endpoint:{ip:192.0.2.1}" {
		t.Fatalf("key outside chi %q", key)
	}
}

// withRoute returns a request for path carrying r's route context, as a
// middleware in r.Use sees it.
func withRoute(t *testing.T, r *chi.Mux, path string) *http.Request {
	rctx := chi.NewRouteContext()
	rctx.Routes = r
	return httptest.NewRequestWithContext(context.WithValue(t.Context(), chi.RouteCtxKey, rctx), "GET", path, nil)
}

// newStore gives each limiter a fresh memory store.
func newStore(t *testing.T) halt.Store {
	s := memory.New(nil)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Nil option functions keep the defaults instead of panicking mid-request.
func TestNilOptionsKeepDefaults(t *testing.T) {
	l, err := halt.New(newStore(t), halt.Policy{Name: "nil-opts", Limit: 1, Window: time.Minute},
		halt.WithTrustedProxies("127.0.0.1/32"))
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	r.Use(haltchi.Middleware(l, haltchi.WithSkip(nil), haltchi.WithCost(nil), haltchi.WithDenyHandler(nil)))
	r.Get("/", func(http.ResponseWriter, *http.Request) {})
	if w := get(t, r, "GET", "/", "203.0.113.80"); w.Code != 200 || w.Header().Get("RateLimit-Remaining") != "0" {
		t.Fatalf("first: %d %v", w.Code, w.Header())
	}
	w := get(t, r, "GET", "/", "203.0.113.80")
	if w.Code != 429 || w.Body.String() != halttest.RateLimitBody(60) {
		t.Fatalf("second: %d %q", w.Code, w.Body.String())
	}
}

// Stacked three deep (router, mounted subrouter, Check in the handler): a
// rejection by the last gives back what both middleware limiters took.
func TestStackedGiveBack(t *testing.T) {
	store := newStore(t)
	proxy := halt.WithTrustedProxies("127.0.0.1/32")
	limiter := func(name string, limit int64) *halt.Limiter {
		l, err := halt.New(store, halt.Policy{Name: name, Limit: limit, Window: time.Hour}, proxy)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	global, group, handler := limiter("global", 100), limiter("group", 3), limiter("handler", 1)
	r := chi.NewRouter()
	r.Use(haltchi.Middleware(global))
	var remaining [2]int64
	r.Route("/api", func(api chi.Router) {
		api.Use(haltchi.Middleware(group))
		api.Post("/generate", func(w http.ResponseWriter, r *http.Request) {
			for i, l := range []*halt.Limiter{global, group} {
				st, err := l.Standing(r.Context(), haltchi.Request(r))
				if err != nil {
					t.Error(err)
				}
				remaining[i] = st[0].Remaining
			}
			if haltchi.Check(w, r, handler, 1) {
				_, _ = io.WriteString(w, "generated")
			}
		})
	})
	// handler admits 1, then refuses: global and group are charged once
	for i, want := range []int{200, 429, 429, 429, 429} {
		if w := get(t, r, "POST", "/api/generate", "203.0.113.93"); w.Code != want {
			t.Fatalf("request %d: %d, want %d", i+1, w.Code, want)
		}
		// in the handler, before Check: this request's take, and the
		// first one's, never the refused ones'
		if wantG, wantGr := int64(99-min(i, 1)), int64(2-min(i, 1)); remaining != [2]int64{wantG, wantGr} {
			t.Fatalf("request %d: global and group standing %v, want [%d %d]", i+1, remaining, wantG, wantGr)
		}
	}
}
