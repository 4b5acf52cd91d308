package halthttp_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	halthttp "github.com/halt-go/halt/adapters/nethttp"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

func newStore(t *testing.T) halt.Store {
	s := memory.New(nil)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// serve is the adapter harness: the framework quirks of net/http live here.
func serve(t *testing.T, cfg halttest.AdapterConfig) string {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	var opts []halthttp.Option
	if cfg.CostFromHeader {
		opts = append(opts, halthttp.WithCost(func(r *http.Request) int64 {
			n, _ := strconv.ParseInt(r.Header.Get("X-Cost"), 10, 64)
			return n
		}))
	}
	if cfg.SkipFromHeader {
		opts = append(opts, halthttp.WithSkip(func(r *http.Request) bool { return r.Header.Get("X-Skip") == "1" }))
	}
	if cfg.CustomDeny {
		opts = append(opts, halthttp.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, d halt.Decision) {
			w.Header().Set("X-Denied-By", "halttest")
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte("custom " + strconv.FormatInt(d.RetrySeconds(), 10)))
		}))
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", ok)
	mux.Handle("GET /health", ok)
	mux.Handle("GET /admin/stats", ok)
	mux.Handle("GET /items/{id}", ok)
	login := http.Handler(ok)
	if cfg.Route != nil {
		login = halthttp.Middleware(cfg.Route, opts...)(login)
	}
	mux.Handle("POST /auth/login", login)
	if cfg.Handler != nil {
		mux.HandleFunc("POST /generate", func(w http.ResponseWriter, r *http.Request) {
			cost, _ := strconv.ParseInt(r.Header.Get("X-Cost"), 10, 64)
			if !halthttp.Check(w, r, cfg.Handler, cost) {
				return
			}
			_, _ = w.Write([]byte("generated"))
		})
	}
	if cfg.Flow != nil {
		mux.Handle("GET /outcome", halthttp.Middleware(cfg.Flow, opts...)(halttest.OutcomeHandler(cfg)))
	}
	if cfg.Settle != nil {
		mux.Handle("POST /settle", halttest.SettleHandler(halthttp.Reserve, cfg.Settle))
	}
	gopts := opts
	if cfg.Status {
		gopts = append(gopts[:len(gopts):len(gopts)], halthttp.WithStatusEndpoint("/rate_limit", cfg.Global, cfg.Route))
	}
	h := halthttp.Middleware(cfg.Global, gopts...)(mux)
	if cfg.UserFromHeader {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u := r.Header.Get("X-User"); u != "" {
				r = halthttp.WithUser(r, u)
			}
			inner.ServeHTTP(w, r)
		})
	}
	return halttest.ServeHandler(t, halttest.Recover(h))
}

func TestConformance(t *testing.T) {
	halttest.RunAdapterTests(t, newStore, serve)
}

// Nil option functions keep the defaults instead of panicking per request.
func TestNilOptions(t *testing.T) {
	l, err := halt.New(newStore(t), halt.Policy{Name: "nil", Limit: 1, Window: 60e9}, halt.WithExemptPrivateIPs(false))
	if err != nil {
		t.Fatal(err)
	}
	h := halthttp.Middleware(l, halthttp.WithSkip(nil), halthttp.WithCost(nil), halthttp.WithDenyHandler(nil))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for i, want := range []int{200, 429} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if w.Code != want {
			t.Fatalf("request %d: status %d, want %d", i+1, w.Code, want)
		}
	}
}
