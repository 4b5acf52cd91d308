package haltchi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-chi/chi/v5"
	haltchi "github.com/halt-go/halt/adapters/chi"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

// One limit for the whole router, a stricter one for the login route with
// r.With, and a group whose routes are each counted separately per client.
func Example() {
	store := memory.New(nil)
	defer store.Close()
	clock := halt.WithClock(halttest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))) // for a stable output
	trusted := halt.WithTrustedProxies("10.0.0.0/8")                                        // your load balancers
	limit := func(p halt.Policy, opts ...halt.Option) *halt.Limiter {
		l, err := halt.New(store, p, append([]halt.Option{trusted, clock}, opts...)...)
		if err != nil {
			panic(err)
		}
		return l
	}
	r := chi.NewRouter()
	r.Use(haltchi.Middleware(limit(halt.Policy{Name: "public", Limit: 100, Window: time.Minute, Burst: 120})))
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "Hello World"})
	})

	login := limit(halt.Policy{Name: "auth", Limit: 1, Window: time.Minute, BlockDuration: 5 * time.Minute})
	r.With(haltchi.Middleware(login)).Post("/auth/login", func(http.ResponseWriter, *http.Request) {})

	perRoute := halt.Policy{Name: "api", Limit: 1, Window: time.Second, PerRoute: true}
	r.Group(func(api chi.Router) {
		api.Use(haltchi.Middleware(limit(perRoute))) // /items/{id} and /search: one budget each
		api.Get("/items/{id}", func(http.ResponseWriter, *http.Request) {})
		api.Get("/search", func(http.ResponseWriter, *http.Request) {})
	})
	// http.ListenAndServe(":8080", r)

	for _, q := range [][2]string{{"GET", "/"}, {"POST", "/auth/login"}, {"POST", "/auth/login"},
		{"GET", "/items/1"}, {"GET", "/items/2"}, {"GET", "/search"}} {
		req := httptest.NewRequest(q[0], q[1], nil)
		req.RemoteAddr = "10.0.0.2:40000"                // the load balancer,
		req.Header.Set("X-Forwarded-For", "203.0.113.7") // for this client
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		fmt.Printf("%-4s %-11s %d  remaining=%q retry-after=%q\n", q[0], q[1], rec.Code,
			rec.Header().Get("RateLimit-Remaining"), rec.Header().Get("Retry-After"))
	}
	// Output:
	// GET  /           200  remaining="119" retry-after=""
	// POST /auth/login 200  remaining="0" retry-after=""
	// POST /auth/login 429  remaining="0" retry-after="300"
	// GET  /items/1    200  remaining="0" retry-after=""
	// GET  /items/2    429  remaining="0" retry-after="1"
	// GET  /search     200  remaining="0" retry-after=""
}

// A handler that knows its cost only once it has read the request: the
// prompt's length decides how much of the budget it takes.
func ExampleCheck() {
	store := memory.New(nil)
	defer store.Close()
	tokens, err := halt.New(store, halt.Policy{Name: "tokens", Limit: 10_000, Window: time.Hour})
	if err != nil {
		panic(err)
	}
	r := chi.NewRouter()
	r.Post("/generate", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Prompt string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !haltchi.Check(w, r, tokens, int64(len(req.Prompt))) {
			return // the rejection is written
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"text": "…"})
	})
	_ = r
}
