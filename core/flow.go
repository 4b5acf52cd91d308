package halt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Flow control: what happens around the handler rather than at the door.
//
//   - Count by outcome (Policy.Count): the request is taken up front, so a
//     burst cannot slip past while handlers run, and given back after the
//     response when its status does not count ([Limiter.Finish]).
//   - Settle (Limiter.Settle): a request reserves an estimate and settles
//     the real cost once it is known, up (into debt) or down (a refund).
//   - Wait (Policy.MaxWait): a token bucket request that would wait at most
//     MaxWait for its token reserves it and Check returns once it is due.
//   - In flight (the InFlight algorithm): at most Limit requests at once
//     per key, each holding a lease that Finish releases.

// ReasonCanceled means the request's context ended while it waited for its
// token (Policy.MaxWait); the token it had reserved was given back.
const ReasonCanceled Reason = 102

// CountFailures is a Policy.Count that counts only failed requests, those
// answered with a status of 400 or more: a login or OTP endpoint limits
// wrong attempts, not users who get it right.
func CountFailures(status int) bool { return status >= 400 }

// CountSuccesses is a Policy.Count that counts only successful requests,
// those answered with a status below 400.
func CountSuccesses(status int) bool { return status < 400 }

// Charger is a store that can record cost unconditionally: Charge takes
// cost from key at now even when that leaves the key in debt (a token
// bucket below zero, a window above its limit), so later requests wait
// for it. [Limiter.Settle] uses it to settle up.
type Charger interface {
	Charge(ctx context.Context, key []byte, p *Policy, now time.Time, cost int64) error
}

// Leaser is a store that holds leases for InFlight policies. Acquire
// admits the request when the key holds fewer than p.Limit unexpired
// leases and then records lease id, expiring p.Window after now; Release
// frees it (a lease already expired or released is no error). A lease that
// is never released (a crashed instance) frees itself when it expires.
type Leaser interface {
	Acquire(ctx context.Context, key []byte, p *Policy, now time.Time, id uint64) (Result, error)
	Release(ctx context.Context, key []byte, p *Policy, id uint64) error
}

// MaxInFlight bounds an InFlight policy's Limit: a key's leases are kept
// as a list.
const MaxInFlight = 10_000

// Leases is the lease state of one key under an InFlight policy, for
// stores that keep it in memory: Policy.Acquire and Leases.Release decide
// on it. The zero value holds no lease.
type Leases struct {
	ids   []uint64
	until []int64 // Unix nanoseconds
}

// Len returns the number of leases held, expired or not.
func (ls *Leases) Len() int { return len(ls.ids) }

// Expire drops the leases expired at now (Unix nanoseconds).
func (ls *Leases) Expire(now int64) {
	j := 0
	for i := range ls.ids {
		if ls.until[i] > now {
			ls.ids[j], ls.until[j] = ls.ids[i], ls.until[i]
			j++
		}
	}
	ls.ids, ls.until = ls.ids[:j], ls.until[:j]
}

// Release frees lease id and reports whether it was held.
func (ls *Leases) Release(id uint64) bool {
	for i, have := range ls.ids {
		if have == id {
			last := len(ls.ids) - 1
			ls.ids[i], ls.until[i] = ls.ids[last], ls.until[last]
			ls.ids, ls.until = ls.ids[:last], ls.until[:last]
			return true
		}
	}
	return false
}

// Expiry is when the last lease held expires (Unix nanoseconds), 0 for
// none: a store may forget the key after it.
func (ls *Leases) Expiry() int64 {
	var last int64
	for _, u := range ls.until {
		last = max(last, u)
	}
	return last
}

// inFlightRetry is the Retry-After of an in-flight rejection: nothing says
// when a slot frees, so clients are asked to try again shortly.
const inFlightRetry = time.Second

// Acquire decides an InFlight request at now (Unix nanoseconds) on ls:
// expired leases go first, then the request is admitted with lease id
// (expiring p.Window after now) if fewer than p.Limit are held. Remaining
// is the slots still free; a rejection's RetryAfter is one second, or less
// when the first lease expires sooner.
func (p *Policy) Acquire(ls *Leases, now int64, id uint64) Result {
	ls.Expire(now)
	if int64(len(ls.ids)) >= p.Limit {
		retry := inFlightRetry
		for _, u := range ls.until {
			retry = min(retry, time.Duration(u-now))
		}
		return Result{Reason: ReasonLimited, RetryAfter: retry, ResetAfter: retry}
	}
	ls.ids = append(ls.ids, id)
	ls.until = append(ls.until, now+int64(p.Window))
	return Result{Allowed: true, Remaining: p.Limit - int64(len(ls.ids))}
}

