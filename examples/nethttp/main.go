// Command nethttp serves the common example app with the net/http adapter.
//
//	ADDR=127.0.0.1:8080 HALT_TRUSTED_PROXIES=127.0.0.1/32 go run ./nethttp
package main

import (
	"log"
	"net/http"
	"time"

	"github.com/halt-go/halt/examples/internal/app"
	"github.com/halt-go/halt/examples/internal/httpapp"
)

func main() {
	cfg, global, auth, closer, err := app.Setup()
	if err != nil {
		log.Fatal(err)
	}
	defer closer.Close()
	srv := &http.Server{Addr: cfg.Addr, Handler: httpapp.Handler(global, auth), ReadHeaderTimeout: 5 * time.Second}
	log.Printf("net/http example listening on http://%s", cfg.Addr)
	log.Fatal(srv.ListenAndServe())
}
