package halt_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

func newMapStore() *halttest.MapStore { return halttest.NewMapStore() }

func TestStoreSuiteOnMapStore(t *testing.T) {
	halttest.RunStoreTests(t, func(*testing.T) halt.Store { return newMapStore() })
}

func req(peer string, headers ...string) *halttest.FakeRequest {
	h := http.Header{}
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ":")
		h.Add(k, strings.TrimSpace(v))
	}
	return &halttest.FakeRequest{Peer: peer, Headers: h}
}

func newLimiter(t *testing.T, p halt.Policy, opts ...halt.Option) *halt.Limiter {
	t.Helper()
	opts = append([]halt.Option{halt.WithClock(halttest.NewClock(halttest.Base))}, opts...)
	l, err := halt.New(newMapStore(), p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestSeedExample is the Python SDK's "Testing" example in Go: limit 5 per
// minute, five pass, the sixth is blocked with a positive retry-after.
func TestSeedExample(t *testing.T) {
	policy := halt.Policy{Name: "test", Limit: 5, Window: 60 * time.Second, Algorithm: halt.TokenBucket}
	limiter, err := halt.New(newMapStore(), policy)
	if err != nil {
		t.Fatal(err)
	}
	request := req("203.0.113.1:4711") // a public client: private IPs are exempt
	for i := 0; i < 5; i++ {
		d, err := limiter.Check(context.Background(), request)
		if err != nil || !d.Allowed {
			t.Fatalf("request %d: %+v, %v", i+1, d, err)
		}
	}
	d, err := limiter.Check(context.Background(), request)
	if err != nil || d.Allowed || d.RetryAfter <= 0 {
		t.Fatalf("6th request: %+v, %v", d, err)
	}
}

func TestValidate(t *testing.T) {
	ok := halt.Policy{Name: "p", Limit: 10, Window: time.Second}
	cases := []struct {
		mod   func(*halt.Policy)
		field string
	}{
		{func(p *halt.Policy) { p.Name = "" }, "Name"},
		{func(p *halt.Policy) { p.Name = strings.Repeat("x", 65) }, "Name"},
		{func(p *halt.Policy) { p.Name = "bad\nname" }, "Name"},
		{func(p *halt.Policy) { p.Limit = 0 }, "Limit"},
		{func(p *halt.Policy) { p.Limit = -1 }, "Limit"},
		{func(p *halt.Policy) { p.Window = 0 }, "Window"},
		{func(p *halt.Policy) { p.Window = -time.Second }, "Window"},
		{func(p *halt.Policy) { p.Burst = 5 }, "Burst"},
		{func(p *halt.Policy) { p.Burst = -1 }, "Burst"},
		{func(p *halt.Policy) { p.Algorithm = halt.FixedWindow; p.Burst = 20 }, "Burst"},
		{func(p *halt.Policy) { p.Algorithm = 9 }, "Algorithm"},
		{func(p *halt.Policy) { p.KeyStrategy = 9 }, "KeyStrategy"},
		{func(p *halt.Policy) { p.KeyStrategy = halt.KeyCustom }, "KeyFunc"},
		{func(p *halt.Policy) { p.Cost = -1 }, "Cost"},
		{func(p *halt.Policy) { p.Cost = 11 }, "Cost"},
		{func(p *halt.Policy) { p.BlockDuration = -1 }, "BlockDuration"},
		{func(p *halt.Policy) { p.Precision = -1 }, "Precision"},
		{func(p *halt.Policy) { p.Algorithm = halt.SlidingWindow; p.Precision = 7 }, "Precision"},
		{func(p *halt.Policy) { p.Exemptions = []string{"not an ip"} }, "Exemptions"},
		{func(p *halt.Policy) { p.Exemptions = []string{""} }, "Exemptions"},
		{func(p *halt.Policy) { p.Exemptions = []string{"10.0.0.0/99"} }, "Exemptions"},
	}
	for _, c := range cases {
		p := ok
		c.mod(&p)
		err := p.Validate()
		var pe *halt.PolicyError
		if !errors.As(err, &pe) || pe.Field != c.field {
			t.Errorf("%+v: got %v, want a PolicyError on %s", p, err, c.field)
			continue
		}
		if _, err := halt.New(newMapStore(), p); err == nil {
			t.Errorf("New accepted %+v", p)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := halt.New(nil, ok); err == nil {
		t.Fatal("New accepted a nil store")
	}
	for _, o := range []halt.Option{
		halt.WithTrustedProxies("10.0.0.0/33"), halt.WithTrustedProxies("proxy.internal"),
		halt.WithIPv6Prefix(8), halt.WithHealthPaths("health"), halt.WithUserKey(nil),
		halt.WithFailClosedStatus(500), halt.WithFailureMode(7), halt.WithMissingKey(9), halt.WithIPSource(9),
	} {
		if _, err := halt.New(newMapStore(), ok, o); err == nil {
			t.Errorf("New accepted a bad option %#v", o)
		}
	}
}

func TestClientIP(t *testing.T) {
	l := newLimiter(t, halt.Policy{Name: "ip", Limit: 1, Window: time.Minute},
		halt.WithTrustedProxies("10.0.0.0/8", "2001:db8:ffff::1"))
	cases := []struct {
		r    *halttest.FakeRequest
		want string
	}{
		// untrusted public peer: headers ignored
		{req("198.51.100.9:1234", "X-Forwarded-For: 10.0.0.1"), "198.51.100.9"},
		{req("198.51.100.9:1234", "X-Forwarded-For: 203.0.113.1"), "198.51.100.9"},
		// trusted peer: rightmost untrusted
		{req("10.1.1.1:80", "X-Forwarded-For: 1.1.1.1, 203.0.113.2, 10.2.2.2"), "203.0.113.2"},
		{req("10.1.1.1:80", "X-Forwarded-For: 1.1.1.1", "X-Forwarded-For: 203.0.113.3"), "203.0.113.3"},
		{req("10.1.1.1:80", "X-Forwarded-For: ::ffff:203.0.113.4"), "203.0.113.4"},
		{req("[::ffff:10.1.1.1]:80", "X-Forwarded-For: 203.0.113.5:8080"), "203.0.113.5"},
		{req("[2001:db8:ffff::1]:80", "X-Forwarded-For: [2001:db8::5%eth0]:1"), "2001:db8::5"},
		{req("10.1.1.1:80", "X-Forwarded-For: 203.0.113.6, junk"), "10.1.1.1"},
		{req("10.1.1.1:80", "X-Forwarded-For: 203.0.113.6, 10.0.0.9, ::"), "10.1.1.1"},
		{req("10.1.1.1:80", "X-Forwarded-For: 203.0.113.7, junk, 10.3.3.3"), "10.3.3.3"},
		{req("10.1.1.1:80", "X-Forwarded-For: , ,203.0.113.8,,"), "203.0.113.8"},
		{req("10.1.1.1:80"), "10.1.1.1"},
		{req("10.1.1.1:80", "X-Forwarded-For: 10.9.9.9"), "10.9.9.9"},
		{req("10.1.1.1:80", "X-Real-IP: 203.0.113.9"), "10.1.1.1"},
		{req("[fe80::1%eth0]:80"), "fe80::1"},
		{req("203.0.113.10"), "203.0.113.10"},
	}
	for _, c := range cases {
		got, ok := l.ClientIP(c.r)
		if !ok || got.String() != c.want {
			t.Errorf("peer %s %v: got %v %v, want %s", c.r.Peer, c.r.Headers, got, ok, c.want)
		}
	}
	unix := newLimiter(t, halt.Policy{Name: "unix", Limit: 1, Window: time.Minute},
		halt.WithTrustedProxies("10.0.0.0/8"), halt.WithTrustUnixSocket())
	for _, peer := range []string{"", "@", "unix:/tmp/sock", "0.0.0.0:80", "[::]:1"} {
		if a, ok := l.ClientIP(req(peer)); ok {
			t.Errorf("peer %q resolved to %v", peer, a)
		}
		// a unix-socket peer is trusted only when declared so
		if a, ok := l.ClientIP(req(peer, "X-Forwarded-For: 203.0.113.12")); ok {
			t.Errorf("peer %q with X-Forwarded-For, unix sockets not trusted: got %v", peer, a)
		}
		if a, ok := unix.ClientIP(req(peer, "X-Forwarded-For: 203.0.113.12")); !ok || a.String() != "203.0.113.12" {
			t.Errorf("peer %q with X-Forwarded-For, WithTrustUnixSocket: got %v %v", peer, a, ok)
		}
	}
	direct := newLimiter(t, halt.Policy{Name: "direct", Limit: 1, Window: time.Minute})
	if a, ok := direct.ClientIP(req("@", "X-Forwarded-For: 203.0.113.12")); ok {
		t.Errorf("no trusted proxies: a unix-socket peer's header was believed: %v", a)
	}
	if got := direct.Key(req("@")); got != "halt:direct:{ip:unknown}" {
		t.Errorf("unknown peer key: %q", got)
	}
	fwd := newLimiter(t, halt.Policy{Name: "fwd", Limit: 1, Window: time.Minute},
		halt.WithTrustedProxies("10.0.0.0/8"), halt.WithIPSource(halt.SourceForwarded))
	for h, want := range map[string]string{
		`for=192.0.2.60;proto=http;by=203.0.113.43`:      "192.0.2.60",
		`for=192.0.2.43, For="[2001:db8:cafe::17]:4711"`: "2001:db8:cafe::17",
		`for=192.0.2.43, for=unknown`:                    "10.1.1.1",
		`for=192.0.2.43, for=10.0.0.3`:                   "192.0.2.43",
		`proto=https`:                                    "10.1.1.1",
	} {
		got, _ := fwd.ClientIP(req("10.1.1.1:80", "Forwarded: "+h))
		if got.String() != want {
			t.Errorf("Forwarded: %s: got %v, want %s", h, got, want)
		}
	}
	real := newLimiter(t, halt.Policy{Name: "real", Limit: 1, Window: time.Minute},
		halt.WithTrustedProxies("10.0.0.0/8"), halt.WithIPSource(halt.SourceXRealIP))
	if got, _ := real.ClientIP(req("10.1.1.1:80", "X-Real-IP: 203.0.113.11")); got.String() != "203.0.113.11" {
		t.Errorf("X-Real-IP from a trusted proxy: got %v", got)
	}
	if got, _ := real.ClientIP(req("198.51.100.1:80", "X-Real-IP: 203.0.113.11")); got.String() != "198.51.100.1" {
		t.Errorf("X-Real-IP from an untrusted peer: got %v", got)
	}
}

func TestKeys(t *testing.T) {
	user := halt.Policy{Name: "u", Limit: 1, Window: time.Minute, KeyStrategy: halt.KeyUser}
	api := halt.Policy{Name: "k", Limit: 1, Window: time.Minute, KeyStrategy: halt.KeyAPIKey}
	comp := halt.Policy{Name: "c", Limit: 1, Window: time.Minute, KeyStrategy: halt.KeyComposite}
	custom := halt.Policy{Name: "x", Limit: 1, Window: time.Minute, KeyStrategy: halt.KeyCustom,
		KeyFunc: func(r halt.Request) (string, bool) { v := r.Header("X-Org"); return v, v != "" }}
	withUser := func(r *halttest.FakeRequest, id any) *halttest.FakeRequest {
		r.Values = map[any]any{"user_id": id}
		return r
	}
	type stringer struct{ fmtStringer }
	cases := []struct {
		p    halt.Policy
		r    *halttest.FakeRequest
		want string
	}{
		{user, withUser(req("203.0.113.1:1"), "alice"), "halt:u:{user:alice}"},
		{user, withUser(req("203.0.113.1:1"), 42), "halt:u:{user:42}"},
		{user, withUser(req("203.0.113.1:1"), int64(-7)), "halt:u:{user:-7}"},
		{user, withUser(req("203.0.113.1:1"), uint64(7)), "halt:u:{user:7}"},
		{user, withUser(req("203.0.113.1:1"), stringer{fmtStringer{"s-1"}}), "halt:u:{user:s-1}"},
		{user, withUser(req("203.0.113.1:1"), ""), "halt:u:{ip:203.0.113.1}"},
		{user, withUser(req("203.0.113.1:1"), 3.5), "halt:u:{ip:203.0.113.1}"},
		{user, req("203.0.113.1:1"), "halt:u:{ip:203.0.113.1}"},
		{user, withUser(req("203.0.113.1:1"), strings.Repeat("a", 200)), "halt:u:{user:h:"},
		{api, req("203.0.113.1:1", "X-API-Key: secret"), "halt:k:{key:2bb80d537b1da3e38bd30361aa855686}"},
		{api, req("203.0.113.1:1", "Authorization: Bearer secret"), "halt:k:{key:2bb80d537b1da3e38bd30361aa855686}"},
		{api, req("203.0.113.1:1", "Authorization: bearer  secret "), "halt:k:{key:2bb80d537b1da3e38bd30361aa855686}"},
		{api, req("203.0.113.1:1"), "halt:k:{ip:203.0.113.1}"},
		// only X-API-Key and the Bearer scheme carry API keys
		{api, req("203.0.113.1:1", "Authorization: Basic c2VjcmV0OnB3"), "halt:k:{ip:203.0.113.1}"},
		{api, req("203.0.113.1:1", "Authorization: secret"), "halt:k:{ip:203.0.113.1}"},
		{api, req("203.0.113.1:1", "Authorization: Bearer"), "halt:k:{ip:203.0.113.1}"},
		// braces and '%' in key parts are escaped: the key keeps one hash tag
		{user, withUser(req("203.0.113.1:1"), "{x}%y"), "halt:u:{user:%7Bx%7D%25y}"},
		{comp, withUser(req("203.0.113.1:1"), "bob"), "halt:c:{user:bob|ip:203.0.113.1}"},
		{comp, req("203.0.113.1:1"), "halt:c:{ip:203.0.113.1}"},
		{custom, req("203.0.113.1:1", "X-Org: acme"), "halt:x:{custom:acme}"},
		{custom, req("203.0.113.1:1"), "halt:x:{ip:203.0.113.1}"},
		{user, withUser(req("[2001:db8:1:2:3:4:5:6]:1"), nil), "halt:u:{ip:2001:db8:1:2::/64}"},
	}
	for _, c := range cases {
		l := newLimiter(t, c.p)
		got := l.Key(c.r)
		hashed := strings.HasSuffix(c.want, "h:") && strings.HasPrefix(got, c.want) && len(got) == len(c.want)+33
		if got != c.want && !hashed {
			t.Errorf("%s %v %v: key %q, want %q", c.p.KeyStrategy, c.r.Headers, c.r.Values, got, c.want)
		}
		if strings.Contains(got, "secret") {
			t.Errorf("a credential reached the key: %q", got)
		}
	}
	l := newLimiter(t, user, halt.WithMissingKey(halt.MissingKeySkip))
	if d, _ := l.Check(context.Background(), req("203.0.113.1:1")); !d.Allowed || d.Reason != halt.ReasonSkipped {
		t.Errorf("MissingKeySkip: %+v", d)
	}
	l = newLimiter(t, user, halt.WithMissingKey(halt.MissingKeyDeny))
	d, _ := l.Check(context.Background(), req("203.0.113.1:1"))
	if d.Allowed || d.Reason != halt.ReasonMissingKey || d.RetryAfter != 0 || d.RetrySeconds() != 0 {
		t.Errorf("MissingKeyDeny: %+v", d)
	}
	if status, body := l.Rejection(&d); status != 401 || string(body) != halttest.MissingKeyBody {
		t.Errorf("MissingKeyDeny rejection: %d %s", status, body)
	}
	l = newLimiter(t, user, halt.WithMissingKey(halt.MissingKeyDeny), halt.WithRejectStatus(halt.ReasonMissingKey, 403))
	d, _ = l.Check(context.Background(), req("203.0.113.1:1"))
	if status, _ := l.Rejection(&d); status != 403 {
		t.Errorf("WithRejectStatus(ReasonMissingKey, 403): %d", status)
	}
	l = newLimiter(t, user, halt.WithUserKey("uid"))
	if got := l.Key(withUser(req("203.0.113.1:1"), "alice")); got != "halt:u:{ip:203.0.113.1}" {
		t.Errorf("WithUserKey: %q", got)
	}
}

type fmtStringer struct{ s string }

func (f fmtStringer) String() string { return f.s }

func TestExemptions(t *testing.T) {
	p := halt.Policy{Name: "ex", Limit: 1, Window: time.Minute,
		Exemptions: []string{"/admin/", "198.51.100.5", "2001:db8::/32", "::ffff:192.0.2.0/120"}}
	l := newLimiter(t, p, halt.WithTrustedProxies("10.0.0.0/8"))
	exempt := []*halttest.FakeRequest{
		{Peer: "203.0.113.1:1", URLPath: "/health"},
		{Peer: "203.0.113.1:1", URLPath: "/healthz"},
		{Peer: "203.0.113.1:1", URLPath: "/admin"},
		{Peer: "203.0.113.1:1", URLPath: "/admin/users"},
		{Peer: "198.51.100.5:1"},
		{Peer: "[2001:db8:5::1]:1"},
		{Peer: "192.0.2.9:1"},
		{Peer: "127.0.0.1:1"},
		{Peer: "[::1]:1"},
		{Peer: "192.168.1.1:1"},
		{Peer: "[fd00::1]:1"},
		{Peer: "169.254.1.1:1"},
		{Peer: "10.1.1.1:1", Headers: http.Header{"X-Forwarded-For": {"172.16.0.1"}}},
	}
	for _, r := range exempt {
		d, err := l.Check(context.Background(), r)
		if err != nil || !d.Allowed || d.Reason != halt.ReasonExempt {
			t.Errorf("%s %s: %+v %v, want exempt", r.Peer, r.URLPath, d, err)
		}
	}
	limited := []*halttest.FakeRequest{
		{Peer: "203.0.113.1:1", URLPath: "/administrator"},
		{Peer: "203.0.113.2:1", URLPath: "/healthcheck"},
		{Peer: "100.64.0.1:1"},
		{Peer: "[64:ff9b::1]:1"},
		{Peer: "203.0.113.3:1", Headers: http.Header{"X-Forwarded-For": {"10.0.0.1"}}},
	}
	for _, r := range limited {
		d, _ := l.Check(context.Background(), r)
		if d.Reason == halt.ReasonExempt {
			t.Errorf("%s %s %v: exempt, want limited", r.Peer, r.URLPath, r.Headers)
		}
	}
	off := newLimiter(t, halt.Policy{Name: "off", Limit: 1, Window: time.Minute},
		halt.WithExemptPrivateIPs(false), halt.WithHealthPaths("/status"))
	for path, exempt := range map[string]bool{"/health": false, "/status": true, "/status/db": true} {
		d, _ := off.Check(context.Background(), &halttest.FakeRequest{Peer: "127.0.0.1:1", URLPath: path})
		if (d.Reason == halt.ReasonExempt) != exempt {
			t.Errorf("%s: %+v", path, d)
		}
	}
}

// TestUntrustedProxyWarning: a private peer sending forwarding headers with
// no trusted proxies configured is reported once, to the log and telemetry.
func TestUntrustedProxyWarning(t *testing.T) {
	var logs bytes.Buffer
	tel := &recorder{}
	l := newLimiter(t, halt.Policy{Name: "w", Limit: 1, Window: time.Minute},
		halt.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), halt.WithTelemetry(tel))
	for i := 0; i < 3; i++ {
		_, _ = l.Check(context.Background(), req("10.0.0.7:1", "X-Forwarded-For: 203.0.113.1"))
	}
	_, _ = l.Check(context.Background(), req("10.0.0.7:1"))
	if n := strings.Count(logs.String(), "no trusted proxies"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs.String())
	}
	if len(tel.notices) != 2 || tel.notices[0].Kind != halt.NoticeUntrustedProxy || tel.notices[1].Kind != halt.NoticePrivateExempt {
		t.Fatalf("notices %+v", tel.notices)
	}
	// with trusted proxies configured nothing is reported
	logs.Reset()
	l = newLimiter(t, halt.Policy{Name: "w", Limit: 1, Window: time.Minute},
		halt.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), halt.WithTrustedProxies("10.9.0.0/16"))
	_, _ = l.Check(context.Background(), req("10.0.0.7:1", "X-Forwarded-For: 203.0.113.1"))
	if strings.Contains(logs.String(), "no trusted proxies") || strings.Count(logs.String(), "kind=private_exempt") != 1 {
		t.Fatalf("unexpected log: %s", logs.String())
	}
}

type recorder struct {
	halt.NopTelemetry
	mu                       sync.Mutex
	checks, allowed, blocked int
	errs                     []error
	notices                  []halt.Notice
	keys                     []string
}

func (r *recorder) OnCheck(_ context.Context, e halt.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks++
	r.keys = append(r.keys, e.Key())
}
func (r *recorder) OnAllowed(context.Context, halt.Event) { r.mu.Lock(); r.allowed++; r.mu.Unlock() }
func (r *recorder) OnBlocked(context.Context, halt.Event) { r.mu.Lock(); r.blocked++; r.mu.Unlock() }
func (r *recorder) OnError(_ context.Context, _ halt.Event, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}
func (r *recorder) OnNotice(_ context.Context, n halt.Notice) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, n)
}

