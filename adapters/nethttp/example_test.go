package halthttp_test

import (
	"log"
	"net/http"

	halthttp "github.com/halt-go/halt/adapters/nethttp"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/stores/memory"
)

// The quick start: one limiter for the whole server, a stricter one stacked
// on the login route.
func Example() {
	store := memory.New(nil)
	global, err := halt.New(store, halt.Policy{Name: "public_api", Limit: 100, Window: 60e9, Burst: 120},
		halt.WithTrustedProxies("10.0.0.0/8"))
	if err != nil {
		log.Fatal(err)
	}
	auth, err := halt.New(store, halt.Policy{Name: "auth", Limit: 5, Window: 60e9, Burst: 10, BlockDuration: 300e9})
	if err != nil {
		log.Fatal(err)
	}
	login := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"token":"..."}`)) })

	mux := http.NewServeMux()
	mux.Handle("POST /auth/login", halthttp.Middleware(auth)(login))
	srv := &http.Server{Addr: ":8080", Handler: halthttp.Middleware(global)(mux)}
	_ = srv // srv.ListenAndServe(), then store.Close() on shutdown
	_ = store.Close()
}
