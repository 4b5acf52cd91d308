package halt

import (
	"math"
	"time"
)

// State is what a store keeps per key; the algorithms read and update it in
// [Policy.Decide]. The zero State is a key never seen: a full bucket, an
// empty window. A store must hand Decide the same State it got back the last
// time for that key and policy, under a lock or as one atomic script.
type State struct {
	// Stamp is, for TokenBucket, the instant of the last admitted request
	// (Unix nanoseconds, 0 for none); for FixedWindow the index of the window
	// that Level counts; for SlidingWindow the index of the newest
	// sub-window that Slots holds.
	Stamp int64
	// Level is, for TokenBucket, the tokens left at Stamp; for FixedWindow
	// the cost admitted in window Stamp. Unused by SlidingWindow.
	Level float64
	// Until is the end of a cooldown (Unix nanoseconds), 0 for none.
	Until int64
	// Slots holds a SlidingWindow's per-sub-window counts as a ring indexed
	// by sub-window index modulo Policy.SubWindows(). Decide allocates it on
	// first use; other algorithms leave it nil. A State copied by assignment
	// shares Slots with the original: use [State.Clone] for an independent
	// copy.
	Slots []int64
}

// Clone returns a copy of s that shares nothing with it.
func (s State) Clone() State {
	if s.Slots != nil {
		s.Slots = append([]int64(nil), s.Slots...)
	}
	return s
}

// Reason says why a Decision came out as it did.
type Reason uint8

const (
	// ReasonAllowed means the request fits the limit.
	ReasonAllowed Reason = iota
	// ReasonLimited means the limit is used up until RetryAfter.
	ReasonLimited
	// ReasonCooldown means the key is serving a cooldown (Policy.BlockDuration).
	ReasonCooldown
	// ReasonCostExceedsCapacity means the request costs more than the policy can
	// ever grant; retrying will not help, so RetryAfter is zero and no
	// Retry-After is sent.
	ReasonCostExceedsCapacity
	// ReasonExempt means the request is exempt and consumed nothing.
	ReasonExempt
	// ReasonStoreError means the store failed and the failure mode decided.
	ReasonStoreError
	// ReasonSkipped means the limiter did not run (a skip function, or no key
	// under the strategy with the MissingKeySkip fallback).
	ReasonSkipped
	// ReasonMissingKey means the request has no key under its policy's
	// strategy (no credential, no user) and [MissingKeyDeny] rejects it,
	// with 401 by default and no Retry-After.
	ReasonMissingKey
)

// String returns the reason in snake case, as logged.
func (r Reason) String() string {
	switch r {
	case ReasonAllowed:
		return "allowed"
	case ReasonLimited:
		return "limited"
	case ReasonCooldown:
		return "cooldown"
	case ReasonCostExceedsCapacity:
		return "cost_exceeds_capacity"
	case ReasonExempt:
		return "exempt"
	case ReasonStoreError:
		return "store_error"
	case ReasonSkipped:
		return "skipped"
	case ReasonMissingKey:
		return "missing_key"
	case ReasonQuotaExceeded:
		return "quota_exceeded"
	case ReasonBanned:
		return "banned"
	case ReasonCanceled:
		return "canceled"
	}
	return "unknown"
}

// Result is what a store returns for one decision.
type Result struct {
	// Allowed reports whether the request was admitted (and recorded).
	Allowed bool
	// Remaining is how many more requests of the same cost would be
	// admitted right now; never negative.
	Remaining int64
	// ResetAfter is the time until the key is back to full capacity.
	ResetAfter time.Duration
	// RetryAfter is zero when allowed; when blocked, the earliest time after
	// which the same request would be admitted (positive), except for
	// ReasonCostExceedsCapacity, where no wait helps and it is zero.
	RetryAfter time.Duration
	// Reason says why.
	Reason Reason
	// Wait, for an admitted request of a policy with MaxWait, is how long
	// the request must wait for the token it reserved; zero otherwise.
	Wait time.Duration
}