func TestTelemetryAndFailureModes(t *testing.T) {
	tel := &recorder{}
	l := newLimiter(t, halt.Policy{Name: "t", Limit: 1, Window: time.Minute}, halt.WithTelemetry(tel))
	for i := 0; i < 3; i++ {
		_, _ = l.Check(context.Background(), req("203.0.113.1:1"))
	}
	if tel.checks != 3 || tel.allowed != 1 || tel.blocked != 2 || tel.keys[0] != "ip:203.0.113.1" {
		t.Fatalf("telemetry %+v", tel)
	}
	for _, mode := range []halt.FailureMode{halt.FailOpen, halt.FailClosed} {
		tel := &recorder{}
		l, err := halt.New(halttest.FailingStore{}, halt.Policy{Name: "f", Limit: 1, Window: time.Minute},
			halt.WithFailureMode(mode), halt.WithTelemetry(tel))
		if err != nil {
			t.Fatal(err)
		}
		d, err := l.Check(context.Background(), req("203.0.113.1:1"))
		if !errors.Is(err, halt.ErrStoreUnavailable) || !errors.Is(err, halttest.ErrBroken) {
			t.Fatalf("%v: error %v", mode, err)
		}
		if d.Allowed != (mode == halt.FailOpen) || d.Reason != halt.ReasonStoreError || len(tel.errs) != 1 {
			t.Fatalf("%v: %+v, telemetry errors %v", mode, d, tel.errs)
		}
	}
}

