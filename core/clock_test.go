package halt

import (
	"testing"
	"time"
)

// TestSystemClock: the anchored clock agrees with time.Now, never runs
// backwards between calls, and re-anchors once its anchor is stale.
func TestSystemClock(t *testing.T) {
	prev := SystemClock.Now()
	for range 1000 {
		before := time.Now()
		got := SystemClock.Now()
		after := time.Now()
		if got.Before(before.Add(-time.Millisecond)) || got.After(after.Add(time.Millisecond)) {
			t.Fatalf("SystemClock.Now() = %v, want within a millisecond of [%v, %v]", got, before, after)
		}
		if got.Before(prev) {
			t.Fatalf("SystemClock went back: %v after %v", got, prev)
		}
		prev = got
	}
	stale := time.Now().Add(-2 * anchorEvery)
	clockAnchor.Store(&stale)
	if got := SystemClock.Now(); time.Since(got) > time.Millisecond || got.Before(stale.Add(anchorEvery)) {
		t.Fatalf("a stale anchor was used: %v", got)
	}
	if a := clockAnchor.Load(); a == nil || a.Equal(stale) {
		t.Fatal("the stale anchor was not replaced")
	}
}