// Decide runs the policy's algorithm for one request of the given cost at
// instant now (Unix nanoseconds), updating s in place. It is pure: no clock,
// no locks, no allocation once s.Slots exists. A cost of 0 means the policy's
// cost. The policy must be valid ([Policy.Validate]).
func (p *Policy) Decide(s *State, now int64, cost int64) Result {
	var r Result
	p.DecideInto(s, now, cost, &r)
	return r
}

// DecideInto is [Policy.Decide] writing the result to *r, which it
// overwrites: the same decision, for a store's hot path. (A Result is
// returned through memory, and reading it back whole right after it was
// written field by field costs a stall that a pointer avoids.)
func (p *Policy) DecideInto(s *State, now int64, cost int64, r *Result) {
	if cost <= 0 {
		cost = p.RequestCost()
	}
	if cost > p.Capacity() {
		*r = Result{Reason: ReasonCostExceedsCapacity, ResetAfter: p.untilFull(s, now)}
		return
	}
	if s.Until > now {
		wait := time.Duration(s.Until - now)
		*r = Result{Reason: ReasonCooldown, RetryAfter: wait, ResetAfter: max(wait, p.untilFull(s, now))}
		return
	}
	switch p.Algorithm {
	case InFlight:
		// Decided by leases (Leaser), not by State.
		*r = Result{Reason: ReasonLimited, RetryAfter: inFlightRetry, ResetAfter: inFlightRetry}
		return
	case FixedWindow:
		*r = p.fixedWindow(s, now, cost)
	case SlidingWindow:
		*r = p.slidingWindow(s, now, cost)
	default:
		p.tokenBucket(s, now, cost, r)
	}
	if !r.Allowed && p.BlockDuration > 0 {
		s.Until = now + int64(p.BlockDuration)
		r.RetryAfter = max(r.RetryAfter, p.BlockDuration)
		r.ResetAfter = max(r.ResetAfter, r.RetryAfter)
		r.Reason = ReasonCooldown
	}
}

// Peek is s's standing at now for requests of cost (0: the policy's
// cost), without changing s (s.Slots included): Allowed reports whether
// one would be admitted now, Remaining how many would (before any is
// taken: a key never seen has its whole capacity), ResetAfter the time
// until s is full again, and RetryAfter, when none would, the wait until
// one would. A cooldown already running is reported; one a rejection would
// start is not. It allocates only for a sliding window of more than 16
// sub-windows.
func (p *Policy) Peek(s *State, now int64, cost int64) Result {
	st := *s
	if st.Slots != nil {
		var buf [16]int64
		if len(st.Slots) <= len(buf) {
			st.Slots = append(buf[:0], st.Slots...)
		} else {
			st.Slots = append([]int64(nil), st.Slots...)
		}
	}
	q := *p
	q.BlockDuration = 0
	q.MaxWait = 0 // the standing is what passes now, without waiting
	r := q.Decide(&st, now, cost)
	if r.Allowed {
		// What one more take would leave, plus the one taken; and the
		// state as it stands.
		r.Remaining++
		r.ResetAfter = p.untilFull(s, now)
	}
	return r
}

// Refund gives cost (0: the policy's cost) back to s at now, as if that much
// of an admission had not happened: the token bucket regains the tokens (up
// to its capacity), the fixed window's count drops if its window is still
// the current one, and the sliding window's newest sub-windows still in the
// window give the counts back. Nothing is given beyond full capacity, and
// a cooldown stays in place. It allocates nothing.
func (p *Policy) Refund(s *State, now int64, cost int64) {
	if cost <= 0 {
		cost = p.RequestCost()
	}
	switch p.Algorithm {
	case InFlight:
	case FixedWindow:
		if s.Stamp == floorDiv(now, int64(p.Window)) {
			s.Level = max(0, s.Level-float64(cost))
		}
	case SlidingWindow:
		n := int64(len(s.Slots))
		if n == 0 {
			return
		}
		oldest := floorDiv(now, int64(p.Window)/n) - n + 1
		for i := s.Stamp; i > s.Stamp-n && i >= oldest && cost > 0; i-- {
			m := floorMod(i, n)
			back := min(cost, s.Slots[m])
			s.Slots[m] -= back
			cost -= back
		}
	default:
		if s.Stamp == 0 {
			return // a full bucket
		}
		s.Level = min(float64(p.Capacity()), s.Level+float64(cost))
	}
}

