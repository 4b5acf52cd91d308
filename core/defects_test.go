package halt_test

// Regression tests for the defects the Core v2 review found (issue
// "Core v2", defects 1 to 12), one test each, named after the defect.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// Defect 1: the resolver's cache compared only the number of exemptions.
func TestResolverCacheNotStale(t *testing.T) {
	exempt := "/a"
	l := newLimiter(t, halt.Policy{Name: "default", Limit: 1, Window: time.Minute},
		halt.WithPolicyResolver(func(halt.Request) halt.Policy {
			return halt.Policy{Name: "plan", Limit: 1, Window: time.Minute, Exemptions: []string{exempt}}
		}))
	at := func(path string) halt.Decision {
		r := req("203.0.113.1:1")
		r.URLPath = path
		d, err := l.Check(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := at("/a"); d.Reason != halt.ReasonExempt {
		t.Fatalf("/a under exemption /a: %+v", d)
	}
	exempt = "/b"
	if d := at("/b"); d.Reason != halt.ReasonExempt {
		t.Fatalf("/b after the exemption became /b: %+v", d)
	}
	if d := at("/a"); d.Reason == halt.ReasonExempt {
		t.Fatalf("/a still exempt after the exemption became /b: %+v", d)
	}
}

// Defect 1: a resolver that builds names from request data must not grow
// the cache forever: 1,000,000 distinct names add less than 64 MB of heap.
func TestResolverCacheBounded(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	names := 0
	l, err := halt.New(nopStore{}, halt.Policy{Name: "default", Limit: 1, Window: time.Minute},
		halt.WithPolicyResolver(func(halt.Request) halt.Policy {
			names++
			return halt.Policy{Name: "tenant-" + strconv.Itoa(names), Limit: 1, Window: time.Minute,
				Exemptions: []string{"/internal"}}
		}))
	if err != nil {
		t.Fatal(err)
	}
	r := req("203.0.113.1:1")
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for i := 0; i < n; i++ {
		_, _ = l.Check(context.Background(), r)
	}
	after := heap()
	if grown := int64(after) - int64(before); grown > 64<<20 {
		t.Fatalf("%d distinct policy names grew the heap by %d MB, want under 64 MB", n, grown>>20)
	}
}

// Defect 2: an invalid resolved policy is a programming error, reported once
// per name at Error, and decided under the limiter's own policy, never
// admitted as if the store had failed.
func TestInvalidResolvedPolicy(t *testing.T) {
	var logs bytes.Buffer
	tel := &recorder{}
	l := newLimiter(t, halt.Policy{Name: "default", Limit: 2, Window: time.Minute},
		halt.WithTelemetry(tel), halt.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		halt.WithPolicyResolver(func(r halt.Request) halt.Policy {
			return halt.Policy{Name: r.Header("X-Plan"), Limit: 0, Window: time.Minute} // Limit 0: invalid
		}))
	var allowed int
	for i := 0; i < 5; i++ {
		d, err := l.Check(context.Background(), req("203.0.113.1:1", "X-Plan: broken"))
		var pe *halt.PolicyError
		if !errors.Is(err, halt.ErrInvalidPolicy) || !errors.As(err, &pe) || pe.Field != "Limit" {
			t.Fatalf("error %v, want ErrInvalidPolicy wrapping the PolicyError", err)
		}
		if errors.Is(err, halt.ErrStoreUnavailable) || d.Reason == halt.ReasonStoreError || d.Policy != "default" {
			t.Fatalf("decision %+v: want the default policy's decision, not a store error", d)
		}
		if d.Allowed {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("admitted %d of 5 under the default policy of 2, want 2", allowed)
	}
	_, _ = l.Check(context.Background(), req("203.0.113.1:1", "X-Plan: also-broken"))
	var invalid []halt.Notice
	for _, n := range tel.notices {
		if n.Kind == halt.NoticeInvalidPolicy {
			invalid = append(invalid, n)
		}
	}
	if len(invalid) != 2 || invalid[0].Level != slog.LevelError {
		t.Fatalf("invalid-policy notices %+v, want one per name at Error", invalid)
	}
	if got := strings.Count(logs.String(), "level=ERROR"); got != 2 || len(tel.errs) != 0 {
		t.Fatalf("logged %d errors, OnError %d times; want 2 and 0:\n%s", got, len(tel.errs), logs.String())
	}
}

// Defect 3: typed-nil stores and nil requests are refused, never a panic.
func TestNilStoreAndRequest(t *testing.T) {
	p := halt.Policy{Name: "n", Limit: 1, Window: time.Minute}
	if _, err := halt.New((*halttest.MapStore)(nil), p); err == nil || !strings.Contains(err.Error(), "*halttest.MapStore") {
		t.Fatalf("typed-nil store: %v", err)
	}
	if _, err := halt.New(nil, p); err == nil {
		t.Fatal("nil store accepted")
	}
	if _, err := halt.New(newMapStore(), p, halt.WithFallback((*halttest.MapStore)(nil))); err == nil {
		t.Fatal("typed-nil fallback accepted")
	}
	l := newLimiter(t, p)
	d, err := l.Check(context.Background(), nil)
	if !errors.Is(err, halt.ErrNilRequest) || d.Allowed {
		t.Fatalf("Check(nil): %+v %v", d, err)
	}
	var nilReq *halttest.FakeRequest
	if _, err := l.Check(context.Background(), nilReq); !errors.Is(err, halt.ErrNilRequest) {
		t.Fatalf("Check(typed nil): %v", err)
	}
	if l.Key(nil) != "" {
		t.Fatal("Key(nil)")
	}
	if _, ok := l.ClientIP(nil); ok {
		t.Fatal("ClientIP(nil)")
	}
	if _, err := l.Peek(context.Background(), nil, 0); !errors.Is(err, halt.ErrNilRequest) {
		t.Fatalf("Peek(nil): %v", err)
	}
	if err := l.Reset(context.Background(), nil); !errors.Is(err, halt.ErrNilRequest) {
		t.Fatalf("Reset(nil): %v", err)
	}
	//nolint:staticcheck // a nil context is what this test is about
	if _, err := l.Check(nil, req("203.0.113.1:1")); err != nil {
		t.Fatalf("nil context: %v", err)
	}
	// The adapters' Into calls refuse a nil Decision and write nothing to
	// nil headers or from a nil Decision.
	if err := l.CheckCostInto(context.Background(), req("203.0.113.1:1"), 0, nil); !errors.Is(err, halt.ErrNilDecision) {
		t.Fatalf("CheckCostInto(nil Decision): %v", err)
	}
	var into halt.Decision
	if err := l.CheckCostInto(context.Background(), req("203.0.113.2:1"), 0, &into); err != nil || !into.Allowed {
		t.Fatalf("CheckCostInto: %+v %v", into, err)
	}
	l.WriteHeaders(nil, &into)
	h := http.Header{}
	l.WriteHeaders(h, nil)
	if len(h) != 0 {
		t.Fatalf("WriteHeaders(h, nil) wrote %v", h)
	}
	l.WriteHeaders(h, &into)
	if len(h) == 0 {
		t.Fatal("WriteHeaders wrote nothing")
	}
	var none *halt.PenalizedTake
	if err := none.Check(); err == nil {
		t.Fatal("a nil PenalizedTake passed its Check")
	}
}

// Defect 4: OnCheck sees exempt and skipped requests too, with their reason.
func TestTelemetrySeesExempt(t *testing.T) {
	tel := &checks{}
	l := newLimiter(t, halt.Policy{Name: "t", Limit: 3, Window: time.Minute, KeyStrategy: halt.KeyUser},
		halt.WithTelemetry(tel), halt.WithMissingKey(halt.MissingKeySkip))
	health := req("203.0.113.1:1")
	health.URLPath = "/health"
	user := func() *halttest.FakeRequest {
		r := req("203.0.113.1:1")
		r.Values = map[any]any{"user_id": "u"}
		return r
	}
	for _, r := range []*halttest.FakeRequest{user(), health, user(), req("127.0.0.1:1"), user(), user(), req("203.0.113.2:1")} {
		_, _ = l.Check(context.Background(), r)
	}
	want := []halt.Reason{halt.ReasonAllowed, halt.ReasonExempt, halt.ReasonAllowed, halt.ReasonExempt,
		halt.ReasonAllowed, halt.ReasonLimited, halt.ReasonSkipped}
	if !slices.Equal(tel.reasons, want) {
		t.Fatalf("OnCheck reasons %v, want %v (7 requests, 2 exempt, 1 skipped)", tel.reasons, want)
	}
	if tel.policies[1] != "t" || tel.keys[1] != "" || tel.keys[0] != "user:u" {
		t.Fatalf("exempt event: policy %q key %q; first key %q", tel.policies[1], tel.keys[1], tel.keys[0])
	}
}

type checks struct {
	halt.NopTelemetry
	reasons  []halt.Reason
	policies []string
	keys     []string
}

func (c *checks) OnCheck(_ context.Context, e halt.Event) {
	c.reasons = append(c.reasons, e.Decision.Reason)
	c.policies = append(c.policies, e.Policy)
	c.keys = append(c.keys, e.Key())
}

// Defect 7: trusting every address is refused unless asked for by name.
func TestTrustEveryone(t *testing.T) {
	p := halt.Policy{Name: "p", Limit: 1, Window: time.Minute}
	for _, bad := range []string{"0.0.0.0/0", "::/0", "", " ", "::ffff:0.0.0.0/96"} {
		_, err := halt.New(newMapStore(), p, halt.WithTrustedProxies("10.0.0.0/8", bad))
		if err == nil {
			t.Errorf("WithTrustedProxies(%q) accepted", bad)
		} else if bad != "" && bad != " " && !strings.Contains(err.Error(), "WithTrustAllProxies") {
			t.Errorf("WithTrustedProxies(%q): %v does not say what to use instead", bad, err)
		}
	}
	if _, err := halt.New(newMapStore(), p, halt.WithTrustedProxies()); err != nil {
		t.Errorf("no trusted proxies: %v", err)
	}
	if _, err := halt.New(newMapStore(), p, halt.WithTrustAllProxies(), halt.WithTrustedProxies("10.0.0.1")); err == nil {
		t.Error("WithTrustAllProxies with WithTrustedProxies accepted")
	}
	l := newLimiter(t, p, halt.WithTrustAllProxies())
	for header, want := range map[string]string{
		"203.0.113.5":                         "203.0.113.5",
		"198.51.100.1, 203.0.113.5, 10.0.0.1": "198.51.100.1",
		"":                                    "192.0.2.9",
	} {
		r := req("192.0.2.9:1")
		if header != "" {
			r = req("192.0.2.9:1", "X-Forwarded-For: "+header)
		}
		if a, ok := l.ClientIP(r); !ok || a.String() != want {
			t.Errorf("trust all, X-Forwarded-For %q: %v %v, want %s", header, a, ok, want)
		}
	}
}

// Defect 8: a request whose client cannot be told apart from its private
// trusted proxy is limited under the proxy's address, never exempt, and
// reported once.
func TestTrustedProxyWithoutClient(t *testing.T) {
	tel := &recorder{}
	l := newLimiter(t, halt.Policy{Name: "p", Limit: 2, Window: time.Minute},
		halt.WithTrustedProxies("10.0.0.0/8"), halt.WithTelemetry(tel))
	for i, h := range []string{"", "X-Forwarded-For: junk", "X-Forwarded-For: , ,"} {
		var r *halttest.FakeRequest
		if h == "" {
			r = req("10.0.0.7:1")
		} else {
			r = req("10.0.0.7:1", h)
		}
		d, _ := l.Check(context.Background(), r)
		if d.Reason == halt.ReasonExempt || d.Allowed != (i < 2) {
			t.Fatalf("request %d (%q): %+v, want limited under the proxy's address", i, h, d)
		}
	}
	if got := l.Key(req("10.0.0.7:1")); got != "halt:p:{ip:10.0.0.7}" {
		t.Fatalf("key %q", got)
	}
	var n int
	for _, x := range tel.notices {
		if x.Kind == halt.NoticeProxyOnly {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d proxy-without-client notices, want 1: %+v", n, tel.notices)
	}
	// A private client the proxy names is still exempt.
	if d, _ := l.Check(context.Background(), req("10.0.0.7:1", "X-Forwarded-For: 192.168.1.5")); d.Reason != halt.ReasonExempt {
		t.Fatalf("private client behind the proxy: %+v", d)
	}
}

// Defect 10: padding X-Forwarded-For with empty entries buys no work: past
// the walk's bound the resolver stops, and nothing to the left is believed.
func TestForwardedForEmptyEntriesBounded(t *testing.T) {
	l := newLimiter(t, halt.Policy{Name: "p", Limit: 1, Window: time.Minute}, halt.WithTrustedProxies("10.0.0.0/8"))
	for _, h := range []string{
		"203.0.113.9" + strings.Repeat(", ", 1<<19),              // 1 MiB of ", "
		"203.0.113.9," + strings.Repeat(" ", 1<<20) + "10.0.0.1", // one huge entry
		"203.0.113.9, " + strings.Repeat(",", 1<<20),             // commas only
		"203.0.113.9, " + strings.Repeat("10.0.0.1,", 64),        // trusted hops beyond the bound
	} {
		if a, _ := l.ClientIP(req("10.0.0.7:1", "X-Forwarded-For: "+h)); a.String() == "203.0.113.9" {
			t.Errorf("X-Forwarded-For of %d bytes: believed the address beyond the bound", len(h))
		}
	}
	// many empty field lines count too
	r := req("10.0.0.7:1", "X-Forwarded-For: 203.0.113.9")
	for i := 0; i < 1000; i++ {
		r.Headers.Add("X-Forwarded-For", "")
	}
	if a, _ := l.ClientIP(r); a.String() == "203.0.113.9" {
		t.Error("1,000 empty field lines: believed the address beyond the bound")
	}
	// within the bound, empty entries are skipped as before
	if a, _ := l.ClientIP(req("10.0.0.7:1", "X-Forwarded-For: 203.0.113.9, , ,")); a.String() != "203.0.113.9" {
		t.Errorf("a few empty entries: %v", a)
	}
}

// Defect 11: the first exempt private client is reported once, saying how
// to limit them.
func TestPrivateExemptReportedOnce(t *testing.T) {
	var logs bytes.Buffer
	l := newLimiter(t, halt.Policy{Name: "p", Limit: 1, Window: time.Minute},
		halt.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	for i := 0; i < 5; i++ {
		if d, _ := l.Check(context.Background(), req("127.0.0.1:5000")); d.Reason != halt.ReasonExempt {
			t.Fatalf("loopback: %+v", d)
		}
	}
	if n := strings.Count(logs.String(), "WithExemptPrivateIPs(false)"); n != 1 {
		t.Fatalf("reported %d times, want once:\n%s", n, logs.String())
	}
	logs.Reset()
	l = newLimiter(t, halt.Policy{Name: "p", Limit: 1, Window: time.Minute}, halt.WithExemptPrivateIPs(false),
		halt.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	_, _ = l.Check(context.Background(), req("127.0.0.1:5000"))
	if logs.Len() != 0 {
		t.Fatalf("private IPs limited, yet: %s", logs.String())
	}
}

// Core v2: stores passed to halt.New get the limiter's telemetry for their
// notices; a failing store is backed by the fallback store.
func TestFallbackAndNotices(t *testing.T) {
	tel := &recorder{}
	src := &noticeStore{}
	fb := newMapStore()
	l, err := halt.New(src, halt.Policy{Name: "fb", Limit: 2, Window: time.Minute},
		halt.WithTelemetry(tel), halt.WithFallback(fb), halt.WithClock(halttest.NewClock(halttest.Base)))
	if err != nil {
		t.Fatal(err)
	}
	src.Notify(context.Background(), halt.Notice{Kind: halt.NoticeStoreDown, Message: "down"})
	if len(tel.notices) != 1 || tel.notices[0].Kind != halt.NoticeStoreDown {
		t.Fatalf("store notice did not reach the limiter's telemetry: %+v", tel.notices)
	}
	var allowed int
	for i := 0; i < 3; i++ {
		d, err := l.Check(context.Background(), req("203.0.113.1:1"))
		if !errors.Is(err, halt.ErrStoreUnavailable) || d.Reason == halt.ReasonStoreError || !d.HasHeaders() {
			t.Fatalf("fallback decision %+v %v", d, err)
		}
		if d.Allowed {
			allowed++
		}
	}
	if allowed != 2 || len(tel.errs) != 3 || tel.allowed != 2 || tel.blocked != 1 {
		t.Fatalf("fallback admitted %d (want 2); telemetry %+v", allowed, tel)
	}
}

// noticeStore always fails and reports notices to its sinks.
type noticeStore struct {
	halttest.FailingStore
	halt.NoticeSinks
}
