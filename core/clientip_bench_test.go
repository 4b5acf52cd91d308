package halt_test

import (
	"context"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
)

// TestPeerShapes pins how peer addresses of every shape resolve (the IPv4
// "ip:port" fast path must agree with the general parser).
func TestPeerShapes(t *testing.T) {
	l, err := halt.New(nopStore{}, halt.Policy{Name: "peer", Limit: 1, Window: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ peer, want string }{
		{"198.51.100.7:52311", "198.51.100.7"},
		{"198.51.100.7:1", "198.51.100.7"},
		{"198.51.100.7:99999", "198.51.100.7"}, // out of range, still a port's shape
		{"198.51.100.7", "198.51.100.7"},
		{"198.51.100.7:", ""},
		{"198.51.100.7:80:90", ""},
		{"198.51.100.7:8x", ""},
		{"198.51.100.7:1234567", ""},
		{"198.51.100.777:80", ""},
		{"01.2.3.4:80", ""},
		{":80", ""},
		{"[198.51.100.7]:80", "198.51.100.7"},
		{"[::ffff:198.51.100.7]:80", "198.51.100.7"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"2001:db8::1", "2001:db8::1"},
		{"0.0.0.0:80", ""},
		{" 198.51.100.7:80", "198.51.100.7"},
	} {
		a, ok := l.ClientIP(&halttest.FakeRequest{Peer: c.peer})
		got := ""
		if ok {
			got = a.String()
		}
		if got != c.want {
			t.Errorf("peer %q: got %q, want %q", c.peer, got, c.want)
		}
	}
}

// nopStore admits everything: the core benchmarks measure the limiter,
// not a store.
type nopStore struct{}

func (nopStore) Take(context.Context, []byte, *halt.Policy, time.Time, int64) (halt.Result, error) {
	return halt.Result{Allowed: true, Remaining: 1, ResetAfter: time.Second}, nil
}

// BenchmarkCheckOverhead is Limiter.Check over a store that does nothing:
// what the limiter itself costs per request (clock, exemptions, client IP,
// key, decision).
func BenchmarkCheckOverhead(b *testing.B) {
	l, err := halt.New(nopStore{}, halt.Policy{Name: "bench", Limit: 100, Window: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	req := &halttest.FakeRequest{Ctx: context.Background(), URLPath: "/api/items", Peer: "198.51.100.7:52311"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d, _ := l.Check(ctx, req); !d.Allowed {
			b.Fatal("refused")
		}
	}
}

// TestPathExemptionShapes pins segment-wise path matching for health paths
// and policy path exemptions.
func TestPathExemptionShapes(t *testing.T) {
	l, err := halt.New(nopStore{}, halt.Policy{Name: "paths", Limit: 1, Window: time.Minute,
		Exemptions: []string{"/admin", "/a/b/"}}, halt.WithExemptPrivateIPs(false))
	if err != nil {
		t.Fatal(err)
	}
	for path, exempt := range map[string]bool{
		"/health": true, "/healthz": true, "/health/deep": true, "/healthy": false, "/healt": false,
		"/ping": true, "/pin": false, "/ping/": true, "/livez": true, "/ready": true, "/readyz": false,
		"/admin": true, "/admin/users": true, "/administrator": false, "/adm": false,
		"/a/b": true, "/a/b/c": true, "/a/bc": false, "/a": false, "/": false, "": false,
		"/api/items": false, "/x": false,
	} {
		d, err := l.Check(context.Background(), &halttest.FakeRequest{URLPath: path, Peer: "198.51.100.7:1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Reason == halt.ReasonExempt; got != exempt {
			t.Errorf("path %q: exempt = %v, want %v", path, got, exempt)
		}
	}
	all, err := halt.New(nopStore{}, halt.Policy{Name: "all", Limit: 1, Window: time.Minute, Exemptions: []string{"/"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/x", "/api/items"} {
		if d, _ := all.Check(context.Background(), &halttest.FakeRequest{URLPath: path, Peer: "198.51.100.7:1"}); d.Reason != halt.ReasonExempt {
			t.Errorf("exemption \"/\": path %q not exempt", path)
		}
	}
}