// TTL is how long a store must keep s after a decision at now: past it, a
// fresh State decides the same way. It includes a safety margin of a second.
func (p *Policy) TTL(s *State, now int64) time.Duration {
	d := p.untilFull(s, now)
	if p.Algorithm == TokenBucket && s.Stamp > now {
		// A clock that went back: the bucket refills from Stamp, not now.
		d += time.Duration(s.Stamp - now)
	}
	if s.Until > now {
		d = max(d, time.Duration(s.Until-now))
	}
	return d + time.Second
}

// TTLAfter is [Policy.TTL] of s right after Decide(s, now, cost) returned
// r: the same duration, without computing again what r already says (for a
// token bucket, the time until it is full is r.ResetAfter). Stores call it
// on their hot path; given any other r it is unspecified.
func (p *Policy) TTLAfter(s *State, now int64, r *Result) time.Duration {
	if p.Algorithm != TokenBucket || s.Stamp > now {
		return p.TTL(s, now)
	}
	// After a decision at now, r.ResetAfter is untilFull(s, now), or a
	// cooldown's end when later: what TTL takes the maximum of.
	return max(r.ResetAfter, time.Duration(s.Until-now)) + time.Second
}

// untilFull is the time from now until s is back to full capacity.
func (p *Policy) untilFull(s *State, now int64) time.Duration {
	switch p.Algorithm {
	case FixedWindow:
		k := floorDiv(now, int64(p.Window))
		if s.Stamp < k || s.Level == 0 {
			return 0
		}
		return time.Duration((s.Stamp+1)*int64(p.Window) - now)
	case SlidingWindow:
		sub := int64(p.Window) / int64(p.SubWindows())
		newest, ok := p.newestUsedSlot(s)
		if !ok {
			return 0
		}
		return time.Duration(max(0, (newest+int64(p.SubWindows()))*sub-now))
	default:
		if s.Stamp == 0 {
			return 0
		}
		rate := p.tokenRate()
		return durationFromTokens(float64(p.Capacity())-p.tokensAt(s, now, rate), rate)
	}
}

// The token bucket mirrors golang.org/x/time/rate's float arithmetic step
// for step, so the two agree decision for decision given the same instants.
// The rate is computed once per call and passed along: float divisions are
// most of a decision's cost, and the value is the same bits every time, as
// x/time/rate's stored rate.Limit is.

// tokenRate is the refill rate in tokens per second.
func (p *Policy) tokenRate() float64 {
	if p.Window == time.Second {
		return float64(p.Limit) // x/1 is x: the same bits, without the division
	}
	return float64(p.Limit) / seconds(p.Window)
}

// seconds is d.Seconds(), the same bits, without its division when d is
// whole seconds (as windows usually are).
func seconds(d time.Duration) float64 {
	if d%time.Second == 0 {
		return float64(d / time.Second)
	}
	return d.Seconds()
}

// durationFromTokens is how long refilling tokens takes at rate, truncated
// to the nanosecond as x/time/rate does.
func durationFromTokens(tokens, rate float64) time.Duration {
	if tokens <= 0 {
		return 0
	}
	d := tokens / rate * float64(time.Second)
	if d > float64(math.MaxInt64) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d)
}

// tokensAt is the bucket's level at now, refilling at rate.
func (p *Policy) tokensAt(s *State, now int64, rate float64) float64 {
	burst := float64(p.Capacity())
	if s.Stamp == 0 {
		return burst
	}
	last := s.Stamp
	if now < last {
		last = now
	}
	tokens := s.Level
	if now != last { // nothing to add, and no division, right after a decision
		tokens += seconds(time.Duration(now-last)) * rate
	}
	if tokens > burst {
		tokens = burst
	}
	return tokens
}

