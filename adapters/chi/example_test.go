package haltchi_test

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	haltchi "github.com/halt-go/halt/adapters/chi"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/stores/memory"
)

// One limit for the whole router, a stricter one for the login route with
// r.With, and a group whose routes are each counted separately per client.
func Example() {
	trusted := halt.WithTrustedProxies("10.0.0.0/8") // your load balancers
	store := memory.New(nil)
	defer store.Close()
	r := chi.NewRouter()

	public := halt.Policy{Name: "public", Limit: 100, Window: time.Minute, Burst: 120}
	if l, err := halt.New(store, public, trusted); err == nil {
		r.Use(haltchi.Middleware(l))
	}
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "Hello World"})
	})

	login := halt.Policy{Name: "auth", Limit: 10, Window: time.Minute, BlockDuration: 5 * time.Minute}
	if l, err := halt.New(store, login, trusted); err == nil {
		r.With(haltchi.Middleware(l)).Post("/auth/login", func(http.ResponseWriter, *http.Request) {})
	}

	perRoute := halt.Policy{Name: "api", Limit: 20, Window: time.Second, PerRoute: true}
	if l, err := halt.New(store, perRoute, trusted); err == nil {
		r.Group(func(api chi.Router) {
			api.Use(haltchi.Middleware(l)) // /items/{id} and /search: one budget each
			api.Get("/items/{id}", func(http.ResponseWriter, *http.Request) {})
			api.Get("/search", func(http.ResponseWriter, *http.Request) {})
		})
	}

	_ = r // http.ListenAndServe(":8080", r)
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
