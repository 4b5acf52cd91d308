package halthttp_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	halthttp "github.com/halt-go/halt/adapters/nethttp"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

// One limiter for the whole server, a stricter one stacked on the login
// route. The headers describe the most restrictive decision; the third
// login gets the 429.
func Example() {
	store := memory.New(nil)
	defer store.Close()
	clock := halt.WithClock(halttest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))) // for a stable output
	global, err := halt.New(store, halt.Policy{Name: "public", Limit: 100, Window: time.Minute, Burst: 120}, clock)
	if err != nil {
		panic(err)
	}
	auth, err := halt.New(store, halt.Policy{Name: "auth", Limit: 2, Window: time.Minute}, clock)
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"message":"Hello World"}`)) })
	mux.Handle("POST /auth/login", halthttp.Middleware(auth)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})))
	handler := halthttp.Middleware(global)(mux) // http.ListenAndServe(addr, handler)

	for _, r := range [][2]string{{"GET", "/"}, {"POST", "/auth/login"}, {"POST", "/auth/login"}, {"POST", "/auth/login"}} {
		req := httptest.NewRequest(r[0], r[1], nil)
		req.RemoteAddr = "203.0.113.7:51234" // a public client: private ones are exempt by default
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		h := rec.Header()
		fmt.Printf("%-4s %-11s %d  limit=%s remaining=%s reset=%s retry-after=%q\n", r[0], r[1], rec.Code,
			h.Get("RateLimit-Limit"), h.Get("RateLimit-Remaining"), h.Get("RateLimit-Reset"), h.Get("Retry-After"))
	}
	// Output:
	// GET  /           200  limit=100 remaining=119 reset=1 retry-after=""
	// POST /auth/login 204  limit=2 remaining=1 reset=30 retry-after=""
	// POST /auth/login 204  limit=2 remaining=0 reset=60 retry-after=""
	// POST /auth/login 429  limit=2 remaining=0 reset=30 retry-after="30"
}

// A user limit: an authentication middleware runs first and records who
// the user is; anonymous requests are counted by client IP.
func ExampleWithUser() {
	store := memory.New(nil)
	defer store.Close()
	limiter, err := halt.New(store, halt.Policy{Name: "per_user", Limit: 1, Window: time.Hour, KeyStrategy: halt.KeyUser},
		halt.WithClock(halttest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))))
	if err != nil {
		panic(err)
	}
	authenticate := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if user := r.Header.Get("X-Demo-User"); user != "" { // your session or token check
				r = halthttp.WithUser(r, user)
			}
			next.ServeHTTP(w, r)
		})
	}
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	handler := authenticate(halthttp.Middleware(limiter)(ok))

	for _, user := range []string{"alice", "alice", "bob"} {
		req := httptest.NewRequest(http.MethodGet, "/reports", nil)
		req.RemoteAddr = "203.0.113.7:51234" // one office, one address: users are still counted apart
		req.Header.Set("X-Demo-User", user)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(user, rec.Code)
	}
	// Output:
	// alice 200
	// alice 429
	// bob 200
}
