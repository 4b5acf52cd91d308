package halt

import (
	"context"
	"errors"
	"time"
)

// Store decides and records one request atomically: two callers, in one
// process or many, can never both take the last token.
//
// Take runs [Policy.Decide] for key at instant now with the given cost and
// persists the new state, in one step. The key is only valid during the
// call: a store that keeps it must copy it. A store that reads its own clock
// (such as Redis TIME) may ignore now and must document so. The policy is
// valid and must not be modified.
//
// Being rate limited is not an error: it is Result.Allowed == false. Take
// returns an error only when the store could not decide (a network failure,
// a closed store); the Limiter then applies its failure mode.
type Store interface {
	Take(ctx context.Context, key []byte, p *Policy, now time.Time, cost int64) (Result, error)
}

// ErrStoreClosed is returned by stores used after Close.
var ErrStoreClosed = errors.New("halt: store closed")

// ErrStoreUnavailable wraps store failures that the failure mode answered.
var ErrStoreUnavailable = errors.New("halt: store unavailable")

// FailureMode says what the limiter does when its store fails.
type FailureMode uint8

const (
	// FailOpen admits the request without rate-limit headers (the default):
	// a broken store must not take the application down.
	FailOpen FailureMode = iota
	// FailClosed rejects the request, with 503 Service Unavailable by
	// default (see [WithFailClosedStatus]).
	FailClosed
)

// Clock tells the time. Inject one with [WithClock] in tests.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// ClockFunc adapts a function to a Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }
