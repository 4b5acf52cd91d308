package adapter_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/adapter"
	"github.com/halt-go/halt/core/halttest"
)

func TestHTTPHeaderWriterEmbedded(t *testing.T) {
	type perRequest struct {
		id int
		adapter.HTTPHeaderWriter
	}
	h := http.Header{"X-Before": {"kept"}}
	x := &perRequest{id: 1}
	x.Init(h)
	var w halt.ResponseHeaders = x
	for _, name := range []string{"A", "B", "C", "D", "E"} { // one more than the writer's slots
		w.Set(name, "v"+name)
	}
	w.Add("E", "second")
	w.Set("A", "again")
	want := map[string][]string{"X-Before": {"kept"}, "A": {"again"}, "B": {"vB"}, "C": {"vC"}, "D": {"vD"}, "E": {"vE", "second"}}
	for name, vals := range want {
		if got := h[name]; len(got) != len(vals) || got[0] != vals[0] || got[len(got)-1] != vals[len(vals)-1] {
			t.Fatalf("%s = %q, want %q", name, got, vals)
		}
		if w.Get(name) != vals[0] {
			t.Fatalf("Get(%s) = %q", name, w.Get(name))
		}
	}
	if w.Get("Missing") != "" {
		t.Fatal("Get of a missing header")
	}
	// No value lives in the writer: the struct reused for a second
	// response (as halthttp reuses its exchanges) leaves the first's alone.
	h2 := http.Header{}
	x.Init(h2)
	x.Set("B", "new")
	halt.SetIntHeader(x, "C", 7)
	x.SetInt("D", 1<<40)
	if h["B"][0] != "vB" || h["C"][0] != "vC" || h["D"][0] != "vD" || h2.Get("B") != "new" || h2.Get("C") != "7" || h2.Get("D") != "1099511627776" {
		t.Fatalf("a reused writer: first %v, second %v", h, h2)
	}
}

// TestNewNilLimiter: a middleware without a limiter is refused at
// construction, with a message naming the mistake, not on the first request.
func TestNewNilLimiter(t *testing.T) {
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "non-nil *halt.Limiter") {
			t.Fatalf("recovered %q", msg)
		}
	}()
	adapter.New[*http.Request](nil)
	t.Fatal("New(nil) returned")
}

// TestHTTPHeaderWriterSetInt: SetInt writes the decimal form of each
// value, with one allocation each; the writer itself, as a value or in an
// interface, costs none, and neither do the shared slices of numbers below
// 1024.
func TestHTTPHeaderWriterSetInt(t *testing.T) {
	h := make(http.Header)
	var w adapter.HTTPHeaderWriter
	w.Init(h)
	vals := []int64{1_000_000_000, -9223372036854775808, 9223372036854775807, 1024}
	names := []string{"A", "B", "C", "D"}
	for i, v := range vals {
		w.SetInt(names[i], v)
	}
	for i, v := range vals {
		if got := h[names[i]]; len(got) != 1 || got[0] != strconv.FormatInt(v, 10) {
			t.Errorf("%s = %q, want %d", names[i], got, v)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		w := adapter.HTTPHeaders(h)
		w.(halt.IntHeaders).SetInt("A", 1_000_000_000)
		w.(halt.IntHeaders).SetInt("B", 1_800_000_000)
	}); n != 2 {
		t.Errorf("a writer and two SetInt calls allocate %v times, want 2", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		w := adapter.HTTPHeaders(h)
		halt.SetIntHeader(w, "A", 0)
		halt.SetIntHeader(w, "B", 1023)
	}); n != 0 {
		t.Errorf("a writer and two small numbers allocate %v times, want 0", n)
	}
	if h.Get("A") != "0" || h.Get("B") != "1023" {
		t.Fatalf("small numbers: %v", h)
	}
}

// TestSharedValuesStayPut: the value slices core shares across responses
// are never written through. A header appended to after the style set it
// gets a slice of its own, and the next response's value is unchanged.
func TestSharedValuesStayPut(t *testing.T) {
	l, err := halt.New(halttest.NewMapStore(), halt.Policy{Name: "shared", Limit: 100, Window: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	req := &halttest.FakeRequest{Peer: "203.0.113.9:1234"}
	first := http.Header{}
	d, ok := adapter.Decide(l, req, adapter.HTTPHeaders(first), 0)
	if !ok || first.Get("Ratelimit-Limit") != "100" || first.Get("Ratelimit-Remaining") != "99" {
		t.Fatalf("first: %v %v", d, first)
	}
	first.Add("Ratelimit-Limit", "extra")
	first.Add("Ratelimit-Remaining", "extra")
	second := http.Header{}
	if _, ok := adapter.Decide(l, &halttest.FakeRequest{Peer: "203.0.113.10:1234"}, adapter.HTTPHeaders(second), 0); !ok {
		t.Fatal("second refused")
	}
	if got := second["Ratelimit-Limit"]; len(got) != 1 || got[0] != "100" {
		t.Fatalf("second limit %q", got)
	}
	if got := second["Ratelimit-Remaining"]; len(got) != 1 || got[0] != "99" {
		t.Fatalf("second remaining %q", got)
	}
	if got := first["Ratelimit-Limit"]; len(got) != 2 || got[0] != "100" || got[1] != "extra" {
		t.Fatalf("first limit %q", got)
	}
}
