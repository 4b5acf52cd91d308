// Command saas is Halt's SaaS example (net/http): API keys on plans, each
// with a per-minute rate limit and a daily quota decided in one
// all-or-nothing check, and penalties for clients that keep hammering.
//
//	ADDR=127.0.0.1:8080 go run ./saas         # serve
//	go run ./saas -demo                       # make saas-demo: a scripted session
//
// Callers send X-API-Key: free-demo, trial-demo or pro-demo. It uses the
// memory store, or Redis when HALT_REDIS_URL is set.
//
//	GET  /v1/echo       counted: the plan's rate limit and the daily quota
//	POST /v1/generate   counted at body length / 100 (at least 1)
//	GET  /v1/limits     the caller's standing, not counted
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	halthttp "github.com/halt-go/halt/adapters/nethttp"
	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/examples/internal/app"
)

// plan is one plan of the demo, at demo scale.
type plan struct {
	name  string
	rate  halt.Policy
	quota halt.Quota
}

var plans = map[string]plan{
	"free-demo":  {"free", halt.Policy{Name: "free_per_minute", Limit: 10, Burst: 10, Window: time.Minute}, daily(50)},
	"trial-demo": {"trial", halt.Policy{Name: "trial_per_minute", Limit: 100, Burst: 100, Window: time.Minute}, daily(20)},
	"pro-demo":   {"pro", halt.Policy{Name: "pro_per_minute", Limit: 100, Burst: 100, Window: time.Minute}, daily(1000)},
}

func daily(n int64) halt.Quota {
	return halt.Quota{Name: "daily_requests", Limit: n, Period: halt.Daily, KeyStrategy: halt.KeyAPIKey}
}

// penalty: every rejection is a violation of severity 1; the fifth starts
// a 10-minute penalty at half the limits, twice as long per repeat within a
// day.
var penalty = halt.PenaltyConfig{Threshold: 5, Duration: 10 * time.Minute, Multiplier: 0.5, Escalation: 2,
	Memory: 24 * time.Hour}

type server struct {
	limiters map[string]*halt.Limiter // by API key
	mw       map[string]http.Handler  // the counted routes, by API key
}

// newServer builds one limiter per plan on store.
func newServer(store halt.Store, opts ...halt.Option) (*server, error) {
	s := &server{limiters: map[string]*halt.Limiter{}, mw: map[string]http.Handler{}}
	routes := http.NewServeMux()
	routes.HandleFunc("GET /v1/echo", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"echo": r.URL.Query().Get("msg"), "plan": plans[r.Header.Get("X-API-Key")].name})
	})
	routes.HandleFunc("POST /v1/generate", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"generated": true, "cost": cost(r)})
	})
	for key, p := range plans {
		o := append([]halt.Option{halt.WithQuotas(p.quota), halt.WithPenalties(penalty, 1),
			halt.WithExemptPrivateIPs(false)}, opts...)
		rate := p.rate
		rate.KeyStrategy, rate.Plan = halt.KeyAPIKey, p.name
		l, err := halt.New(store, rate, o...)
		if err != nil {
			return nil, err
		}
		s.limiters[key] = l
		s.mw[key] = halthttp.Middleware(l, halthttp.WithCost(cost))(routes)
	}
	return s, nil
}

// cost is what a request takes: 1, or for /v1/generate the body's length
// / 100, at least 1.
func cost(r *http.Request) int64 {
	if r.URL.Path != "/v1/generate" || r.ContentLength < 100 {
		return 1
	}
	return r.ContentLength / 100
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("X-API-Key")
	l, ok := s.limiters[key]
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized",
			"message": "Send X-API-Key: free-demo, trial-demo or pro-demo."})
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/v1/limits" {
		s.limits(w, r, l, plans[key])
		return
	}
	s.mw[key].ServeHTTP(w, r)
}

type policyJSON struct {
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Remaining int64  `json:"remaining"`
	Reset     int64  `json:"reset"`
}

type quotaJSON struct {
	Limit     int64  `json:"limit"`
	Used      int64  `json:"used"`
	Remaining int64  `json:"remaining"`
	ResetsAt  string `json:"resets_at"`
}

type penaltyJSON struct {
	Active     bool    `json:"active"`
	Score      float64 `json:"score"`
	Until      *string `json:"until"`
	Multiplier float64 `json:"multiplier"`
}

type limitsJSON struct {
	Plan     string       `json:"plan"`
	Policies []policyJSON `json:"policies"`
	Quota    quotaJSON    `json:"quota"`
	Penalty  penaltyJSON  `json:"penalty"`
}

// limits answers GET /v1/limits: the caller's standing, consuming nothing.
func (s *server) limits(w http.ResponseWriter, r *http.Request, l *halt.Limiter, p plan) {
	req := halthttp.Request(r)
	ds, err := l.Standing(r.Context(), req)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	pen, err := l.Penalty(r.Context(), req)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	out := limitsJSON{Plan: p.name, Policies: []policyJSON{}}
	for _, d := range ds {
		if d.Policy == p.quota.Name {
			// The period ends on a whole second; on Redis ResetAfter is
			// counted from Redis's clock, which read the time a round trip
			// after d.At, so ResetAt falls a little before the end.
			out.Quota = quotaJSON{Limit: d.Limit, Used: d.Limit - d.Remaining, Remaining: d.Remaining,
				ResetsAt: d.ResetAt().Round(time.Second).UTC().Format(time.RFC3339)}
			continue
		}
		out.Policies = append(out.Policies, policyJSON{Name: d.Policy, Limit: d.Limit, Remaining: d.Remaining, Reset: d.ResetSeconds()})
	}
	out.Penalty = penaltyJSON{Active: pen.Active, Score: pen.Score, Multiplier: pen.Multiplier}
	if pen.Active {
		u := pen.Until.UTC().Format(time.RFC3339)
		out.Penalty.Until = &u
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func main() {
	demo := flag.Bool("demo", false, "run the scripted session (make saas-demo) and exit")
	flag.Parse()
	if *demo {
		if err := runDemo(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "saas demo:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := app.FromEnv()
	if err != nil {
		log.Fatal(err)
	}
	store, closer, err := cfg.Store()
	if err != nil {
		log.Fatal(err)
	}
	s, err := newServer(store)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: cfg.Addr, Handler: s, ReadHeaderTimeout: 5 * time.Second}
	serve := func() error {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	if err := app.Serve("saas", cfg.Addr, closer, serve, srv.Shutdown); err != nil {
		log.Fatal(err)
	}
}
