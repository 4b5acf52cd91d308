package halttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
)

// AdapterConfig is what the adapter suite asks a harness to build. The
// harness serves these routes, each answering 200 with the body "ok":
//
//	GET /            GET /health        GET /admin/stats
//	GET /items/{id}  POST /auth/login
//
// (with the route patterns in the framework's own syntax, such as
// "/items/:id"). Global applies to every route as the framework's global
// middleware. When Route is set, it applies to POST /auth/login only, as
// route-level middleware stacked after Global (the framework's per-route
// idiom).
//
// When Handler is set the harness also serves POST /generate, whose
// handler calls the adapter's handler-level check with Handler and the
// cost in the X-Cost request header, returns when the check says not to
// go on, and otherwise answers 200 with the body "generated".
type AdapterConfig struct {
	Global *halt.Limiter
	Route  *halt.Limiter
	// CostFromHeader: pass a per-request cost function that returns the
	// integer in the X-Cost request header (0 when absent).
	CostFromHeader bool
	// SkipFromHeader: pass a skip function that skips requests carrying
	// "X-Skip: 1".
	SkipFromHeader bool
	// CustomDeny: pass a custom rejection writer that answers status 429,
	// header X-Denied-By: halttest, Content-Type text/plain, and the body
	// "custom <d.RetrySeconds()>".
	CustomDeny bool
	// Handler is the limiter of POST /generate's handler-level check.
	Handler *halt.Limiter
	// Status: pass the adapter's status-endpoint option to the Global
	// middleware, for GET /rate_limit, reporting Global then Route.
	Status bool
	// UserFromHeader: before the limiter, install the framework's own
	// middleware that stores the X-User request header (when present) as the
	// per-request value named "user_id" (gin/echo c.Set, fiber c.Locals,
	// the request context for net/http and chi).
	UserFromHeader bool

	// Flow, when set, is the limiter of GET /outcome, route-level
	// middleware stacked after Global. The harness then installs the
	// framework's own panic recovery first (gin.Recovery, echo's and
	// fiber's recover middleware, or for net/http and chi a wrapper),
	// answering a panic with 500, and GET /outcome's handler reads its
	// request headers ([OutcomeOf]): "X-Panic: 1" panics; "X-Error: <code>"
	// fails with the framework's HTTP error of that code (echo.HTTPError,
	// fiber.Error; net/http, chi and gin answer code with the body "error");
	// "X-Status: <code>" answers code with the body "ok"; and "X-Hold: 1"
	// first sends on Entered, then waits until Hold is closed or the
	// request's context ends. Otherwise it answers 200 "ok".
	Flow    *halt.Limiter
	Hold    <-chan struct{}
	Entered chan<- struct{}
	// Settle, when set, serves POST /settle: the adapter's Reserve with
	// Settle at the cost in X-Cost; when admitted, the handler settles at
	// the cost in X-Actual and answers 200 "settled".
	Settle *halt.Limiter
}

// Outcome is what GET /outcome's handler is asked to do (see
// AdapterConfig.Flow).
type Outcome struct {
	Panic  bool
	Error  int // a framework error of this code, or 0
	Status int // the status to answer, 200 by default
	Hold   bool
}

// OutcomeOf reads GET /outcome's request headers through header (the
// framework's request-header getter).
func OutcomeOf(header func(name string) string) Outcome {
	o := Outcome{Panic: header("X-Panic") == "1", Hold: header("X-Hold") == "1", Status: http.StatusOK}
	o.Error, _ = strconv.Atoi(header("X-Error"))
	if n, err := strconv.Atoi(header("X-Status")); err == nil && n >= 200 && n <= 599 {
		o.Status = n
	}
	return o
}

// Wait holds the handler as X-Hold asks: it reports on cfg.Entered, then
// waits until cfg.Hold is closed or done (the request's context) ends.
func (o Outcome) Wait(cfg AdapterConfig, done <-chan struct{}) {
	if !o.Hold {
		return
	}
	if cfg.Entered != nil {
		cfg.Entered <- struct{}{}
	}
	select {
	case <-cfg.Hold:
	case <-done:
	}
}

// SuiteOption adjusts the adapter suite to a framework's limits.
type SuiteOption interface{ suiteOption() }

type noCancel struct{}

func (noCancel) suiteOption() {}

// NoRequestCancel tells the suite that the framework does not end a
// request's context when its client hangs up (fasthttp, under fiber), so
// the test of a waiting client that hangs up does not apply.
func NoRequestCancel() SuiteOption { return noCancel{} }

// AdapterHarness builds and starts a server for cfg on 127.0.0.1 and
// returns its base URL ("http://127.0.0.1:port"). It stops the server with
// t.Cleanup. Framework quirks belong here, not in copies of the suite.
type AdapterHarness func(t *testing.T, cfg AdapterConfig) string

// ServeHandler starts h on a loopback httptest server for a harness.
func ServeHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// MissingKeyBody is the JSON body of a rejection for a missing key
// (MissingKeyDeny), sent with 401.
const MissingKeyBody = `{"error":"missing_credential","message":"This endpoint is rate limited per client and the request did not say who it is from."}`

// TooCostlyBody is the JSON body of a rejection of a cost above the
// policy's capacity, sent with 429 and no Retry-After.
const TooCostlyBody = `{"error":"cost_exceeds_capacity","message":"This request costs more than the rate limit can ever allow; retrying will not help."}`

