// Command nethttp serves the common example app with the net/http adapter.
//
//	ADDR=127.0.0.1:8080 HALT_TRUSTED_PROXIES=127.0.0.1/32 go run ./nethttp
package main

import (
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/halt-go/halt/examples/internal/app"
	"github.com/halt-go/halt/examples/internal/httpapp"
)

func main() {
	cfg, ls, closer, err := app.Setup()
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: cfg.Addr, Handler: httpapp.Handler(ls), ReadHeaderTimeout: 5 * time.Second}
	serve := func() error {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	if err := app.Serve("net/http", cfg.Addr, closer, serve, srv.Shutdown); err != nil {
		log.Fatal(err)
	}
}