// Charge takes cost (0: the policy's cost) from s at now without deciding:
// the token bucket's level drops (below zero: debt that later requests
// wait for), the fixed window's count and the sliding window's newest
// sub-window grow. A cooldown is left as it is. It allocates only for a
// sliding window's first state.
func (p *Policy) Charge(s *State, now int64, cost int64) {
	if cost <= 0 {
		cost = p.RequestCost()
	}
	switch p.Algorithm {
	case FixedWindow:
		k := floorDiv(now, int64(p.Window))
		if k > s.Stamp {
			s.Stamp, s.Level = k, 0
		}
		s.Level += float64(cost)
	case SlidingWindow:
		n := int64(p.SubWindows())
		j := floorDiv(now, int64(p.Window)/n)
		if int64(len(s.Slots)) != n {
			s.Slots, s.Stamp = make([]int64, n), j
		}
		switch {
		case j-s.Stamp >= n:
			clear(s.Slots)
			s.Stamp = j
		case j > s.Stamp:
			for i := s.Stamp + 1; i <= j; i++ {
				s.Slots[floorMod(i, n)] = 0
			}
			s.Stamp = j
		}
		s.Slots[floorMod(s.Stamp, n)] += cost
	case InFlight:
	default:
		filled := p.tokensAt(s, now, p.tokenRate())
		if now > s.Stamp {
			s.Stamp = now
		}
		s.Level = filled - float64(cost)
	}
}

// finishes reports whether d needs [Limiter.Finish]: it holds a lease, or
// it was counted under a policy that counts by outcome.
func (l *Limiter) finishes(d *Decision) bool {
	if d.lease != nil {
		return true
	}
	if !d.Counted() {
		return false
	}
	if d.multi == nil {
		return (d.cp != nil && d.cp.Count != nil) || (d.pair.cp != nil && d.pair.cp.Count != nil)
	}
	for i := range d.multi.each {
		if cp := d.multi.each[i].cp; cp != nil && cp.Count != nil {
			return true
		}
	}
	return false
}

// NeedsFinish reports whether d asks for [Limiter.Finish] once the response
// is known: it holds an in-flight lease, or a policy that decided it counts
// by outcome. Adapters call Finish only then, so other requests pay
// nothing for the feature.
func (d *Decision) NeedsFinish() bool { return d.finish }