func (p *Policy) tokenBucket(s *State, now int64, cost int64, r *Result) {
	rate := p.tokenRate()
	filled := p.tokensAt(s, now, rate)
	left := filled - float64(cost)
	if wait := durationFromTokens(-left, rate); wait > 0 {
		if wait <= p.MaxWait {
			// A reservation: the token is taken now, into debt, and the
			// request waits until it is due.
			s.Stamp, s.Level = now, left
			*r = Result{
				Allowed:    true,
				Wait:       wait,
				ResetAfter: durationFromTokens(float64(p.Capacity())-left, rate),
			}
			return
		}
		*r = Result{
			Reason:     ReasonLimited,
			RetryAfter: wait - p.MaxWait,
			ResetAfter: durationFromTokens(float64(p.Capacity())-filled, rate),
		}
		return
	}
	s.Stamp, s.Level = now, left
	perCost := left
	if cost != 1 {
		perCost = left / float64(cost)
	}
	remaining := int64(math.Floor(perCost))
	if remaining < 0 {
		remaining = 0
	}
	// One more fits if its deficit refills in under a nanosecond (as
	// x/time/rate would admit it); a deficit of two nanoseconds' refill or
	// more surely does not, without the division.
	if deficit := float64(cost)*float64(remaining+1) - left; deficit*float64(time.Second) < 2*rate &&
		durationFromTokens(deficit, rate) == 0 {
		remaining++
	}
	*r = Result{
		Allowed:    true,
		Remaining:  remaining,
		ResetAfter: durationFromTokens(float64(p.Capacity())-left, rate),
	}
}

func (p *Policy) fixedWindow(s *State, now int64, cost int64) Result {
	w := int64(p.Window)
	k := floorDiv(now, w)
	if k > s.Stamp {
		s.Stamp, s.Level = k, 0
	}
	// A clock that went back stays in the newest window seen.
	end := time.Duration((s.Stamp+1)*w - now)
	count := int64(s.Level)
	if count+cost > p.Limit {
		return Result{Reason: ReasonLimited, Remaining: (p.Limit - count) / cost, RetryAfter: end, ResetAfter: end}
	}
	count += cost
	s.Level = float64(count)
	return Result{Allowed: true, Remaining: (p.Limit - count) / cost, ResetAfter: end}
}

func (p *Policy) slidingWindow(s *State, now int64, cost int64) Result {
	n := int64(p.SubWindows())
	sub := int64(p.Window) / n
	j := floorDiv(now, sub)
	if int64(len(s.Slots)) != n {
		s.Slots = make([]int64, n)
		s.Stamp = j
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
	j = s.Stamp // a clock that went back counts in the newest sub-window
	var sum int64
	for _, c := range s.Slots {
		sum += c
	}
	if sum+cost > p.Limit {
		need := sum + cost - p.Limit
		var freed int64
		retry := time.Duration(0)
		for i := j - n + 1; i <= j; i++ {
			freed += s.Slots[floorMod(i, n)]
			if freed >= need {
				retry = time.Duration((i+n)*sub - now)
				break
			}
		}
		return Result{
			Reason:     ReasonLimited,
			Remaining:  max(0, p.Limit-sum) / cost,
			RetryAfter: retry,
			ResetAfter: p.untilFull(s, now),
		}
	}
	s.Slots[floorMod(j, n)] += cost
	sum += cost
	return Result{Allowed: true, Remaining: (p.Limit - sum) / cost, ResetAfter: time.Duration((j+n)*sub - now)}
}

// newestUsedSlot is the index of the newest sub-window with a count.
func (p *Policy) newestUsedSlot(s *State) (int64, bool) {
	n := int64(len(s.Slots))
	for i := s.Stamp; i > s.Stamp-n; i-- {
		if s.Slots[floorMod(i, n)] != 0 {
			return i, true
		}
	}
	return 0, false
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
