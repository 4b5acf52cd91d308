// Package app is the configuration every example program shares: the
// environment variables (ADDR, HALT_REDIS_URL, HALT_TRUSTED_PROXIES,
// HALT_HEADER_STYLE, HALT_METRICS_ADDR), the store, the Prometheus
// endpoint, and the limiters of the common example app.
package app

import (
	"context"
	"encoding/json"
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

// SearchBody is what GET /api/search answers in every example.
const SearchBody = `{"results":[]}`

// BetaBody is what GET /api/beta answers in every example.
const BetaBody = `{"feature":"beta"}`

// OTPCode is the right code of POST /auth/otp in the demo.
const OTPCode = "000000"

// OTPBody and OTPWrongBody are what POST /auth/otp answers to the right
// code (200) and to anything else (401).
const (
	OTPBody      = `{"verified":true}`
	OTPWrongBody = `{"error":"invalid_code"}`
)

// CheckOTP answers a POST /auth/otp body, {"code":"…"}: 200 and OTPBody
// for OTPCode, 401 and OTPWrongBody for anything else.
func CheckOTP(body io.Reader) (status int, reply string) {
	var in struct {
		Code string `json:"code"`
	}
	if err := json.NewDecoder(io.LimitReader(body, 4<<10)).Decode(&in); err != nil || in.Code != OTPCode {
		return 401, OTPWrongBody
	}
	return 200, OTPBody
}

// SmoothBody is what GET /api/smooth answers in every example.
const SmoothBody = `{"smooth":true}`

// ExportBody is what GET /api/export answers in every example, after
// ExportTime.
const ExportBody = `{"exported":true}`

// ExportTime is how long GET /api/export's handler works.
const ExportTime = 300 * time.Millisecond

// Export does GET /api/export's work: ExportTime, or less when the
// request's context ends first.
func Export(ctx context.Context) {
	t := time.NewTimer(ExportTime)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// StatusPath is the status endpoint every example serves: the caller's
// standing under public_api, auth_endpoints, search_second and
// search_hour, never counted and never limited.
const StatusPath = "/rate_limit"

// Limiters are the common app's limiters.
type Limiters struct {
	// Global is presets.PublicAPI ("public_api"), on every route.
	Global *halt.Limiter
	// Auth is presets.AuthEndpoints ("auth_endpoints"), on POST
	// /auth/login, stacked on Global.
	Auth *halt.Limiter
	// Search decides "search_second" (2 per second, burst 2) and
	// "search_hour" (20 per hour, burst 20) per client IP, in one check, on
	// GET /api/search, stacked on Global.
	Search *halt.Limiter
	// Beta is the shadow policy "beta_shadow" (1 per minute) on GET
	// /api/beta: never rejects, never writes headers, logs each request it
	// would have rejected.
	Beta *halt.Limiter
	// OTP is "otp_failures", 3 per 10 minutes per client IP counting only
	// failed attempts (halt.CountFailures), on POST /auth/otp.
	OTP *halt.Limiter
	// Smooth is "smooth", 5 per second with a burst of 1, waiting at most
	// 1 s instead of rejecting, on GET /api/smooth.
	Smooth *halt.Limiter
	// Export is "export_inflight", at most 2 requests in flight per client
	// IP (leases of one minute), on GET /api/export.
	Export *halt.Limiter
}

// Status lists the limiters the status endpoint reports.
func (ls Limiters) Status() []*halt.Limiter { return []*halt.Limiter{ls.Global, ls.Auth, ls.Search} }

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
	// MetricsAddr is HALT_METRICS_ADDR: where ServeMetrics serves
	// Prometheus metrics (127.0.0.1:9464, say). Empty means no metrics.
	MetricsAddr string
	// Telemetry is a sink every limiter reports to (ServeMetrics sets it
	// to the Prometheus sink); nil keeps the limiters' default.
	Telemetry halt.Telemetry
}

// FromEnv reads the configuration from the environment.
func FromEnv() (Config, error) {
	c := Config{Addr: os.Getenv("ADDR"), RedisURL: strings.TrimSpace(os.Getenv("HALT_REDIS_URL")),
		MetricsAddr: strings.TrimSpace(os.Getenv("HALT_METRICS_ADDR"))}
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

// Limiters builds the common app's limiters on store; extra options go to
// every one of them.
func (c Config) Limiters(store halt.Store, extra ...halt.Option) (Limiters, error) {
	opts := append([]halt.Option{halt.WithTrustedProxies(c.TrustedProxies...), halt.WithHeaderStyle(c.Style),
		halt.WithTelemetry(c.Telemetry)}, extra...)
	var ls Limiters
	var err error
	if ls.Global, err = halt.New(store, presets.PublicAPI(), opts...); err != nil {
		return ls, err
	}
	if ls.Auth, err = halt.New(store, presets.AuthEndpoints(), opts...); err != nil {
		return ls, err
	}
	second := halt.Policy{Name: "search_second", Limit: 2, Window: time.Second, Burst: 2}
	hour := halt.Policy{Name: "search_hour", Limit: 20, Window: time.Hour, Burst: 20}
	if ls.Search, err = halt.New(store, second, append(opts, halt.WithPolicies(hour))...); err != nil {
		return ls, err
	}
	beta := halt.Policy{Name: "beta_shadow", Limit: 1, Window: time.Minute, Shadow: true}
	if ls.Beta, err = halt.New(store, beta, append(opts, halt.WithTelemetry(halt.SlogTelemetry{}, c.Telemetry))...); err != nil {
		return ls, err
	}
	otp := halt.Policy{Name: "otp_failures", Limit: 3, Window: 10 * time.Minute, Count: halt.CountFailures}
	if ls.OTP, err = halt.New(store, otp, opts...); err != nil {
		return ls, err
	}
	smooth := halt.Policy{Name: "smooth", Limit: 5, Window: time.Second, Burst: 1, MaxWait: time.Second}
	if ls.Smooth, err = halt.New(store, smooth, opts...); err != nil {
		return ls, err
	}
	export := halt.Policy{Name: "export_inflight", Limit: 2, Window: time.Minute, Algorithm: halt.InFlight}
	ls.Export, err = halt.New(store, export, opts...)
	return ls, err
}

// Setup reads the environment, builds store and limiters and starts the
// metrics endpoint if HALT_METRICS_ADDR asks for it: the first lines of
// every example's main. The closer stops the endpoint and closes the
// store.
func Setup() (cfg Config, ls Limiters, closer io.Closer, err error) {
	if cfg, err = FromEnv(); err != nil {
		return cfg, ls, nil, err
	}
	store, closer, err := cfg.Store()
	if err != nil {
		return cfg, ls, nil, err
	}
	metrics, err := cfg.ServeMetrics()
	if err != nil {
		return cfg, ls, nil, errors.Join(err, closer.Close())
	}
	closer = closers{metrics, closer}
	if ls, err = cfg.Limiters(store); err != nil {
		return cfg, ls, nil, errors.Join(err, closer.Close())
	}
	return cfg, ls, closer, nil
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