// Finish completes the request d was decided for, once its response status
// is known (a handler that panicked counts as 500): it releases d's
// in-flight lease, and gives back what d took under each policy whose
// Count says the status does not count. Every adapter's middleware calls
// it; call it yourself after [Limiter.Check] when you use the limiter
// directly. It does nothing for a decision that needs no finish, and is
// idempotent.
func (l *Limiter) Finish(ctx context.Context, req Request, d *Decision, status int) error {
	if d == nil || !d.finish {
		return nil
	}
	if isNil(req) {
		return ErrNilRequest
	}
	d.finish = false
	if ctx == nil || ctx.Err() != nil {
		// The client may have gone; what it holds must still be freed.
		ctx = context.WithoutCancel(orBackground(ctx))
	}
	var errs []error
	if ls := d.lease; ls != nil {
		d.lease = nil
		if err := l.release(ctx, ls); err != nil {
			errs = append(errs, err)
		}
	}
	if d.Counted() {
		if err := l.giveBack(ctx, req, d, func(cp *compiled) bool {
			return cp.Count != nil && !cp.Count(status)
		}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// Settle settles the cost of the request d was decided for, once its real
// cost is known (tokens an LLM call used, rows an export wrote): when
// actual exceeds what d took, the difference is charged (the key may go
// into debt, and later requests wait for it); when it is less, the
// difference is given back. d then records actual, so settling again
// settles against it. It applies to every rate policy that counted d
// (quotas and shadow policies included are left as taken); it needs a
// store implementing [Refunder] to settle down and [Charger] to settle up.
// A decision that took nothing (exempt, rejected, failed open) settles
// nothing.
func (l *Limiter) Settle(ctx context.Context, req Request, d *Decision, actual int64) error {
	if isNil(req) {
		return ErrNilRequest
	}
	if d == nil || !d.Counted() {
		return nil
	}
	if actual < 0 {
		return fmt.Errorf("halt: Settle: actual cost must not be negative, got %d", actual)
	}
	if ctx == nil {
		ctx = req.Context()
	}
	// The record of each policy, by pointer: for a pair, built here and
	// their costs written back below.
	var pairBuf [2]Decision
	ptrs := [2]*Decision{d}
	list := ptrs[:1]
	switch {
	case d.multi != nil:
		list = list[:0]
		for i := range d.multi.each {
			list = append(list, &d.multi.each[i])
		}
	case d.pair.cp != nil:
		d.records(&pairBuf)
		list = append(list[:0], &pairBuf[0], &pairBuf[1])
	}
	c := l.ip.resolve(req)
	now := l.clock.Now()
	var errs []error
	for _, s := range list {
		if s.taken == takenNone || s.cp == nil || s.cp.quota != nil || s.cp.Algorithm == InFlight {
			continue
		}
		took := s.cost
		if took <= 0 {
			took = s.cp.RequestCost()
		}
		diff := actual - took
		if diff == 0 {
			continue
		}
		store := l.store
		if s.taken == takenFallback {
			store = l.fallback
		}
		key, _, ok := l.buildKey(nil, s.cp, s.cp.KeyFunc, req, c)
		if !ok || keySum(key) != s.sum {
			continue
		}
		var err error
		switch {
		case diff < 0:
			ref, ok := store.(Refunder)
			if !ok {
				err = fmt.Errorf("%w: Settle needs a store implementing halt.Refunder, not %T", ErrUnsupported, store)
				break
			}
			if err = ref.Refund(ctx, key, &s.cp.Policy, now, -diff); err != nil {
				err = fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
			}
		default:
			ch, ok := store.(Charger)
			if !ok {
				err = fmt.Errorf("%w: Settle needs a store implementing halt.Charger, not %T", ErrUnsupported, store)
				break
			}
			if err = ch.Charge(ctx, key, &s.cp.Policy, now, diff); err != nil {
				err = fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.cost = actual
		if actual == 0 {
			s.cost = -1 // took nothing; 0 would mean the policy's cost
		}
	}
	switch {
	case d.multi != nil && len(d.multi.each) > 0:
		d.cost = d.multi.each[0].cost
	case d.pair.cp != nil:
		own, other := &pairBuf[0], &pairBuf[1]
		if d.pairFirst {
			own, other = other, own
		}
		d.cost, d.pair.cost = own.cost, other.cost
	}
	return errors.Join(errs...)
}

// lease is an in-flight slot a decision holds until Finish.
type lease struct {
	key    []byte // in inline when it fits: one allocation per lease
	cp     *compiled
	id     uint64
	store  Store
	inline [64]byte
}

// newLease returns a lease holding its own copy of key.
func newLease(key []byte, cp *compiled, id uint64, store Store) *lease {
	ls := &lease{cp: cp, id: id, store: store}
	ls.key = append(ls.inline[:0], key...)
	return ls
}

func (l *Limiter) release(ctx context.Context, ls *lease) error {
	lr, ok := ls.store.(Leaser)
	if !ok {
		return nil
	}
	if err := lr.Release(ctx, ls.key, &ls.cp.Policy, ls.id); err != nil {
		return fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	return nil
}

// acquire decides an InFlight request: a lease from the store (or the
// fallback store), or the failure mode.
func (l *Limiter) acquire(ctx context.Context, t *target, now time.Time) (Decision, error) {
	id := rand.Uint64() | 1
	var err error
	for i, s := range []Store{l.store, l.fallback} {
		lr, ok := s.(Leaser)
		if s == nil || !ok {
			if i == 0 {
				err = fmt.Errorf("%w: an InFlight policy needs a store implementing halt.Leaser, not %T", ErrUnsupported, s)
			}
			continue
		}
		res, aerr := lr.Acquire(ctx, t.key, &t.cp.Policy, now, id)
		if aerr != nil {
			if i == 0 {
				err = fmt.Errorf("%w: %w", ErrStoreUnavailable, aerr)
			}
			continue
		}
		d := l.decision(t.cp, &res, now)
		if d.Allowed {
			d.taken = takenStore
			if i == 1 {
				d.taken = takenFallback
			}
			d.sum = keySum(t.key)
			d.lease = newLease(t.key, t.cp, id, s)
			d.finish = true
		}
		if i == 1 {
			l.telemetry.OnError(ctx, Event{Policy: d.Policy, Store: l.storeName, Decision: d, key: t.clientBytes()}, err)
		}
		l.report(ctx, t, &d)
		return d, err
	}
	cp := t.cp
	d := Decision{Allowed: l.failure == FailOpen, Reason: ReasonStoreError, Policy: cp.Name,
		Limit: cp.Limit, Window: cp.Window, At: now, cp: cp}
	if !d.Allowed {
		d.RetryAfter, d.ResetAfter = time.Second, time.Second
	}
	e := Event{Policy: cp.Name, Store: l.storeName, Decision: d, key: t.clientBytes()}
	l.telemetry.OnError(ctx, e, err)
	if !l.quiet {
		decide(ctx, l.telemetry, &e)
	}
	return d, err
}

// TimerClock is a Clock that also times waits: when the limiter's clock
// ([WithClock]) implements it, requests waiting for their token
// (Policy.MaxWait) wait on its timers, so tests decide when they are due.
// After returns a channel that receives once d has passed, and a function
// that stops the timer.
type TimerClock interface {
	Clock
	After(d time.Duration) (<-chan time.Time, func() bool)
}

// Default bounds on waiting requests ([WithWaitLimits]).
const (
	DefaultMaxWaitingPerKey = 64
	DefaultMaxWaiting       = 4096
)

// WithWaitLimits bounds the requests that wait for their token
// (Policy.MaxWait): at most perKey at once for one key and total at once
// in the limiter. A request that would wait beyond either bound is
// rejected at once, as if it had to wait longer than MaxWait, and its
// reserved token is given back. The defaults are DefaultMaxWaitingPerKey
// and DefaultMaxWaiting. Both must be positive.
func WithWaitLimits(perKey, total int) Option {
	return optionFunc(func(l *Limiter) error {
		if perKey <= 0 || total <= 0 {
			return fmt.Errorf("halt: wait limits must be positive, got %d per key and %d in all", perKey, total)
		}
		l.waiting.perKey, l.waiting.max = int32(min(perKey, 1<<30)), int64(total)
		return nil
	})
}

// waiters counts the requests waiting for their token, in all and per key
// (by the hash of the key). Each key in the table has at least one waiter,
// so the table holds at most max entries.
type waiters struct {
	perKey int32
	max    int64
	total  atomic.Int64
	mu     sync.Mutex
	byKey  map[uint64]int32
}

func (w *waiters) enter(sum uint64) bool {
	if w.total.Add(1) > w.max {
		w.total.Add(-1)
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.byKey == nil {
		w.byKey = make(map[uint64]int32)
	}
	if w.byKey[sum] >= w.perKey {
		w.total.Add(-1)
		return false
	}
	w.byKey[sum]++
	return true
}

func (w *waiters) leave(sum uint64) {
	w.mu.Lock()
	if n := w.byKey[sum] - 1; n > 0 {
		w.byKey[sum] = n
	} else {
		delete(w.byKey, sum)
	}
	w.mu.Unlock()
	w.total.Add(-1)
}

// Waiting returns how many requests wait for their token right now.
func (l *Limiter) Waiting() int { return int(l.waiting.total.Load()) }

// await holds an admitted request whose token is due after wait: it
// returns d once the token is due, or, when the request's context ends
// first or the wait bounds are full, gives the token back and returns a
// rejection.
func (l *Limiter) await(ctx context.Context, t *target, d Decision, store Store, wait time.Duration, now time.Time, cost int64) (Decision, error) {
	sum := d.sum
	reject := func(reason Reason, retry time.Duration) Decision {
		if ref, ok := store.(Refunder); ok {
			_ = ref.Refund(context.WithoutCancel(ctx), t.key, &t.cp.Policy, now, cost)
		}
		r := Decision{Reason: reason, Policy: d.Policy, Limit: d.Limit, Window: d.Window,
			RetryAfter: retry, ResetAfter: max(d.ResetAfter, retry), At: now, cp: d.cp}
		l.report(ctx, t, &r)
		return r
	}
	if !l.waiting.enter(sum) {
		return reject(ReasonLimited, max(time.Nanosecond, wait-t.cp.MaxWait)), nil
	}
	defer l.waiting.leave(sum)
	var ch <-chan time.Time
	var stop func() bool
	if tc, ok := l.clock.(TimerClock); ok {
		ch, stop = tc.After(wait)
	} else {
		tm := time.NewTimer(wait)
		ch, stop = tm.C, tm.Stop
	}
	select {
	case <-ch:
		d.Wait = wait
		l.report(ctx, t, &d)
		return d, nil
	case <-ctx.Done():
		stop()
		return reject(ReasonCanceled, wait), ctx.Err()
	}
}

// Reservation is a handler-level admission whose real cost is settled
// once the work is done: the adapters' Reserve functions return one
// (halthttp.Reserve, haltgin.Reserve, ...). It is used by one handler, not
// concurrently.
type Reservation struct {
	l   *Limiter
	req Request
	d   Decision
}

// NewReservation holds d, decided for req by l, for settling later. It is
// for adapters; applications get reservations from an adapter's Reserve.
func NewReservation(l *Limiter, req Request, d Decision) *Reservation {
	return &Reservation{l: l, req: req, d: d}
}

// Decision returns the decision the reservation was admitted with (its
// cost as last settled).
func (r *Reservation) Decision() Decision { return r.d }

// Settle settles the reservation at its real cost ([Limiter.Settle]): up
// into debt, or down with a refund. Settling again settles against the
// last settled cost. It uses the request's context, or a context that
// outlives it when the client has gone.
func (r *Reservation) Settle(actual int64) error {
	ctx := r.req.Context()
	if ctx == nil || ctx.Err() != nil {
		ctx = context.WithoutCancel(orBackground(ctx))
	}
	return r.l.Settle(ctx, r.req, &r.d, actual)
}
