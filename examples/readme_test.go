package examples_test

import (
	"context"
	"testing"
	"time"

	halt "github.com/halt-go/halt/core"
	"github.com/halt-go/halt/core/halttest"
	"github.com/halt-go/halt/stores/memory"
)

// TestRateLimiting is the README's "Testing your app" example, kept compiling
// and passing here.
func TestRateLimiting(t *testing.T) {
	policy := halt.Policy{Name: "test", Limit: 5, Window: 60 * time.Second, Algorithm: halt.TokenBucket}
	store := memory.New(nil)
	defer store.Close()
	limiter, err := halt.New(store, policy, halt.WithClock(halttest.NewClock(time.Now())))
	if err != nil {
		t.Fatal(err)
	}
	request := &halttest.FakeRequest{Peer: "203.0.113.1:1234"} // a public IP: private ones are exempt
	for i := 0; i < 5; i++ {
		if d, _ := limiter.Check(context.Background(), request); !d.Allowed {
			t.Fatalf("request %d blocked", i+1)
		}
	}
	if d, _ := limiter.Check(context.Background(), request); d.Allowed || d.RetryAfter <= 0 {
		t.Fatal("6th request allowed")
	}
}
