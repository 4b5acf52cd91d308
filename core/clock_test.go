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
	staleTime := time.Now().Add(-2 * anchorEvery)
	stale := &anchor{mono: staleTime, sec: staleTime.Unix(), nsec: int64(staleTime.Nanosecond())}
	clockAnchor.Store(stale)
	if got := SystemClock.Now(); time.Since(got) > time.Millisecond || got.Before(staleTime.Add(anchorEvery)) {
		t.Fatalf("a stale anchor was used: %v", got)
	}
	if a := clockAnchor.Load(); a == nil || a == stale {
		t.Fatal("the stale anchor was not replaced")
	}
}

// TestSystemClockReanchor: a new anchor slightly behind the last reading
// (drift between the clocks) does not take the clock back; a step of the
// wall clock back by more than maxDrift is followed.
func TestSystemClockReanchor(t *testing.T) {
	now := time.Now()
	// The previous anchor ran 100µs ahead of the wall clock.
	ahead := now.Add(100 * time.Microsecond)
	prev := &anchor{mono: now, sec: ahead.Unix(), nsec: int64(ahead.Nanosecond())}
	if got := reanchor(prev); got.Before(ahead) {
		t.Fatalf("reanchor after an anchor 100µs ahead = %v, before %v", got, ahead)
	}
	// The previous anchor is an hour ahead: the wall clock was set back.
	later := now.Add(time.Hour)
	prev = &anchor{mono: now, sec: later.Unix(), nsec: int64(later.Nanosecond())}
	if got := reanchor(prev); got.After(now.Add(time.Minute)) {
		t.Fatalf("reanchor after a step back = %v, want about %v", got, now)
	}
}
