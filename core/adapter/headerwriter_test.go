package adapter_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/adapter"
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
	// values live in the writer: a second response gets a writer of its own
	h2 := http.Header{}
	y := &perRequest{id: 2}
	y.Init(h2)
	y.Set("B", "new")
	if h["B"][0] != "vB" || h2.Get("B") != "new" {
		t.Fatalf("two writers: first %q, second %q", h["B"], h2["B"])
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
// value, from the writer's storage for the first two and allocated after.
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
		if got := h.Get(names[i]); got != strconv.FormatInt(v, 10) {
			t.Errorf("%s = %q, want %d", names[i], got, v)
		}
	}
	// The writer itself is one allocation (the values live in it); the
	// values add none.
	if n := testing.AllocsPerRun(100, func() {
		w := new(adapter.HTTPHeaderWriter)
		w.Init(h)
		w.SetInt("A", 1_000_000_000)
		w.SetInt("B", 1_800_000_000)
	}); n != 1 {
		t.Errorf("a writer and two SetInt calls allocate %v times, want 1", n)
	}
}
