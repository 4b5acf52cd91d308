package adapter_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/adapter"
	"github.com/halt-go/halt/core/halttest"
)

// TestDecideNilRequest: an adapter handing DecideInto a nil request gets a
// refusal, not a panic (the limiter reports why); nil headers or a nil
// Decision do not stop a real request being decided.
func TestDecideNilRequest(t *testing.T) {
	l, err := halt.New(halttest.NewMapStore(), halt.Policy{Name: "nil", Limit: 5, Window: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Check(t.Context(), nil); !errors.Is(err, halt.ErrNilRequest) {
		t.Fatalf("Check(nil): %v", err)
	}
	h := adapter.HTTPHeaders(http.Header{})
	for _, c := range []struct {
		name string
		h    halt.ResponseHeaders
	}{{"headers", h}, {"nil headers", nil}} {
		var d halt.Decision
		if adapter.DecideInto(l, nil, c.h, 0, &d) || d.Allowed {
			t.Fatalf("%s: a nil request proceeds: %+v", c.name, d)
		}
	}
	var d halt.Decision
	var nilReq *halttest.FakeRequest // a typed nil
	if adapter.DecideInto(l, nilReq, h, 0, &d) || d.Allowed {
		t.Fatalf("a typed-nil request proceeds: %+v", d)
	}
	// A nil Decision: the request is decided (and counted) all the same.
	r0 := &halttest.FakeRequest{Peer: "203.0.113.8:1"}
	if !adapter.DecideInto(l, r0, h, 0, nil) {
		t.Fatal("a nil Decision refused the request")
	}
	m := adapter.New(l, adapter.Skip(func(skip bool) bool { return skip }))
	if !m.HandleInto(true, r0, h, nil) || !m.HandleInto(false, r0, h, nil) {
		t.Fatal("HandleInto with a nil Decision refused the request")
	}
	// A real request through nil headers is decided and counted as usual.
	r := &halttest.FakeRequest{Peer: "203.0.113.9:1"}
	if !adapter.DecideInto(l, r, nil, 0, &d) || d.Remaining != 4 {
		t.Fatalf("a request with nil headers: %+v", d)
	}
}
