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
	mu  sync.Mutex
	now time.Time
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
