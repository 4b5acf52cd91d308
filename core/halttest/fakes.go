package halttest

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	halt "github.com/halt-go/halt/core"
)

// Clock is a manual halt.Clock for tests. The zero value starts at Base. It
// is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*clockTimer
}

// clockTimer is a timer of Clock.After.
type clockTimer struct {
	at time.Time
	ch chan time.Time
}

var _ halt.TimerClock = (*Clock)(nil)

// After implements halt.TimerClock: the channel receives once Advance has
// moved the clock d past now. The function stops the timer and reports
// whether it was still pending.
func (c *Clock) After(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = Base
	}
	tm := &clockTimer{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		tm.ch <- c.now
		return tm.ch, func() bool { return false }
	}
	c.timers = append(c.timers, tm)
	return tm.ch, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.timers {
			if x == tm {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				return true
			}
		}
		return false
	}
}

// Timers returns how many timers of After are pending: tests wait for
// their waiters to be in place before advancing the clock.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// NewClock returns a Clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = Base
	}
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = Base
	}
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(c.now) {
			kept = append(kept, tm)
			continue
		}
		tm.ch <- c.now
	}
	clear(c.timers[len(kept):])
	c.timers = kept
}

// ErrBroken is what FailingStore returns.
var ErrBroken = errors.New("halttest: store is broken")

// FailingStore is a halt.Store whose every Take fails, as a store whose
// backend is down.
type FailingStore struct{}

// Take always returns ErrBroken.
func (FailingStore) Take(context.Context, []byte, *halt.Policy, time.Time, int64) (halt.Result, error) {
	return halt.Result{}, ErrBroken
}

// FakeRequest is a halt.Request built from plain fields, for core tests and
// examples that need no HTTP server.
type FakeRequest struct {
	Ctx     context.Context
	Verb    string
	URLPath string
	// RoutePattern is what Route returns.
	RoutePattern string
	Headers      http.Header
	Peer         string
	Values       map[any]any
}

var _ halt.Request = (*FakeRequest)(nil)

// Context returns Ctx or context.Background().
func (r *FakeRequest) Context() context.Context {
	if r.Ctx == nil {
		return context.Background()
	}
	return r.Ctx
}

// Method returns Verb or GET.
func (r *FakeRequest) Method() string {
	if r.Verb == "" {
		return http.MethodGet
	}
	return r.Verb
}

// Path returns URLPath or "/".
func (r *FakeRequest) Path() string {
	if r.URLPath == "" {
		return "/"
	}
	return r.URLPath
}

// Route returns RoutePattern.
func (r *FakeRequest) Route() string { return r.RoutePattern }

// Header returns the first value of the header.
func (r *FakeRequest) Header(name string) string { return r.Headers.Get(name) }

// HeaderValues returns every value of the header.
func (r *FakeRequest) HeaderValues(name string) []string { return r.Headers.Values(name) }

// RemoteAddr returns Peer.
func (r *FakeRequest) RemoteAddr() string { return r.Peer }

// Value returns Values[key].
func (r *FakeRequest) Value(key any) any { return r.Values[key] }
