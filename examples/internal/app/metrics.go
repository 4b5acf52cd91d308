package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	haltprom "github.com/halt-go/halt/telemetry/prometheus"
)

// MetricsPath is where the metrics listener serves Prometheus metrics.
const MetricsPath = "/metrics"

// ServeMetrics starts the Prometheus endpoint when c.MetricsAddr
// (HALT_METRICS_ADDR) is set: a registry holding a haltprom.Telemetry and
// the Go runtime and process collectors, served at MetricsPath on a
// listener of its own, so the app's routes and limits never see the
// scrapes. It sets c.Telemetry to the sink, for Limiters to give every
// limiter, and returns what stops the listener (a no-op when MetricsAddr
// is empty). The address is bound before it returns: a bad one is an
// error now, not a log line later.
func (c *Config) ServeMetrics() (io.Closer, error) {
	if c.MetricsAddr == "" {
		return closers(nil), nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", c.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("HALT_METRICS_ADDR: %w", err)
	}
	sink := haltprom.New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(sink, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Printf("metrics listener: %v", err)
		}
	}()
	log.Printf("Prometheus metrics on http://%s%s", ln.Addr(), MetricsPath)
	c.Telemetry = sink
	return srv, nil
}
