package halt

import (
	"sync/atomic"
	"time"
)

// systemClock is SystemClock.
type systemClock struct{}

// anchorEvery is how long a wall-clock anchor serves before time.Now is
// read again.
const anchorEvery = time.Second

// maxDrift is how far behind the last reading a new anchor may find the
// wall clock and still be taken as drift between the two clocks, which the
// clock absorbs (it never runs back); a larger step back is the wall
// clock being set, which it follows.
const maxDrift = time.Millisecond

// anchor is a full reading of time.Now: mono keeps its monotonic part, and
// sec and nsec are its wall time (Unix seconds and nanoseconds).
// time.Since(mono) reads only the monotonic clock; the anchor's wall time
// plus that is the wall time now, without a second clock read.
type anchor struct {
	mono      time.Time
	sec, nsec int64
	wall      int64 // sec and nsec as Unix nanoseconds
}

var clockAnchor atomic.Pointer[anchor]

// Now returns the wall time without a monotonic reading: a time.Time that
// carries one costs about as much to build as the clock read itself, and
// nothing in Halt compares two of them (the stores take Unix nanoseconds).
// Between anchors it advances with the monotonic clock.
func (systemClock) Now() time.Time {
	a := clockAnchor.Load()
	if a != nil {
		if d := time.Since(a.mono); d >= 0 && d < anchorEvery {
			sec, nsec := a.sec, a.nsec+int64(d)
			if nsec >= 1e9 {
				sec, nsec = sec+1, nsec-1e9
			}
			return time.Unix(sec, nsec)
		}
	}
	return reanchor(a)
}

// reanchor reads time.Now into a new anchor after prev (nil for none) and
// returns its wall time.
func reanchor(prev *anchor) time.Time {
	now := time.Now()
	wall := now.UnixNano()
	if prev != nil {
		// Where the previous anchor has got to: a new anchor slightly
		// behind it is drift, and starts from there instead.
		if last := prev.sec*1e9 + prev.nsec + int64(time.Since(prev.mono)); last > wall && last-wall < int64(maxDrift) {
			wall = last
		}
	}
	clockAnchor.Store(&anchor{mono: now, sec: wall / 1e9, nsec: wall % 1e9, wall: wall})
	return time.Unix(0, wall)
}

// systemNanos is SystemClock.Now as Unix nanoseconds, without building a
// time.Time.
func systemNanos() int64 {
	a := clockAnchor.Load()
	if a != nil {
		if d := time.Since(a.mono); d >= 0 && d < anchorEvery {
			return a.wall + int64(d)
		}
	}
	return reanchor(a).UnixNano()
}

// since is how long ago start was by the limiter's clock, for timing
// store calls: SystemClock's own instants are compared on its own clock
// (cheaper than time.Since, which reads the wall clock again for a time
// without a monotonic reading), in Unix nanoseconds rather than through
// time.Time arithmetic; others' on the system clock.
func (l *Limiter) since(start time.Time) time.Duration {
	if _, ok := l.clock.(systemClock); ok {
		return time.Duration(max(0, systemNanos()-start.UnixNano()))
	}
	return time.Since(start)
}
