package halt

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"
	"unsafe"
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
// Keys are built by the limiter as "halt:<policy>:{<client>}" (with a route
// part before the brace when the policy keys per route): exactly one pair
// of braces, around the client, so a store with hash slots (Redis Cluster)
// keeps every policy of one client in one slot. Braces and '%' inside the
// parts are escaped, so the pair is unambiguous.
//
// Being rate limited is not an error: it is Result.Allowed == false. Take
// returns an error only when the store could not decide (a network failure,
// a closed store); the Limiter then applies its fallback or failure mode.
//
// Beyond Take, a store may implement capabilities, each an interface of its
// own, which the limiter discovers once, at [New]: [Peeker], [Resetter] and
// [Refunder] today. Features that need one report at construction when the
// store lacks it. The conformance suite in core/halttest tests each
// capability a store implements.
type Store interface {
	Take(ctx context.Context, key []byte, p *Policy, now time.Time, cost int64) (Result, error)
}

// Peeker is a store that can read a key's standing without consuming: Peek
// returns what Take would answer for a request of the given cost at now
// (0: the policy's cost), and changes nothing. A cooldown the answer would
// start is not reported (nothing starts it).
type Peeker interface {
	Peek(ctx context.Context, key []byte, p *Policy, now time.Time, cost int64) (Result, error)
}

// Resetter is a store that can forget a key: after Reset the key decides as
// one never seen, cooldown included (for instance after a successful login
// or a solved captcha).
type Resetter interface {
	Reset(ctx context.Context, key []byte, p *Policy) error
}

// Refunder is a store that can give cost back: Refund returns cost (0: the
// policy's cost) to key as if that much of an earlier admission had not
// happened, never beyond full capacity, and leaves a cooldown in place (see
// [Policy.Refund]). Refunds exist for what a request took and must give
// back: a later limiter rejected it, or it did not count after all.
type Refunder interface {
	Refund(ctx context.Context, key []byte, p *Policy, now time.Time, cost int64) error
}

// MultiTaker is a store that decides several policies in one atomic step,
// all or nothing: TakeAll admits the request only if every policy admits
// it, and only then records it under each. When any policy rejects, no
// policy is charged (a cooldown the rejecting policy starts is recorded).
// out (as long as keys) receives each policy's answer: for an admission,
// each Take's; for a rejection, the rejecting policies' answers as Take
// gives them and the others' standing as Peek gives it. The limiter passes
// keys of one client, which share one hash tag, so a store with hash slots
// decides them in one slot.
type MultiTaker interface {
	TakeAll(ctx context.Context, keys [][]byte, ps []*Policy, now time.Time, cost int64, out []Result) error
}

// StateVersion is the version of the per-key state layout ([State]) that
// stores persist. Stores tag what they write with it and treat state of
// another version as a key never seen (or migrate it), so a later layout
// (a field added) is never misread from old data.
const StateVersion = 1

// ErrStoreClosed is returned by stores used after Close.
var ErrStoreClosed = errors.New("halt: store closed")

// ErrStoreUnavailable wraps store failures that the failure mode answered.
var ErrStoreUnavailable = errors.New("halt: store unavailable")

// ErrUnsupported is returned (wrapped) by limiter methods whose store lacks
// the capability they need.
var ErrUnsupported = errors.New("halt: the store does not support this")

// FailureMode says what the limiter does when its store fails and no
// fallback store ([WithFallback]) could decide.
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

// SystemClock is the real clock. It reads the monotonic clock, about half
// the cost of [time.Now] on Linux, and derives the wall time from an anchor
// that is read again every second: a step of the system's wall clock
// reaches it within a second, and between anchors it agrees with time.Now
// to within the clocks' drift (microseconds), which it absorbs rather than
// run back. The times it returns carry no monotonic clock reading (see
// package time): compare them as wall times.
var SystemClock Clock = systemClock{}

// ClockFunc adapts a function to a Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }

// NoticeSource is a store that reports conditions worth an operator's
// attention (going down, coming back). [New] registers the limiter's
// telemetry with it, so one [WithTelemetry] covers the limiter and its
// store. Stores implement it by embedding [NoticeSinks].
type NoticeSource interface {
	AddNoticeSink(t Telemetry)
}

// maxNoticeSinks bounds NoticeSinks: limiters are long-lived and few.
const maxNoticeSinks = 64

// NoticeSinks is the set of telemetry sinks a store reports notices to,
// for stores to embed. Adding a sink already held (==) does nothing; past
// 64 sinks the oldest is dropped. The zero value is ready and it is safe
// for concurrent use.
type NoticeSinks struct {
	mu    sync.Mutex
	sinks []Telemetry
}

// AddNoticeSink registers t.
func (s *NoticeSinks) AddNoticeSink(t Telemetry) {
	if t == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if reflect.TypeOf(t).Comparable() {
		for _, have := range s.sinks {
			if reflect.TypeOf(have).Comparable() && have == t {
				return
			}
		}
	}
	if len(s.sinks) == maxNoticeSinks {
		s.sinks = append(s.sinks[:0], s.sinks[1:]...)
	}
	s.sinks = append(s.sinks, t)
}

// Notify reports n to every sink and returns how many there were (0 means
// nobody heard it: the store should log it itself).
func (s *NoticeSinks) Notify(ctx context.Context, n Notice) int {
	s.mu.Lock()
	sinks := append([]Telemetry(nil), s.sinks...)
	s.mu.Unlock()
	for _, t := range sinks {
		t.OnNotice(ctx, n)
	}
	return len(sinks)
}

// isNil reports a nil interface or an interface holding a nil pointer,
// map, func, channel or slice (a typed nil, which would panic when used).
// A pointer, map, func or channel is held in the interface's data word
// itself: when the dynamic type is one of those pointer shapes and the
// word is set, the value is not nil, and reflect (about 10 ns) is asked
// only otherwise.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	if (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[1] != nil {
		switch reflect.TypeOf(v).Kind() {
		case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan:
			return false
		}
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