// RateLimitBody is the JSON body of a default 429 with the given retry.
func RateLimitBody(retry int64) string {
	return `{"error":"rate_limit_exceeded","message":"Too many requests. Please try again later.","retry_after":` +
		strconv.FormatInt(retry, 10) + `}`
}

// client sends requests to one harness server.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

// resp is a response read whole.
type resp struct {
	status int
	header http.Header
	body   string
}

func newClient(t *testing.T, base string, from string) *client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, base: base, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// do sends method path with headers given as "Name: value" strings; a name
// given twice is sent as two field lines.
func (c *client) do(method, path string, headers ...string) resp {
	c.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Add(name, strings.TrimSpace(value))
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (r resp) expect(t *testing.T, status int, headers map[string]string, body string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (body %q, headers %v)", r.status, status, r.body, r.header)
	}
	for name, want := range headers {
		got := strings.Join(r.header.Values(name), ", ")
		if got != want {
			t.Fatalf("header %s = %q, want %q (all headers %v)", name, got, want, r.header)
		}
	}
	if body != "" && r.body != body {
		t.Fatalf("body %q, want %q", r.body, body)
	}
}

// noRateLimitHeaders fails if r carries any rate-limit header.
func (r resp) noRateLimitHeaders(t *testing.T) {
	t.Helper()
	for name := range r.header {
		l := strings.ToLower(name)
		if strings.HasPrefix(l, "ratelimit") || strings.HasPrefix(l, "x-ratelimit") || l == "retry-after" {
			t.Fatalf("unexpected header %s: %v", name, r.header[name])
		}
	}
}

func std(limit, remaining, reset int64) map[string]string {
	return map[string]string{
		"Ratelimit-Limit": itoa(limit), "Ratelimit-Remaining": itoa(remaining), "Ratelimit-Reset": itoa(reset),
	}
}

