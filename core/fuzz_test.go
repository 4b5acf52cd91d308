package halt_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// FuzzClientIP feeds arbitrary peers and forwarding headers to the resolver
// and the key builder: no panic, and a resolved address is always clean
// (unmapped, unzoned, specified) and comes from the peer or a header.
func FuzzClientIP(f *testing.F) {
	for _, s := range [][3]string{
		{"10.0.0.1:80", "203.0.113.1, 10.0.0.2", "for=192.0.2.1"},
		{"[::ffff:10.0.0.1]:1", "::ffff:203.0.113.1", `for="[2001:db8::1]:80"`},
		{"@", ", ,,", "for=unknown"},
		{"[fe80::1%eth0]:1", "[2001:db8::1%25x]:1, junk", "For=_hidden;proto=http"},
		{"10.0.0.1", strings.Repeat("1.1.1.1,", 100), "for="},
		{"", "\x00\xff", "\"\""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	clock := halttest.NewClock(halttest.Base)
	opts := []halt.Option{halt.WithTrustedProxies("10.0.0.0/8", "fc00::/7"), halt.WithClock(clock), halt.WithExemptPrivateIPs(false)}
	p := halt.Policy{Name: "fuzz", Limit: 1, Window: time.Minute}
	xff, _ := halt.New(newMapStore(), p, opts...)
	fwd, _ := halt.New(newMapStore(), p, append(opts, halt.WithIPSource(halt.SourceForwarded))...)
	real, _ := halt.New(newMapStore(), p, append(opts, halt.WithIPSource(halt.SourceXRealIP))...)
	f.Fuzz(func(t *testing.T, peer, xffValue, forwarded string) {
		r := &halttest.FakeRequest{Peer: peer, Headers: http.Header{
			"X-Forwarded-For": strings.Split(xffValue, "\n"),
			"Forwarded":       {forwarded},
			"X-Real-Ip":       {xffValue},
		}}
		for _, l := range []*halt.Limiter{xff, fwd, real} {
			a, ok := l.ClientIP(r)
			if ok && (!a.IsValid() || a.Is4In6() || a.Zone() != "" || a.IsUnspecified()) {
				t.Fatalf("unclean client address %v from peer %q", a, peer)
			}
			key := l.Key(r)
			if len(key) > 200 {
				t.Fatalf("key of %d bytes", len(key))
			}
			if _, err := l.Check(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzDecide runs random policies and request sequences through the pure
// algorithms: no panic, Remaining never negative, RetryAfter positive
// exactly when blocked, and never more admitted than capacity at one instant.
func FuzzDecide(f *testing.F) {
	f.Add(uint8(0), int64(5), int64(60), int64(0), int64(1), int64(0), uint16(20), int64(7))
	f.Add(uint8(1), int64(3), int64(1), int64(3), int64(2), int64(30), uint16(50), int64(999))
	f.Add(uint8(2), int64(10), int64(10), int64(0), int64(3), int64(0), uint16(40), int64(123456))
	f.Fuzz(func(t *testing.T, alg uint8, limit, windowSec, burst, cost, blockSec int64, steps uint16, seed int64) {
		p := halt.Policy{Name: "f", Algorithm: halt.Algorithm(alg % 3), Limit: limit, Window: time.Duration(windowSec) * time.Second,
			Burst: burst, Cost: cost, BlockDuration: time.Duration(blockSec) * time.Second}
		if p.Validate() != nil {
			return
		}
		var s halt.State
		now := halttest.Base.UnixNano()
		x := uint64(seed)
		var admittedNow int64
		for i := 0; i < int(steps%200); i++ {
			x = x*6364136223846793005 + 1442695040888963407
			if x>>60 < 4 { // sometimes move the clock (sometimes backwards)
				prev := now
				now += int64(x>>20%uint64(3*p.Window)) - int64(p.Window)/4
				if now != prev {
					admittedNow = 0
				}
			}
			c := int64(x>>8%uint64(p.Capacity()+1)) + 1
			r := p.Decide(&s, now, c)
			if r.Remaining < 0 || (r.Reason != halt.ReasonCostExceedsCapacity && r.Allowed == (r.RetryAfter > 0)) || r.ResetAfter < 0 {
				t.Fatalf("step %d: %+v", i, r)
			}
			if r.Allowed {
				admittedNow += c
				if admittedNow > p.Capacity() {
					t.Fatalf("admitted %d at one instant, capacity %d", admittedNow, p.Capacity())
				}
			}
		}
	})
}
