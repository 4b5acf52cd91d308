package halt_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// A rate limit and a daily quota in one all-or-nothing check: a rejection
// by the rate limit spends nothing from the quota, a rejection by the
// quota nothing from the rate limit; the quota's 429 says quota_exceeded
// and waits for midnight.
func TestRateLimitAndQuota(t *testing.T) {
	for name, store := range map[string]halt.Store{"atomic": newMapStore(), "in order": halttest.InOrder(newMapStore())} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clock := halttest.NewClock(halttest.Base) // 2027-01-15 08:00 UTC
			rate := halt.Policy{Name: "rate", Limit: 3, Window: time.Minute}
			daily := halt.Quota{Name: "daily", Limit: 5, Period: halt.Daily}
			l, err := halt.New(store, rate, halt.WithQuotas(daily), halt.WithClock(clock), halt.WithHeaderStyle(halt.IETF))
			if err != nil {
				t.Fatal(err)
			}
			r := req("203.0.113.9:1")
			check := func() halt.Decision {
				t.Helper()
				d, err := l.Check(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				return d
			}
			standing := func(wantRate, wantQuota int64) {
				t.Helper()
				st, err := l.Standing(ctx, r)
				if err != nil || len(st) != 2 || st[0].Policy != "rate" || st[1].Policy != "daily" ||
					st[0].Remaining != wantRate || st[1].Remaining != wantQuota {
					t.Fatalf("standing %+v, %v; want rate %d and daily %d remaining", st, err, wantRate, wantQuota)
				}
			}
			for i := 0; i < 3; i++ {
				if d := check(); !d.Allowed || len(d.Policies()) != 2 {
					t.Fatalf("request %d: %+v", i+1, d)
				}
			}
			d := check()
			if d.Allowed || d.Policy != "rate" || d.Reason != halt.ReasonLimited {
				t.Fatalf("4th: %+v, want rejected by rate", d)
			}
			standing(0, 2) // the rejection spent nothing from the quota

			clock.Advance(time.Minute) // the bucket is full again
			for i := 0; i < 2; i++ {
				if d := check(); !d.Allowed {
					t.Fatalf("after a minute, request %d: %+v", i+1, d)
				}
			}
			d = check()
			until := 16*time.Hour - time.Minute // to midnight UTC
			if d.Allowed || d.Policy != "daily" || d.Reason != halt.ReasonQuotaExceeded || d.RetryAfter != until ||
				d.Limit != 5 || d.Window != 24*time.Hour {
				t.Fatalf("quota rejection: %+v", d)
			}
			status, body := l.Rejection(&d)
			if status != http.StatusTooManyRequests || !strings.HasPrefix(string(body), `{"error":"quota_exceeded",`) ||
				!strings.HasSuffix(string(body), `"retry_after":57540}`) {
				t.Fatalf("rejection %d %s", status, body)
			}
			h := http.Header{}
			halt.IETF.Write(h, d)
			if got := strings.Join(h.Values("Ratelimit-Policy"), ", "); got != `"rate";q=3;w=60, "daily";q=5;w=86400` {
				t.Fatalf("RateLimit-Policy %q", got)
			}
			standing(1, 0) // the quota's rejection spent nothing from the rate limit

			// Undo gives the quota back too.
			clock.Advance(time.Minute)
			if err := l.Undo(ctx, r, &halt.Decision{}); err != nil {
				t.Fatal(err)
			}
			clock.Advance(24 * time.Hour) // the next day
			ok := check()
			if !ok.Allowed {
				t.Fatalf("next day: %+v", ok)
			}
			standing(2, 4)
			if err := l.Undo(ctx, r, &ok); err != nil {
				t.Fatal(err)
			}
			standing(3, 5)
		})
	}
}

// The quota and the rate limit key different things (per API key, per
// IP): decided in order, nothing over-admitted, and a rejection by the
// quota gives the rate limit back.
func TestQuotaOnAnotherKey(t *testing.T) {
	ctx := context.Background()
	clock := halttest.NewClock(halttest.Base)
	rate := halt.Policy{Name: "rate", Limit: 2, Window: time.Hour}
	monthly := halt.Quota{Name: "monthly", Limit: 3, Period: halt.Monthly, KeyStrategy: halt.KeyAPIKey}
	l, err := halt.New(newMapStore(), rate, halt.WithQuotas(monthly), halt.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	a, b := req("203.0.113.1:1", "X-API-Key: k1"), req("203.0.113.2:1", "X-API-Key: k1")
	var got []string
	for _, r := range []*halttest.FakeRequest{a, a, a, b, b} {
		d, err := l.Check(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Reason.String()+":"+d.Policy)
	}
	want := "allowed:rate allowed:rate limited:rate allowed:monthly quota_exceeded:monthly"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %s\nwant %s", strings.Join(got, " "), want)
	}
	st, err := l.Standing(ctx, b)
	if err != nil || len(st) != 2 || st[0].Remaining != 1 || st[1].Remaining != 0 {
		t.Fatalf("b's standing %+v %v: rate 1 (the quota's rejection gave it back), quota 0", st, err)
	}
}

func TestWithQuotasValidates(t *testing.T) {
	p := halt.Policy{Name: "p", Limit: 1, Window: time.Second}
	q := halt.Quota{Name: "q", Limit: 1, Period: halt.Daily}
	if _, err := halt.New(halttest.FailingStore{}, p, halt.WithQuotas(q)); err == nil || !strings.Contains(err.Error(), "QuotaStore") {
		t.Fatalf("a store without quotas: %v", err)
	}
	if _, err := halt.New(newMapStore(), p, halt.WithQuotas(halt.Quota{Name: "p", Limit: 1, Period: halt.Daily})); err == nil {
		t.Fatal("a quota named like the policy was accepted")
	}
	var pe *halt.PolicyError
	if _, err := halt.New(newMapStore(), p, halt.WithQuotas(halt.Quota{Name: "q", Limit: 1})); !errors.As(err, &pe) || pe.Field != "Period" {
		t.Fatalf("an invalid quota: %v", err)
	}
}