func blocked(limit, retry int64) map[string]string {
	h := std(limit, 0, retry)
	h["Retry-After"] = itoa(retry)
	h["Cache-Control"] = "no-store"
	h["Content-Type"] = "application/json"
	return h
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// limiter builds a limiter on a fresh memory-like store for the suite.
func limiter(t *testing.T, store halt.Store, p halt.Policy, opts ...halt.Option) *halt.Limiter {
	t.Helper()
	p.Name = unique(p.Name)
	opts = append([]halt.Option{halt.WithClock(NewClock(Base)), halt.WithTelemetry(halt.NopTelemetry{})}, opts...)
	l, err := halt.New(store, p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func xff(ip string) string { return "X-Forwarded-For: " + ip }

// RunAdapterTests runs the adapter conformance suite over real HTTP.
// newStore supplies the store for each limiter (use the memory store).
func RunAdapterTests(t *testing.T, newStore func(t *testing.T) halt.Store, serve AdapterHarness, opts ...SuiteOption) {
	t.Helper()
	cancels := true
	for _, o := range opts {
		if _, ok := o.(noCancel); ok {
			cancels = false
		}
	}
	t.Run("Flow", func(t *testing.T) { runAdapterFlowTests(t, newStore, serve, cancels) })
	proxy := halt.WithTrustedProxies("127.0.0.1/32")
	pub := halt.Policy{Name: "public", Limit: 100, Window: time.Minute, Burst: 120}
	five := halt.Policy{Name: "five", Limit: 5, Window: time.Minute}
	one := halt.Policy{Name: "one", Limit: 1, Window: time.Minute}

	start := func(t *testing.T, cfg AdapterConfig) *client {
		t.Helper()
		return newClient(t, serve(t, cfg), "")
	}

	t.Run("HeadersOn200", func(t *testing.T) {
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), pub, proxy)})
		c.do("GET", "/", xff("203.0.113.10")).expect(t, 200, std(100, 119, 1), "ok")
		r := c.do("GET", "/items/42", xff("203.0.113.10"))
		r.expect(t, 200, std(100, 118, 2), "ok")
		if r.header.Get("Retry-After") != "" {
			t.Fatal("Retry-After on a 200")
		}
	})
	t.Run("Limit429", func(t *testing.T) {
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), five, proxy)})
		for i := int64(0); i < 5; i++ {
			c.do("GET", "/", xff("203.0.113.11")).expect(t, 200, std(5, 4-i, 12*(i+1)), "ok")
		}
		c.do("GET", "/", xff("203.0.113.11")).expect(t, 429, blocked(5, 12), RateLimitBody(12))
		// another client is not affected
		c.do("GET", "/", xff("203.0.113.12")).expect(t, 200, std(5, 4, 12), "ok")
	})
	t.Run("Exemptions/Health", func(t *testing.T) {
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), one, proxy)})
		c.do("GET", "/", xff("203.0.113.13")).expect(t, 200, nil, "ok")
		c.do("GET", "/", xff("203.0.113.13")).expect(t, 429, nil, "")
		for i := 0; i < 3; i++ {
			r := c.do("GET", "/health", xff("203.0.113.13"))
			r.expect(t, 200, nil, "ok")
			r.noRateLimitHeaders(t)
		}
	})
	t.Run("Exemptions/PrivatePeer", func(t *testing.T) {
		// No trusted proxies: the loopback peer is the client, and private.
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), one)})
		for i := 0; i < 3; i++ {
			r := c.do("GET", "/", xff("203.0.113.14"))
			r.expect(t, 200, nil, "ok")
			r.noRateLimitHeaders(t)
		}
	})
	t.Run("Exemptions/PrivateClientBehindProxy", func(t *testing.T) {
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), one, proxy)})
		for i := 0; i < 3; i++ {
			c.do("GET", "/", xff("10.1.2.3")).noRateLimitHeaders(t)
		}
		// a private address left of the client is never reached
		c.do("GET", "/", xff("10.0.0.1, 203.0.113.15")).expect(t, 200, std(1, 0, 60), "ok")
		c.do("GET", "/", xff("10.0.0.1, 203.0.113.15")).expect(t, 429, blocked(1, 60), "")
	})
	t.Run("Exemptions/Custom", func(t *testing.T) {
		p := one
		p.Exemptions = []string{"/admin", "198.51.100.5", "192.0.2.0/24"}
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), p, proxy)})
		for i := 0; i < 3; i++ {
			c.do("GET", "/admin/stats", xff("203.0.113.16")).noRateLimitHeaders(t)
			c.do("GET", "/", xff("198.51.100.5")).noRateLimitHeaders(t)
			c.do("GET", "/", xff("192.0.2.77")).noRateLimitHeaders(t)
		}
		c.do("GET", "/", xff("203.0.113.16")).expect(t, 200, std(1, 0, 60), "ok")
		c.do("GET", "/", xff("203.0.113.16")).expect(t, 429, nil, "")
	})
	t.Run("Spoofing/UntrustedPeerHeadersIgnored", func(t *testing.T) {
		// The peer 127.0.0.1 is not the trusted proxy 127.0.0.2: its
		// X-Forwarded-For is ignored and it is keyed by its own address.
		l := limiter(t, newStore(t), one, halt.WithTrustedProxies("127.0.0.2"), halt.WithExemptPrivateIPs(false))
		c := start(t, AdapterConfig{Global: l})
		c.do("GET", "/", xff("203.0.113.1")).expect(t, 200, std(1, 0, 60), "ok")
		c.do("GET", "/", xff("203.0.113.2")).expect(t, 429, blocked(1, 60), "")
		// while the trusted proxy 127.0.0.2 is believed
		p := newClient(t, c.base, "127.0.0.2")
		p.do("GET", "/", xff("203.0.113.2")).expect(t, 200, std(1, 0, 60), "ok")
	})
	t.Run("Spoofing/LeftmostIgnored", func(t *testing.T) {
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), one, proxy)})
		c.do("GET", "/", xff("1.1.1.1, 203.0.113.20")).expect(t, 200, nil, "ok")
		c.do("GET", "/", xff("2.2.2.2, 203.0.113.20")).expect(t, 429, nil, "")
		c.do("GET", "/", xff("garbage, 203.0.113.20")).expect(t, 429, nil, "")
	})
	t.Run("Spoofing/MultipleHeaderLines", func(t *testing.T) {
		// The proxy appended the real client to the last line; the first
		// line is the attacker's.
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), one, proxy)})
		c.do("GET", "/", xff("198.51.100.77"), xff("203.0.113.21")).expect(t, 200, nil, "ok")
		c.do("GET", "/", xff("203.0.113.21")).expect(t, 429, nil, "")
		c.do("GET", "/", xff("198.51.100.77")).expect(t, 200, nil, "ok")
	})
	t.Run("Spoofing/MappedZonesPorts", func(t *testing.T) {
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), one, proxy, halt.WithIPv6Prefix(128))})
		c.do("GET", "/", xff("::ffff:203.0.113.22")).expect(t, 200, nil, "ok")
		c.do("GET", "/", xff("203.0.113.22")).expect(t, 429, nil, "")
		c.do("GET", "/", xff("203.0.113.23:5555")).expect(t, 200, nil, "ok")
		c.do("GET", "/", xff("203.0.113.23")).expect(t, 429, nil, "")
		c.do("GET", "/", xff(`"[2001:db8::23%eth0]:443"`)).expect(t, 200, nil, "ok")
		c.do("GET", "/", xff("2001:db8::23")).expect(t, 429, nil, "")
	})
	t.Run("Spoofing/Garbage", func(t *testing.T) {
		// Junk at the right stops the walk at the trusted peer: nobody left
		// of it is believed, whatever they claim.
		l := limiter(t, newStore(t), one, proxy, halt.WithExemptPrivateIPs(false))
		c := start(t, AdapterConfig{Global: l})
		c.do("GET", "/", xff("203.0.113.24, not-an-ip")).expect(t, 200, nil, "ok")
		c.do("GET", "/", xff("203.0.113.25, 0.0.0.0")).expect(t, 429, nil, "")
		c.do("GET", "/", xff("203.0.113.26, "+strings.Repeat("9", 4000))).expect(t, 429, nil, "")
	})
	t.Run("Spoofing/HugeHeader", func(t *testing.T) {
		// 5,000 spoofed entries, then more trusted hops than the resolver
		// walks: answered quickly, and the walk stops at a trusted address
		// instead of believing anything further left. That request cannot
		// be told apart from the proxy: it is limited under the proxy's
		// address, never exempt as private.
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), one, proxy)})
		huge := strings.Repeat("198.51.100.1, ", 5000) + strings.Repeat("127.0.0.1, ", 40) + "127.0.0.1"
		c.do("GET", "/", xff(huge)).expect(t, 200, std(1, 0, 60), "ok")
		c.do("GET", "/", xff(huge)).expect(t, 429, blocked(1, 60), RateLimitBody(60))
		// 10,000 empty entries in front of a client: the walk gives up at
		// the same bound.
		c.do("GET", "/", xff("198.51.100.2"+strings.Repeat(", ", 10000))).expect(t, 429, blocked(1, 60), "")
		c.do("GET", "/", xff("198.51.100.1")).expect(t, 200, std(1, 0, 60), "ok")
	})
	t.Run("Spoofing/ProxyWithoutHeader", func(t *testing.T) {
		// The trusted proxy 127.0.0.1 sends no X-Forwarded-For: limited
		// under its own address, not exempt as private.
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), one, proxy)})
		c.do("GET", "/").expect(t, 200, std(1, 0, 60), "ok")
		c.do("GET", "/").expect(t, 429, blocked(1, 60), RateLimitBody(60))
	})
	t.Run("IPv6Prefix64", func(t *testing.T) {
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), one, proxy)})
		c.do("GET", "/", xff("2001:db8:1:2::1")).expect(t, 200, nil, "ok")
		c.do("GET", "/", xff("2001:db8:1:2:ffff::9")).expect(t, 429, nil, "")
		c.do("GET", "/", xff("2001:db8:1:3::1")).expect(t, 200, nil, "ok")
	})
	t.Run("Stacked", func(t *testing.T) {
		store := newStore(t)
		global := limiter(t, store, halt.Policy{Name: "global", Limit: 10, Window: time.Minute}, proxy)
		auth := limiter(t, store, halt.Policy{Name: "auth", Limit: 2, Window: time.Minute}, proxy)
		c := start(t, AdapterConfig{Global: global, Route: auth})
		// the route's limit is the most restrictive: its headers win
		c.do("POST", "/auth/login", xff("203.0.113.30")).expect(t, 200, std(2, 1, 30), "ok")
		c.do("GET", "/", xff("203.0.113.30")).expect(t, 200, std(10, 8, 12), "ok")
		c.do("POST", "/auth/login", xff("203.0.113.30")).expect(t, 200, std(2, 0, 60), "ok")
		c.do("POST", "/auth/login", xff("203.0.113.30")).expect(t, 429, blocked(2, 30), RateLimitBody(30))
		// The global limit counted the requests that passed every limiter:
		// what it took for the refused login was given back.
		c.do("GET", "/", xff("203.0.113.30")).expect(t, 200, std(10, 6, 24), "ok")
		for i := 0; i < 3; i++ {
			c.do("POST", "/auth/login", xff("203.0.113.30")).expect(t, 429, nil, "")
		}
		c.do("GET", "/", xff("203.0.113.30")).expect(t, 200, std(10, 5, 30), "ok")
	})
	t.Run("Stacked/HandlerCheck", func(t *testing.T) {
		// A handler-level rejection gives back what the middleware took.
		store := newStore(t)
		global := limiter(t, store, halt.Policy{Name: "global", Limit: 10, Window: time.Minute}, proxy)
		handler := limiter(t, store, halt.Policy{Name: "handler", Limit: 4, Window: time.Minute}, proxy)
		c := start(t, AdapterConfig{Global: global, Handler: handler})
		c.do("POST", "/generate", xff("203.0.113.35"), "X-Cost: 3").expect(t, 200, std(4, 0, 45), "generated")
		c.do("POST", "/generate", xff("203.0.113.35"), "X-Cost: 3").expect(t, 429, nil, RateLimitBody(30))
		c.do("GET", "/", xff("203.0.113.35")).expect(t, 200, std(10, 8, 12), "ok")
	})
	t.Run("Stacked/GlobalMoreRestrictive", func(t *testing.T) {
		store := newStore(t)
		global := limiter(t, store, halt.Policy{Name: "global", Limit: 2, Window: time.Minute}, proxy)
		auth := limiter(t, store, halt.Policy{Name: "auth", Limit: 10, Window: time.Minute}, proxy)
		c := start(t, AdapterConfig{Global: global, Route: auth})
		c.do("POST", "/auth/login", xff("203.0.113.31")).expect(t, 200, std(2, 1, 30), "ok")
		c.do("POST", "/auth/login", xff("203.0.113.31")).expect(t, 200, std(2, 0, 60), "ok")
		c.do("POST", "/auth/login", xff("203.0.113.31")).expect(t, 429, blocked(2, 30), "")
	})
	t.Run("Stacked/IETF", func(t *testing.T) {
		store := newStore(t)
		opts := []halt.Option{proxy, halt.WithHeaderStyle(halt.IETF)}
		global := limiter(t, store, halt.Policy{Name: "global", Limit: 10, Window: time.Minute}, opts...)
		auth := limiter(t, store, halt.Policy{Name: "auth", Limit: 2, Window: time.Minute}, opts...)
		c := start(t, AdapterConfig{Global: global, Route: auth})
		r := c.do("POST", "/auth/login", xff("203.0.113.32"))
		want := map[string]string{
			"Ratelimit":        fmt.Sprintf(`"%s";r=9;t=6, "%s";r=1;t=30`, global.Policy().Name, auth.Policy().Name),
			"Ratelimit-Policy": fmt.Sprintf(`"%s";q=10;w=60, "%s";q=2;w=60`, global.Policy().Name, auth.Policy().Name),
		}
		r.expect(t, 200, want, "ok")
	})
	t.Run("HeaderStyles", func(t *testing.T) {
		cases := []struct {
			style halt.HeaderStyle
			want  map[string]string
		}{
			{halt.IETF, map[string]string{"Ratelimit": `"%s";r=4;t=12`, "Ratelimit-Policy": `"%s";q=5;w=60`}},
			{halt.Draft7, map[string]string{"Ratelimit": "limit=5, remaining=4, reset=12", "Ratelimit-Policy": "5;w=60"}},
			{halt.XRateLimit, map[string]string{"X-Ratelimit-Limit": "5", "X-Ratelimit-Remaining": "4",
				"X-Ratelimit-Reset": itoa(Base.Unix() + 12)}},
			{halt.StandardUnixReset, map[string]string{"Ratelimit-Limit": "5", "Ratelimit-Remaining": "4",
				"Ratelimit-Reset": itoa(Base.Unix() + 12)}},
		}
		for _, tc := range cases {
			l := limiter(t, newStore(t), five, proxy, halt.WithHeaderStyle(tc.style))
			c := start(t, AdapterConfig{Global: l})
			want := map[string]string{}
			for k, v := range tc.want {
				if strings.Contains(v, "%s") {
					v = fmt.Sprintf(v, l.Policy().Name)
				}
				want[k] = v
			}
			c.do("GET", "/", xff("203.0.113.33")).expect(t, 200, want, "ok")
		}
		l := limiter(t, newStore(t), one, proxy, halt.WithHeaderStyle(halt.NoHeaders))
		c := start(t, AdapterConfig{Global: l})
		c.do("GET", "/", xff("203.0.113.34")).noRateLimitHeaders(t)
		r := c.do("GET", "/", xff("203.0.113.34"))
		r.expect(t, 429, map[string]string{"Retry-After": "60", "Ratelimit-Limit": ""}, RateLimitBody(60))
	})
	t.Run("CustomCost", func(t *testing.T) {
		p := halt.Policy{Name: "cost", Limit: 10, Window: time.Minute}
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), p, proxy), CostFromHeader: true})
		c.do("GET", "/", xff("203.0.113.40"), "X-Cost: 4").expect(t, 200, std(10, 1, 24), "ok")
		c.do("GET", "/", xff("203.0.113.40"), "X-Cost: 4").expect(t, 200, std(10, 0, 48), "ok")
		c.do("GET", "/", xff("203.0.113.40"), "X-Cost: 4").expect(t, 429, blocked(10, 12), RateLimitBody(12))
		c.do("GET", "/", xff("203.0.113.40")).expect(t, 200, std(10, 1, 54), "ok")
	})
	t.Run("CustomDeny", func(t *testing.T) {
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), one, proxy), CustomDeny: true})
		c.do("GET", "/", xff("203.0.113.41")).expect(t, 200, nil, "ok")
		want := std(1, 0, 60)
		want["Retry-After"] = "60"
		want["X-Denied-By"] = "halttest"
		c.do("GET", "/", xff("203.0.113.41")).expect(t, 429, want, "custom 60")
	})
	t.Run("Skip", func(t *testing.T) {
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), one, proxy), SkipFromHeader: true})
		for i := 0; i < 3; i++ {
			r := c.do("GET", "/", xff("203.0.113.42"), "X-Skip: 1")
			r.expect(t, 200, nil, "ok")
			r.noRateLimitHeaders(t)
		}
		c.do("GET", "/", xff("203.0.113.42")).expect(t, 200, std(1, 0, 60), "ok")
	})
	t.Run("UserKey", func(t *testing.T) {
		p := halt.Policy{Name: "user", Limit: 1, Window: time.Minute, KeyStrategy: halt.KeyUser}
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), p, proxy), UserFromHeader: true})
		c.do("GET", "/", xff("203.0.113.43"), "X-User: alice").expect(t, 200, nil, "ok")
		c.do("GET", "/", xff("203.0.113.44"), "X-User: alice").expect(t, 429, nil, "")
		c.do("GET", "/", xff("203.0.113.43"), "X-User: bob").expect(t, 200, nil, "ok")
		// anonymous: falls back to the client IP
		c.do("GET", "/", xff("203.0.113.45")).expect(t, 200, nil, "ok")
		c.do("GET", "/", xff("203.0.113.45")).expect(t, 429, nil, "")
	})
	t.Run("APIKey", func(t *testing.T) {
		p := halt.Policy{Name: "apikey", Limit: 1, Window: time.Minute, KeyStrategy: halt.KeyAPIKey}
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), p, proxy)})
		c.do("GET", "/", xff("203.0.113.46"), "X-API-Key: k1").expect(t, 200, nil, "ok")
		c.do("GET", "/", xff("203.0.113.47"), "X-API-Key: k1").expect(t, 429, nil, "")
		c.do("GET", "/", xff("203.0.113.47"), "Authorization: Bearer k2").expect(t, 200, nil, "ok")
		c.do("GET", "/", xff("203.0.113.48"), "Authorization: Bearer k2").expect(t, 429, nil, "")
	})
	t.Run("APIKey/OnlyBearer", func(t *testing.T) {
		p := halt.Policy{Name: "bearer", Limit: 1, Window: time.Minute, KeyStrategy: halt.KeyAPIKey}
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), p, proxy, halt.WithMissingKey(halt.MissingKeyDeny))})
		missing := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "Retry-After": ""}
		for _, auth := range []string{"Basic a2V5LUE6c2VjcmV0", "key-A", "Bearerkey-A"} {
			r := c.do("GET", "/", xff("203.0.113.49"), "Authorization: "+auth)
			r.expect(t, 401, missing, MissingKeyBody)
			if r.header.Get("Ratelimit-Limit") != "" {
				t.Fatalf("Authorization %q: rate-limit headers on a missing key: %v", auth, r.header)
			}
		}
		c.do("GET", "/", xff("203.0.113.49"), "Authorization: bearer key-A").expect(t, 200, std(1, 0, 60), "ok")
		c.do("GET", "/", xff("203.0.113.50"), "Authorization: BEARER  key-A").expect(t, 429, blocked(1, 60), "")
		c.do("GET", "/", xff("203.0.113.50"), "X-API-Key: key-A").expect(t, 429, blocked(1, 60), "") // the same key
		c.do("GET", "/", xff("203.0.113.50"), "X-API-Key: key-B").expect(t, 200, std(1, 0, 60), "ok")
	})
	t.Run("PerRoute", func(t *testing.T) {
		p := halt.Policy{Name: "perroute", Limit: 2, Window: time.Minute, PerRoute: true}
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), p, proxy)})
		ip := xff("203.0.113.70")
		c.do("GET", "/items/1", ip).expect(t, 200, std(2, 1, 30), "ok")
		c.do("GET", "/items/2", ip).expect(t, 200, std(2, 0, 60), "ok")
		c.do("GET", "/items/3", ip).expect(t, 429, blocked(2, 30), RateLimitBody(30))
		// another route has a whole budget of its own, and so has another client
		c.do("GET", "/", ip).expect(t, 200, std(2, 1, 30), "ok")
		c.do("GET", "/admin/stats", ip).expect(t, 200, std(2, 1, 30), "ok")
		c.do("GET", "/items/4", xff("203.0.113.71")).expect(t, 200, std(2, 1, 30), "ok")
	})
	t.Run("RoutePattern", func(t *testing.T) {
		// The adapter reports the matched route's pattern, in global and in
		// route-level middleware alike.
		var mu sync.Mutex
		var seen []string
		p := halt.Policy{Name: "route", Limit: 100, Window: time.Minute, KeyStrategy: halt.KeyCustom,
			KeyFunc: func(r halt.Request) (string, bool) {
				mu.Lock()
				seen = append(seen, r.Method()+" "+r.Route())
				mu.Unlock()
				return "k", true
			}}
		store := newStore(t)
		c := start(t, AdapterConfig{Global: limiter(t, store, p, proxy), Route: limiter(t, store, p, proxy)})
		c.do("GET", "/items/42", xff("203.0.113.72")).expect(t, 200, nil, "ok")
		c.do("GET", "/", xff("203.0.113.72")).expect(t, 200, nil, "ok")
		c.do("POST", "/auth/login", xff("203.0.113.72")).expect(t, 200, nil, "ok")
		mu.Lock()
		defer mu.Unlock()
		want := [][]string{
			{"GET /items/{id}", "GET /items/:id"}, {"GET /", "GET /{$}"},
			{"POST /auth/login"}, {"POST /auth/login"},
		}
		if len(seen) != len(want) {
			t.Fatalf("routes seen %q, want %q", seen, want)
		}
		for i, alts := range want {
			if !slices.Contains(alts, seen[i]) {
				t.Fatalf("request %d: route %q, want one of %q (all: %q)", i, seen[i], alts, seen)
			}
		}
	})
	t.Run("StatusEndpoint", func(t *testing.T) {
		store := newStore(t)
		global := limiter(t, store, halt.Policy{Name: "global", Limit: 3, Window: time.Minute}, proxy)
		auth := limiter(t, store, halt.Policy{Name: "auth", Limit: 2, Window: time.Minute}, proxy)
		c := start(t, AdapterConfig{Global: global, Route: auth, Status: true})
		ip := xff("203.0.113.80")
		status := func(g, greset, a, areset int64) {
			t.Helper()
			body := fmt.Sprintf(`{"policies":[{"name":%q,"limit":3,"remaining":%d,"reset":%d},{"name":%q,"limit":2,"remaining":%d,"reset":%d}]}`,
				global.Policy().Name, g, greset, auth.Policy().Name, a, areset)
			r := c.do("GET", "/rate_limit", ip)
			r.expect(t, 200, map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}, body)
			r.noRateLimitHeaders(t)
		}
		status(3, 0, 2, 0)
		status(3, 0, 2, 0) // never counted
		c.do("POST", "/auth/login", ip).expect(t, 200, std(2, 1, 30), "ok")
		status(2, 20, 1, 30)
		c.do("GET", "/", ip).expect(t, 200, std(3, 1, 40), "ok")
		c.do("GET", "/", ip).expect(t, 200, std(3, 0, 60), "ok")
		c.do("GET", "/", ip).expect(t, 429, blocked(3, 20), "")
		status(0, 60, 1, 30) // never limited
	})
	t.Run("HandlerCheck", func(t *testing.T) {
		p := halt.Policy{Name: "handler", Limit: 10, Window: time.Minute}
		global := halt.Policy{Name: "global", Limit: 100, Window: time.Minute, Exemptions: []string{"/generate"}}
		store := newStore(t)
		c := start(t, AdapterConfig{Global: limiter(t, store, global, proxy), Handler: limiter(t, store, p, proxy)})
		ip := xff("203.0.113.73")
		c.do("POST", "/generate", ip, "X-Cost: 4").expect(t, 200, std(10, 1, 24), "generated")
		c.do("POST", "/generate", ip, "X-Cost: 4").expect(t, 200, std(10, 0, 48), "generated")
		c.do("POST", "/generate", ip, "X-Cost: 4").expect(t, 429, blocked(10, 12), RateLimitBody(12))
		// A cost no bucket can hold: refused for good, with no Retry-After.
		want := std(10, 0, 48)
		want["Retry-After"] = ""
		want["Cache-Control"] = "no-store"
		want["Content-Type"] = "application/json"
		c.do("POST", "/generate", ip, "X-Cost: 11").expect(t, 429, want, TooCostlyBody)
		// the trusted proxy itself, with no forwarding header: keyed by its address
		c.do("POST", "/generate", "X-Cost: 4").expect(t, 200, std(10, 1, 24), "generated")
	})
	t.Run("StoreError/FailOpen", func(t *testing.T) {
		c := start(t, AdapterConfig{Global: limiter(t, FailingStore{}, one, proxy)})
		for i := 0; i < 3; i++ {
			r := c.do("GET", "/", xff("203.0.113.50"))
			r.expect(t, 200, nil, "ok")
			r.noRateLimitHeaders(t)
		}
	})
	t.Run("StoreError/FailClosed", func(t *testing.T) {
		l := limiter(t, FailingStore{}, one, proxy, halt.WithFailureMode(halt.FailClosed))
		c := start(t, AdapterConfig{Global: l})
		want := map[string]string{"Retry-After": "1", "Cache-Control": "no-store", "Content-Type": "application/json"}
		c.do("GET", "/", xff("203.0.113.51")).expect(t, 503, want,
			`{"error":"service_unavailable","message":"Rate limiting is temporarily unavailable. Please try again later.","retry_after":1}`)
		l = limiter(t, FailingStore{}, one, proxy, halt.WithFailureMode(halt.FailClosed), halt.WithFailClosedStatus(429))
		c = start(t, AdapterConfig{Global: l})
		c.do("GET", "/", xff("203.0.113.51")).expect(t, 429, want, "")
	})
	t.Run("Concurrent", func(t *testing.T) {
		p := halt.Policy{Name: "conc", Limit: 20, Window: time.Hour}
		c := start(t, AdapterConfig{Global: limiter(t, newStore(t), p, proxy)})
		var mu sync.Mutex
		counts := map[int]int{}
		var wg sync.WaitGroup
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := c.do("GET", "/", xff("203.0.113.60"))
				mu.Lock()
				counts[r.status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if counts[200] != 20 || counts[429] != 44 {
			t.Fatalf("64 concurrent requests: %v, want exactly 20 x 200 and 44 x 429", counts)
		}
	})
}

