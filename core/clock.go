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

// clockAnchor is the last full reading of time.Now (with its monotonic
// part): time.Since reads only the monotonic clock, and the anchor plus the
// time since it is the wall time, without a second clock read.
var clockAnchor atomic.Pointer[time.Time]

func (systemClock) Now() time.Time {
	if a := clockAnchor.Load(); a != nil {
		if d := time.Since(*a); d >= 0 && d < anchorEvery {
			return a.Add(d)
		}
	}
	now := time.Now()
	clockAnchor.Store(&now)
	return now
}
