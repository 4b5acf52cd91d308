// Package app is the configuration every example program shares: the
// environment variables of DESIGN.md section 9, the store, and the two
// limiters of the common example app.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/presets"
	"github.com/halt-go/halt/stores/memory"
)

// HelloBody is what GET / answers in every example.
const HelloBody = `{"message":"Hello World"}`

// LoginBody is what POST /auth/login answers in every example.
const LoginBody = `{"token":"example"}`

// HealthBody is what GET /health answers in every example.
const HealthBody = `{"status":"ok"}`

// Config is read from the environment.
type Config struct {
	// Addr is ADDR, default 127.0.0.1:8080.
	Addr string
	// TrustedProxies is HALT_TRUSTED_PROXIES, comma-separated CIDRs or IPs.
	TrustedProxies []string
	// Style is HALT_HEADER_STYLE: standard (default), ietf, draft7,
	// xratelimit, none.
	Style halt.HeaderStyle
	// RedisURL is HALT_REDIS_URL: a redis:// URL, or a comma-separated list
	// of host:port seeds for a Redis Cluster. Empty means the memory store.
	RedisURL string
}

// FromEnv reads the configuration from the environment.
func FromEnv() (Config, error) {
	c := Config{Addr: os.Getenv("ADDR"), RedisURL: strings.TrimSpace(os.Getenv("HALT_REDIS_URL"))}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	for _, p := range strings.Split(os.Getenv("HALT_TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}
	style, ok := halt.ParseHeaderStyle(os.Getenv("HALT_HEADER_STYLE"))
	if !ok {
		return c, fmt.Errorf("HALT_HEADER_STYLE=%q: want standard, standard-unix, ietf, draft7, xratelimit or none",
			os.Getenv("HALT_HEADER_STYLE"))
	}
	c.Style = style
	return c, nil
}

// Store opens the store the configuration names; close it on shutdown.
func (c Config) Store() (halt.Store, io.Closer, error) {
	if c.RedisURL != "" {
		return openRedis(c.RedisURL)
	}
	s := memory.New(nil)
	return s, s, nil
}

// Limiters builds the common app's two limiters on store: global
// (presets.PublicAPI) and auth (presets.AuthEndpoints, for POST /auth/login).
func (c Config) Limiters(store halt.Store, extra ...halt.Option) (global, auth *halt.Limiter, err error) {
	opts := append([]halt.Option{halt.WithTrustedProxies(c.TrustedProxies...), halt.WithHeaderStyle(c.Style)}, extra...)
	global, err = halt.New(store, presets.PublicAPI(), opts...)
	if err != nil {
		return nil, nil, err
	}
	auth, err = halt.New(store, presets.AuthEndpoints(), opts...)
	return global, auth, err
}

// Setup reads the environment and builds store and limiters: the first
// lines of every example's main.
func Setup() (cfg Config, global, auth *halt.Limiter, closer io.Closer, err error) {
	if cfg, err = FromEnv(); err != nil {
		return cfg, nil, nil, nil, err
	}
	store, closer, err := cfg.Store()
	if err != nil {
		return cfg, nil, nil, nil, err
	}
	global, auth, err = cfg.Limiters(store)
	if err != nil {
		return cfg, nil, nil, nil, errors.Join(err, closer.Close())
	}
	return cfg, global, auth, closer, nil
}

// Serve runs serve until it fails or the process gets SIGINT or SIGTERM,
// then calls shutdown and closes the store: the last lines of every
// example's main. serve must block (ListenAndServe, app.Listen…).
func Serve(name, addr string, closer io.Closer, serve func() error, shutdown func(context.Context) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	log.Printf("%s example listening on http://%s", name, addr)
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = shutdown(sctx)
		cancel()
	}
	return errors.Join(err, closer.Close())
}