// OutcomeHandler is GET /outcome's handler for net/http-style harnesses
// (see AdapterConfig.Flow); X-Error answers its code with the body "error".
func OutcomeHandler(cfg AdapterConfig) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := OutcomeOf(r.Header.Get)
		o.Wait(cfg, r.Context().Done())
		switch {
		case o.Panic:
			panic("halttest: the handler panics")
		case o.Error != 0:
			w.WriteHeader(o.Error)
			_, _ = w.Write([]byte("error"))
		default:
			w.WriteHeader(o.Status)
			_, _ = w.Write([]byte("ok"))
		}
	})
}

// SettleHandler is POST /settle's handler for net/http-style harnesses
// (see AdapterConfig.Settle), over the adapter's Reserve.
func SettleHandler(reserve func(w http.ResponseWriter, r *http.Request, l *halt.Limiter, estimate int64) (*halt.Reservation, bool), l *halt.Limiter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cost, _ := strconv.ParseInt(r.Header.Get("X-Cost"), 10, 64)
		res, ok := reserve(w, r, l, cost)
		if !ok {
			return
		}
		actual, _ := strconv.ParseInt(r.Header.Get("X-Actual"), 10, 64)
		if err := res.Settle(actual); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("settled"))
	})
}

// Recover answers a panic of h with 500, as the frameworks' recovery
// middleware do, for net/http-style harnesses.
func Recover(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				w.WriteHeader(http.StatusInternalServerError)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// RunReuseTests checks what an adapter's middleware must keep while it
// reuses per-request state and shares header values across responses:
//   - HeadersOutliveRequest: each response's rate-limit headers stay as set
//     while later requests go through the middleware (a server may send a
//     response's headers only once the middleware has returned), for values
//     below 1024 (shared) and above (formatted for the response);
//   - Allocs: the middleware adds no allocation to an admitted request whose
//     header values are below 1024. It is skipped under the race detector,
//     whose pools drop entries at random.
//
// router builds the adapter's router answering GET / with 200 behind the
// adapter's middleware for l, or, for a nil l, the same router without it:
// the baseline for allocations (where the framework allocates for any
// middleware, give it one that does nothing). The peer is the client.
func RunReuseTests(t *testing.T, newStore func(t *testing.T) halt.Store, router func(l *halt.Limiter) http.Handler) {
	t.Helper()
	limited := func(t *testing.T, n int64, window time.Duration) http.Handler {
		l, err := halt.New(newStore(t), halt.Policy{Name: unique("reuse"), Limit: n, Window: window},
			halt.WithTelemetry(halt.NopTelemetry{}))
		if err != nil {
			t.Fatal(err)
		}
		return router(l)
	}
	t.Run("HeadersOutliveRequest", func(t *testing.T) {
		headersOutliveRequest(t, limited(t, 1000, time.Hour))
		headersOutliveRequest(t, limited(t, 5000, time.Hour))
	})
	t.Run("Allocs", func(t *testing.T) {
		if raceEnabled {
			t.Skip("the race detector's pools drop entries at random")
		}
		// 1,000 per 100µs refills faster than the test asks: every request
		// is admitted, with values below 1024.
		if n := allocsAdded(router(nil), limited(t, 1000, 100*time.Microsecond)); n != 0 {
			t.Fatalf("the middleware adds %v allocations per request, want 0", n)
		}
	})
}

// allocsAdded is how many allocations limited makes per request beyond
// bare's. Both serve GET / from the public peer 203.0.113.7 to a writer
// whose header map is cleared each time, as a server's is new for each
// response.
func allocsAdded(bare, limited http.Handler) float64 {
	return allocsPerRequest(limited) - allocsPerRequest(bare)
}

func allocsPerRequest(h http.Handler) float64 {
	r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
	r.RemoteAddr = "203.0.113.7:40000"
	w := &headerSink{h: make(http.Header)}
	h.ServeHTTP(w, r) // the first request sets up what lasts (the key)
	return testing.AllocsPerRun(200, func() {
		clear(w.h)
		h.ServeHTTP(w, r)
	})
}

// headerSink is an http.ResponseWriter that keeps the headers and drops
// the body.
type headerSink struct {
	h    http.Header
	code int
}

func (w *headerSink) Header() http.Header         { return w.h }
func (w *headerSink) WriteHeader(code int)        { w.code = code }
func (w *headerSink) Write(b []byte) (int, error) { return len(b), nil }

// headersOutliveRequest serves 30 requests from one client through
// limited, which admits them all without refilling a token meanwhile, and
// checks that each response's Remaining is still one less than the last's
// once all have run.
func headersOutliveRequest(t *testing.T, limited http.Handler) {
	t.Helper()
	var kept []http.Header
	for range 30 {
		r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
		r.RemoteAddr = "203.0.113.8:40000"
		w := httptest.NewRecorder()
		limited.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		kept = append(kept, w.Header())
	}
	for i := 1; i < len(kept); i++ {
		a, err1 := strconv.Atoi(kept[i-1].Get("Ratelimit-Remaining"))
		b, err2 := strconv.Atoi(kept[i].Get("Ratelimit-Remaining"))
		if err1 != nil || err2 != nil || b != a-1 {
			t.Fatalf("responses %d and %d: Remaining %q then %q, want one less each time",
				i-1, i, kept[i-1].Get("Ratelimit-Remaining"), kept[i].Get("Ratelimit-Remaining"))
		}
	}
}

// StackSurvivesPanics checks the request stack that net/http-style
// middleware share to give back what a later limiter refused (halthttp,
// haltchi): after more handlers have panicked (as http.ErrAbortHandler
// does) than the stack has room for requests in flight, a request that an
// inner limiter refuses is still given back by the outer one. mw wraps
// next with the adapter's middleware for l.
func StackSurvivesPanics(t *testing.T, newStore func(t *testing.T) halt.Store, mw func(l *halt.Limiter, next http.Handler) http.Handler) {
	t.Helper()
	const panics = 2_100 // the stack tracks 2,048 requests in flight
	clock := NewClock(Base)
	build := func(name string, n int64) *halt.Limiter {
		l, err := halt.New(newStore(t), halt.Policy{Name: unique(name), Limit: n, Window: time.Hour},
			halt.WithClock(clock), halt.WithTelemetry(halt.NopTelemetry{}))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	outer, inner := build("outer", 10_000), build("inner", 1)
	innerH := mw(inner, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	h := mw(outer, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Panic") != "" {
			panic(http.ErrAbortHandler)
		}
		innerH.ServeHTTP(w, r)
	}))
	serve := func(panicking bool) (status int) {
		r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
		r.RemoteAddr = "203.0.113.20:40000"
		if panicking {
			r.Header.Set("X-Panic", "1")
		}
		w := httptest.NewRecorder()
		defer func() {
			if p := recover(); p != nil {
				if err, ok := p.(error); !ok || !errors.Is(err, http.ErrAbortHandler) {
					panic(p)
				}
			}
		}()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for range panics {
		serve(true)
	}
	if got := serve(false); got != http.StatusOK {
		t.Fatalf("first request after the panics: %d, want 200", got)
	}
	if got := serve(false); got != http.StatusTooManyRequests {
		t.Fatalf("second request after the panics: %d, want 429 from the inner limiter", got)
	}
	// The outer limiter counted the panicking requests and the admitted
	// one; the refused one it gave back.
	d, err := outer.Peek(context.Background(), &FakeRequest{Ctx: context.Background(), URLPath: "/", Peer: "203.0.113.20:40000"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(10_000 - panics - 1); d.Remaining != want {
		t.Fatalf("outer limiter: %d remaining, want %d (the refused request not given back)", d.Remaining, want)
	}
}