func TestCheckOptionsAndResolver(t *testing.T) {
	l := newLimiter(t, halt.Policy{Name: "o", Limit: 10, Window: time.Minute})
	r := req("203.0.113.1:1")
	d, _ := l.Check(context.Background(), r, halt.WithCost(4))
	if d.Remaining != 1 { // 6 left, 1 more request of cost 4
		t.Fatalf("cost 4: %+v", d)
	}
	d, _ = l.Check(context.Background(), r, halt.WithCost(11))
	if d.Allowed || d.Reason != halt.ReasonCostExceedsCapacity || d.RetrySeconds() != 0 {
		t.Fatalf("cost 11 of 10: %+v", d)
	}
	if status, body := l.Rejection(&d); status != 429 || string(body) != halttest.TooCostlyBody {
		t.Fatalf("cost 11 of 10: rejection %d %s", status, body)
	}
	d, _ = l.Check(context.Background(), r, halt.WithPolicy(halt.Policy{Name: "other", Limit: 3, Window: time.Minute}))
	if d.Policy != "other" || d.Limit != 3 || d.Remaining != 2 {
		t.Fatalf("policy override: %+v", d)
	}
	_, err := l.Check(context.Background(), r, halt.WithPolicy(halt.Policy{Name: "bad"}))
	var pe *halt.PolicyError
	if !errors.As(err, &pe) {
		t.Fatalf("invalid override: %v", err)
	}
	// plan resolver: the seed's dynamic plan policies
	plans := map[string]halt.Policy{
		"free": {Name: "free", Limit: 1, Window: time.Hour, KeyStrategy: halt.KeyUser},
		"pro":  {Name: "pro", Limit: 3, Window: time.Hour, KeyStrategy: halt.KeyUser},
	}
	rl := newLimiter(t, plans["free"], halt.WithPolicyResolver(func(r halt.Request) halt.Policy {
		if plan, ok := r.Value("plan").(string); ok {
			return plans[plan]
		}
		return plans["free"]
	}))
	pro := &halttest.FakeRequest{Peer: "203.0.113.1:1", Values: map[any]any{"user_id": "u1", "plan": "pro"}}
	for i := 0; i < 3; i++ {
		if d, err := rl.Check(context.Background(), pro); !d.Allowed || d.Policy != "pro" {
			t.Fatalf("pro #%d: %+v %v", i, d, err)
		}
	}
	if d, _ := rl.Check(context.Background(), pro); d.Allowed {
		t.Fatalf("pro #4 allowed")
	}
	if got := rl.Key(pro); got != "halt:pro:{user:u1}" {
		t.Fatalf("Key: %q", got)
	}
}

