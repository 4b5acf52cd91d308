package haltredis_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	haltredis "github.com/halt-go/halt/stores/redis"
)

const quotaChildEnv = "HALT_REDIS_TEST_QUOTA_CHILD" // "standalone|cluster,name,startUnixNano,quota|takeall"

// TestMultiProcessQuota: 4 OS processes, each with its own store and 64
// goroutines, four times each, on one server and on the Cluster: consuming
// 1 from one monthly quota of 100 ("quota"), they consume exactly 100; and
// deciding two rate limits (bursts of 50 and 30 per hour) with a monthly
// quota of 10 in one TakeAllQuotas ("takeall"), they admit exactly 10 and
// the rate limits were charged exactly those 10.
func TestMultiProcessQuota(t *testing.T) {
	clients := map[string]func(testing.TB) redis.UniversalClient{
		"standalone": func(t testing.TB) redis.UniversalClient { return standalone(t) },
		"cluster":    func(t testing.TB) redis.UniversalClient { return cluster(t) },
	}
	for _, mode := range []string{"standalone", "cluster"} {
		for _, what := range []string{"quota", "takeall"} {
			t.Run(mode+"/"+what, func(t *testing.T) {
				c := clients[mode](t)
				name := fmt.Sprintf("mpquota-%s-%s-%d", mode, what, time.Now().UnixNano())
				start := time.Now().Add(300 * time.Millisecond).UnixNano()
				counts, total := runChildren(t, "TestMultiProcessQuotaChild",
					fmt.Sprintf("%s=%s,%s,%d,%s", quotaChildEnv, mode, name, start, what))
				t.Logf("%d processes x %d goroutines x %d: admitted %v = %d", processes, perProcess, takesPerGoro, counts, total)
				s := newStore(t, c, haltredis.WithCallerClock(), haltredis.WithTimeout(suiteTimeout), haltredis.WithPrefix(runPrefixFor(name)))
				ctx := context.Background()
				if what == "takeall" {
					if total != 10 {
						t.Fatalf("admitted %d in total, want exactly 10 (the quota)", total)
					}
					ps, keys, q, qkey := halttest.MultiQuota(name)
					ps[0].Limit = 50
					for i, want := range []int64{40, 20} {
						r, err := s.Peek(ctx, keys[i], ps[i], halttest.QuotaBase, 1)
						if err != nil || r.Remaining != want {
							t.Fatalf("%s after the run: %+v, %v; want %d remaining", ps[i].Name, r, err, want)
						}
					}
					op := halt.QuotaOp{Kind: halt.QuotaPeek, Limit: q.Limit, Amount: 1, Now: halttest.QuotaBase, Bounds: q.QuotaBounds(halttest.QuotaBase)}
					if r, err := s.Quota(ctx, qkey, &op); err != nil || r.Used != 10 {
						t.Fatalf("the quota after the run: %+v, %v; want 10 used", r, err)
					}
					return
				}
				if total != halttest.QuotaHammerLimit {
					t.Fatalf("admitted %d in total, want exactly %d", total, halttest.QuotaHammerLimit)
				}
				q := halttest.QuotaHammer(name)
				op := halt.QuotaOp{Kind: halt.QuotaPeek, Limit: q.Limit, Amount: 1, Now: halttest.QuotaBase, Bounds: q.QuotaBounds(halttest.QuotaBase)}
				r, err := s.Quota(ctx, halt.QuotaKey(q.Name, "acct:7"), &op)
				if err != nil || r.Used != halttest.QuotaHammerLimit || r.Allowed {
					t.Fatalf("after the run: %+v, %v; want used %d and nothing left", r, err, halttest.QuotaHammerLimit)
				}
			})
		}
	}
}

// TestMultiProcessQuotaChild is the body of one child process of
// TestMultiProcessQuota.
func TestMultiProcessQuotaChild(t *testing.T) {
	spec := os.Getenv(quotaChildEnv)
	if spec == "" {
		t.Skip("runs as a child of TestMultiProcessQuota")
	}
	s, f := childStore(t, spec)
	if f[3] == "takeall" {
		fmt.Printf("ADMITTED %d\n", halttest.RunQuotaTakeAll(t, s, f[1], perProcess, takesPerGoro, 50))
		return
	}
	fmt.Printf("ADMITTED %d\n", halttest.RunQuotaConsume(t, s, f[1], perProcess, takesPerGoro))
}

// TestQuotaServerClock: by default the period is Redis TIME's. App servers
// an hour behind and an hour ahead send bounds around their own clocks and
// still count in the hour Redis is in, on one key; the key expires an hour
// after that period.
func TestQuotaServerClock(t *testing.T) {
	c := standalone(t)
	s := newStore(t, c, haltredis.WithTimeout(suiteTimeout), haltredis.WithPrefix(freshPrefix("quotaclock")))
	tm, err := c.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	q := halt.Quota{Name: "hourly", Limit: 10, Period: halt.Hourly}
	key := halt.QuotaKey(q.Name, "acct:1")
	var first halt.QuotaResult
	for i, skew := range []time.Duration{-time.Hour, time.Hour, 0} {
		app := tm.Add(skew)
		op := halt.QuotaOp{Kind: halt.QuotaConsume, Limit: q.Limit, Amount: 1, Now: app, Bounds: q.QuotaBounds(app)}
		r, err := s.Quota(context.Background(), key, &op)
		if err != nil {
			t.Fatal(err)
		}
		redisStart, redisEnd := q.PeriodAt(time.UnixMicro(r.Now))
		if r.Start != redisStart.Unix() || r.End != redisEnd.Unix() {
			t.Fatalf("app clock %v off: counted in [%d, %d), Redis's hour is [%d, %d)", skew, r.Start, r.End, redisStart.Unix(), redisEnd.Unix())
		}
		if appStart, _ := q.PeriodAt(app); skew != 0 && appStart.Unix() == r.Start {
			t.Fatalf("app clock %v off: counted in the app's own hour", skew)
		}
		if i == 0 {
			first = r
		}
		if r.Start == first.Start && r.Used != int64(i+1) {
			t.Fatalf("consume %d: used %d, want %d", i+1, r.Used, i+1)
		}
		exp, err := c.ExpireTime(context.Background(), s.QuotaRedisKey(key)).Result()
		if err != nil || exp != time.Duration(r.End+3600)*time.Second {
			t.Fatalf("expire time %v, %v; want %d", exp, err, r.End+3600)
		}
	}
}

// TestLimiterWithQuotaAndPenalties: a limiter on Redis (server clock) with
// a rate limit, a daily quota and penalties: the rate limit's refusals
// spend no quota, the fifth refusal halves the limit, and the quota's
// refusal says quota_exceeded.
func TestLimiterWithQuotaAndPenalties(t *testing.T) {
	c := standalone(t)
	s := newStore(t, c, haltredis.WithTimeout(suiteTimeout), haltredis.WithPrefix(freshPrefix("limiterquota")))
	rate := halt.Policy{Name: "rate", Limit: 4, Window: time.Hour}
	daily := halt.Quota{Name: "daily", Limit: 6, Period: halt.Daily}
	cfg := halt.PenaltyConfig{Threshold: 2, Duration: time.Hour, Multiplier: 0.5}
	l, err := halt.New(s, rate, halt.WithQuotas(daily), halt.WithPenalties(cfg, 1), halt.WithExemptPrivateIPs(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := &halttest.FakeRequest{Peer: "203.0.113.44:1"}
	var got []string
	for i := 0; i < 6; i++ {
		d, err := l.Check(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Reason.String())
	}
	if want := "allowed allowed allowed allowed limited limited"; strings.Join(got, " ") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	st, err := l.Standing(ctx, r)
	if err != nil || len(st) != 2 || st[0].Limit != 2 || st[1].Policy != "daily" || st[1].Remaining != 2 {
		t.Fatalf("standing %+v %v: want the rate limit halved to 2 and the quota at 2 left", st, err)
	}
	if _, err := l.Unban(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := l.Reset(ctx, r, "rate"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if d, err := l.Check(ctx, r); err != nil || !d.Allowed {
			t.Fatalf("after the reset, %d: %+v %v", i+1, d, err)
		}
	}
	d, err := l.Check(ctx, r)
	if err != nil || d.Allowed || d.Reason != halt.ReasonQuotaExceeded || d.Policy != "daily" || d.RetryAfter <= 0 || d.RetryAfter > 24*time.Hour {
		t.Fatalf("the quota's refusal: %+v %v", d, err)
	}
}