func TestCooldownThroughLimiter(t *testing.T) {
	clock := halttest.NewClock(halttest.Base)
	l, _ := halt.New(newMapStore(), halt.Policy{Name: "auth", Limit: 5, Window: time.Minute, Burst: 10,
		BlockDuration: 5 * time.Minute}, halt.WithClock(clock))
	r := req("203.0.113.1:1")
	for i := 0; i < 10; i++ {
		if d, _ := l.Check(context.Background(), r); !d.Allowed {
			t.Fatalf("#%d blocked", i)
		}
	}
	d, _ := l.Check(context.Background(), r)
	if d.Allowed || d.Reason != halt.ReasonCooldown || d.RetrySeconds() != 300 || d.ResetSeconds() != 300 {
		t.Fatalf("11th: %+v", d)
	}
	clock.Advance(2 * time.Minute)
	if d, _ = l.Check(context.Background(), r); d.Allowed || d.RetrySeconds() != 180 {
		t.Fatalf("in cooldown: %+v", d)
	}
	clock.Advance(3 * time.Minute)
	if d, _ = l.Check(context.Background(), r); !d.Allowed || d.Remaining != 9 {
		t.Fatalf("after cooldown: %+v", d)
	}
}

func TestHeaderStyles(t *testing.T) {
	for name, want := range map[string]halt.HeaderStyle{
		"": halt.Standard, "standard": halt.Standard, "IETF": halt.IETF, "draft7": halt.Draft7,
		"xratelimit": halt.XRateLimit, "none": halt.NoHeaders, "standard-unix": halt.StandardUnixReset,
	} {
		if got, ok := halt.ParseHeaderStyle(name); !ok || got != want {
			t.Errorf("%q: %v", name, got)
		}
	}
	if _, ok := halt.ParseHeaderStyle("draft-99"); ok {
		t.Error("unknown style accepted")
	}
	d := halt.Decision{Allowed: false, RetryAfter: 1500 * time.Millisecond, ResetAfter: time.Minute}
	if d.RetrySeconds() != 2 || d.ResetSeconds() != 2 {
		t.Errorf("rounding: %d %d", d.RetrySeconds(), d.ResetSeconds())
	}
	d = halt.Decision{Allowed: false, RetryAfter: time.Nanosecond}
	if d.RetrySeconds() != 1 {
		t.Errorf("Retry-After below 1: %d", d.RetrySeconds())
	}
	d = halt.Decision{Allowed: true, ResetAfter: 0}
	if d.RetrySeconds() != 0 || d.ResetSeconds() != 0 {
		t.Errorf("allowed: %d %d", d.RetrySeconds(), d.ResetSeconds())
	}
	// a policy name with quotes is escaped as an RFC 9651 string
	l := newLimiter(t, halt.Policy{Name: `a"b\c`, Limit: 5, Window: 90 * time.Second})
	dec, _ := l.Check(context.Background(), req("203.0.113.1:1"))
	h := http.Header{}
	halt.IETF.Write(h, dec)
	if got := h.Get("Ratelimit-Policy"); got != `"a\"b\\c";q=5;w=90` {
		t.Errorf("IETF policy: %s", got)
	}
}

// TestHeaderAllocsPlainHeader: a writer that takes no shared value slices
// (a plain http.Header) gets each policy's own limit and draft 7 policy
// as strings made once, per policy: only the values that change per
// request allocate (a string for a number of 1024 or more, and each
// header's value slice).
func TestHeaderAllocsPlainHeader(t *testing.T) {
	l := newLimiter(t, halt.Policy{Name: "plain", Limit: 5000, Window: time.Hour})
	d, err := l.Check(context.Background(), req("203.0.113.1:1"))
	if err != nil || !d.Allowed {
		t.Fatalf("%+v %v", d, err)
	}
	h := http.Header{}
	for _, c := range []struct {
		style halt.HeaderStyle
		want  float64
	}{
		// Remaining 4999: its string and slice; Reset and the limit: a slice each.
		{halt.Standard, 4},
		// Draft 7: the RateLimit dictionary's string and slice, the policy's slice.
		{halt.Draft7, 3},
	} {
		if n := testing.AllocsPerRun(100, func() {
			clear(h)
			c.style.Write(h, d)
		}); n != c.want {
			t.Errorf("%T: %v allocations, want %v", c.style, n, c.want)
		}
	}
	if h.Get("Ratelimit-Policy") != "5000;w=3600" {
		t.Errorf("draft 7 policy %q", h.Get("Ratelimit-Policy"))
	}
}

// TestSetIntHeaderNil: nil headers, untyped or typed, are left unwritten
// rather than panicking; a plain http.Header gets the decimal form.
func TestSetIntHeaderNil(t *testing.T) {
	halt.SetIntHeader(nil, "Retry-After", 3)
	var h http.Header
	halt.SetIntHeader(h, "Retry-After", 3)
	h = http.Header{}
	halt.SetIntHeader(h, "Retry-After", 3)
	halt.SetIntHeader(h, "X-Big", 1<<40)
	if h.Get("Retry-After") != "3" || h.Get("X-Big") != "1099511627776" {
		t.Fatalf("%v", h)
	}
}
