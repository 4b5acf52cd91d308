package halt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultHealthPaths are exempt from every limiter unless replaced with
// [WithHealthPaths].
var DefaultHealthPaths = []string{"/health", "/ping", "/ready", "/healthz", "/livez"}

// ErrNilRequest is returned by Check and the other per-request methods when
// given a nil Request.
var ErrNilRequest = errors.New("halt: nil Request")

// ErrNilDecision is returned by CheckCostInto when it is given no
// Decision to write to.
var ErrNilDecision = errors.New("halt: nil *Decision")

// ErrInvalidPolicy wraps the *PolicyError of a resolved policy that failed
// validation (see [WithPolicyResolver]).
var ErrInvalidPolicy = errors.New("halt: invalid resolved policy")

// Limiter applies one policy (or a per-request policy) to requests through a
// Store. It is safe for concurrent use. Create it with [New].
type Limiter struct {
	store    Store
	peeker   Peeker
	resetter Resetter
	refunder Refunder
	multiT   MultiTaker
	fallback Store
	extra    []*compiled // WithPolicies
	quotas   []*compiled // WithQuotas (quota_limiter.go)
	penalty  *penalties  // WithPenalties (penalty_limiter.go)
	multi    bool        // several policies, or a shadow one: the multi path

	policy   *compiled
	resolver func(Request) Policy
	cache    policyCache
	invalid  nameSet // policy names reported invalid

	clock    Clock
	ip       ipResolver
	ipv6Bits int
	private  bool
	health   []string
	userKey  any
	missing  MissingKey
	failure  FailureMode
	status   rejectStatus

	telemetry Telemetry
	logger    *slog.Logger
	style     HeaderStyle
	quiet     bool           // telemetry wants no per-request events
	timer     StoreTimer     // telemetry that times store decisions, or nil
	counter   RequestCounter // telemetry that counts requests without Events, or nil
	waiting   waiters        // requests waiting for their token (flow.go)

	storeName, fallbackName string // Event.Store

	warnedProxy     atomic.Bool // NoticeUntrustedProxy sent
	warnedPrivate   atomic.Bool // NoticePrivateExempt sent
	warnedProxyOnly atomic.Bool // NoticeProxyOnly sent

	keyPool sync.Pool
}

// rejectStatus holds the HTTP status of each kind of rejection.
type rejectStatus struct {
	limited, tooCostly, missing, failed, banned int
}

func (l *Limiter) rejectStatus(r Reason) int {
	switch r {
	case ReasonCostExceedsCapacity:
		return l.status.tooCostly
	case ReasonMissingKey:
		return l.status.missing
	case ReasonStoreError:
		return l.status.failed
	case ReasonBanned:
		return l.status.banned
	}
	return l.status.limited
}

// New returns a Limiter applying p through store. It validates p and the
// options and returns the first error; it never panics. A nil store, or an
// interface holding a nil pointer, is an error.
func New(store Store, p Policy, opts ...Option) (*Limiter, error) {
	if isNil(store) {
		return nil, fmt.Errorf("halt: store must not be nil (got %T)", store)
	}
	cp, err := compile(p)
	if err != nil {
		return nil, err
	}
	l := &Limiter{
		store:    store,
		policy:   cp,
		clock:    SystemClock,
		ipv6Bits: 64,
		private:  true,
		health:   DefaultHealthPaths,
		userKey:  DefaultUserKey,
		status: rejectStatus{
			limited:   http.StatusTooManyRequests,
			tooCostly: http.StatusTooManyRequests,
			missing:   http.StatusUnauthorized,
			failed:    http.StatusServiceUnavailable,
			banned:    http.StatusForbidden,
		},
		logger: slog.Default(),
		style:  Standard,
	}
	for _, o := range opts {
		if isNil(o) {
			continue
		}
		if err := o.apply(l); err != nil {
			return nil, err
		}
	}
	if l.ip.trustAll && len(l.ip.trusted) > 0 {
		return nil, errors.New("halt: WithTrustAllProxies and WithTrustedProxies exclude each other")
	}
	if l.telemetry == nil {
		l.telemetry = &defaultTelemetry{log: SlogTelemetry{Logger: l.logger}}
	}
	l.quiet = quietSink(l.telemetry)
	l.timer, _ = l.telemetry.(StoreTimer)
	l.counter, _ = l.telemetry.(RequestCounter)
	l.storeName = storeName(store)
	if l.fallback != nil {
		l.fallbackName = storeName(l.fallback)
	}
	l.peeker, _ = store.(Peeker)
	l.resetter, _ = store.(Resetter)
	l.refunder, _ = store.(Refunder)
	l.multiT, _ = store.(MultiTaker)
	if err := l.initPolicies(); err != nil {
		return nil, err
	}
	for _, s := range []Store{store, l.fallback} {
		if src, ok := s.(NoticeSource); ok {
			src.AddNoticeSink(l.telemetry)
		}
	}
	l.keyPool.New = func() any { b := make([]byte, 0, 384); return &b }
	return l, nil
}

// Policy returns a copy of the limiter's default policy.
func (l *Limiter) Policy() Policy {
	p := l.policy.Policy
	p.Exemptions = append([]string(nil), p.Exemptions...)
	return p
}

// HeaderStyle returns the header style adapters render with.
func (l *Limiter) HeaderStyle() HeaderStyle { return l.style }

// CheckOption adjusts one check.
type CheckOption struct {
	cost   int64
	policy *Policy
}

// WithCost sets the cost of this request, overriding the policy's Cost. A
// cost of zero or less keeps the policy's cost.
func WithCost(n int64) CheckOption { return CheckOption{cost: n} }

// WithPolicy decides this request under p instead of the limiter's policy.
// p is validated and cached by name, like resolver results.
func WithPolicy(p Policy) CheckOption { return CheckOption{policy: &p} }

// Check decides whether req may proceed, and records it if so. Being rate
// limited is not an error: it is Decision.Allowed == false. The error is
// non-nil when the store failed (wrapped with ErrStoreUnavailable; the
// decision is then the fallback store's, or the failure mode's), when a
// resolved policy was invalid (wrapped with ErrInvalidPolicy; the decision
// is the default policy's), or when req is nil (ErrNilRequest; the request
// is rejected).
func (l *Limiter) Check(ctx context.Context, req Request, opts ...CheckOption) (Decision, error) {
	var cost int64
	var override *Policy
	for _, o := range opts {
		if o.cost > 0 {
			cost = o.cost
		}
		if o.policy != nil {
			override = o.policy
		}
	}
	return l.check(ctx, req, cost, override)
}

// CheckCost is Check with a cost, without building options: the adapters'
// hot path. A cost of zero or less means the policy's cost.
func (l *Limiter) CheckCost(ctx context.Context, req Request, cost int64) (Decision, error) {
	return l.check(ctx, req, cost, nil)
}

// CheckCostInto is CheckCost writing the decision to *d (which it
// overwrites) instead of returning it: the same check, for adapters that
// keep the decision in a variable of their own and would otherwise copy
// it from call to call.
func (l *Limiter) CheckCostInto(ctx context.Context, req Request, cost int64, d *Decision) error {
	if d == nil {
		return ErrNilDecision
	}
	*d = Decision{}
	return l.checkInto(ctx, req, cost, nil, d)
}

// target is one request resolved: the policy it is decided under and its
// key, or a decision made without the store.
type target struct {
	cp      *compiled
	keyFunc func(Request) (string, bool)
	key     []byte // "halt:<name>:[<route>:]{<client>}"
	client  int    // where the client part starts in key (after '{')
	c       client // the client as resolved
	early   bool   // the store is not asked: the decision is earlyDecision's
	reason  Reason // why, when early: exempt, skipped or missing key
	err     error  // a resolved policy was invalid
}

// clientBytes is the client part of the key, without braces.
func (t *target) clientBytes() []byte {
	if t.client == 0 || len(t.key) <= t.client {
		return nil
	}
	return t.key[t.client : len(t.key)-1]
}

// started is when a store call timed for a StoreTimer starts: the
// decision's instant when it is the system clock's, the system clock
// otherwise (an injected clock says nothing about durations).
func (l *Limiter) started(now time.Time) time.Time {
	if l.timer == nil {
		return time.Time{}
	}
	if _, ok := l.clock.(systemClock); ok {
		return now
	}
	return time.Now()
}

// storeOf names the store that made d: Event.Store.
func (l *Limiter) storeOf(d *Decision) string {
	switch d.taken {
	case takenFallback:
		return l.fallbackName
	case takenNone:
		if d.Reason == ReasonExempt || d.Reason == ReasonSkipped || d.Reason == ReasonMissingKey {
			return ""
		}
	}
	return l.storeName
}

// storeName is what Event.Store says of s.
func storeName(s Store) string {
	if n, ok := s.(interface{ Name() string }); ok {
		return n.Name()
	}
	return fmt.Sprintf("%T", s)
}

// resolve is the one request-resolution step every per-request method
// shares: the policy (default, resolved or overridden), exemptions, the
// client and its key, or an early decision. buf is where the key is built.
func (l *Limiter) resolve(ctx context.Context, req Request, override *Policy, now time.Time, buf []byte, t *target) {
	t.cp, t.keyFunc, t.err = l.resolvePolicy(ctx, req, override)
	cp := t.cp
	path := req.Path()
	if l.isHealth(path) || cp.exemptPath(path) {
		t.decide(ReasonExempt)
		return
	}
	c := l.ip.resolve(req)
	if c.ok {
		if c.proxy {
			l.warnProxyOnly(ctx, c)
		} else if l.private && isPrivate(c.addr) {
			l.warnPrivate(ctx, req, c)
			t.decide(ReasonExempt)
			return
		}
		if cp.exemptIP(c.addr) {
			t.decide(ReasonExempt)
			return
		}
	}
	t.c = c
	key, start, ok := l.buildKey(buf, cp, t.keyFunc, req, c)
	if !ok {
		switch l.missing {
		case MissingKeySkip:
			t.decide(ReasonSkipped)
			return
		case MissingKeyDeny:
			t.decide(ReasonMissingKey)
			return
		}
	}
	t.key, t.client = key, start
}

// buildKey appends to buf the key of req under cp:
// "halt:<name>:[<route>:]{<client>}", and returns where the client part
// starts. ok is false when req has no key under cp's strategy and the
// missing-key mode is not MissingKeyUseIP (key is then unusable); under
// MissingKeyUseIP such a request gets its IP key.
func (l *Limiter) buildKey(buf []byte, cp *compiled, keyFunc func(Request) (string, bool), req Request, c client) ([]byte, int, bool) {
	key := buf
	key = append(key, cp.prefix...)
	if cp.PerRoute {
		key = append(appendEscaped(key, req.Route()), ':')
	}
	key = append(key, '{')
	start := len(key)
	key, ok := l.appendKey(key, &cp.Policy, keyFunc, req, &c)
	if !ok {
		if l.missing != MissingKeyUseIP {
			return key, start, false
		}
		key = l.appendIP(key[:start], &c)
	}
	return append(key, '}'), start, true
}

// resolvePolicy returns the policy req is decided under: override, the
// resolver's, or the limiter's own (also when the other is invalid: err
// says so), with the KeyFunc to call.
func (l *Limiter) resolvePolicy(ctx context.Context, req Request, override *Policy) (*compiled, func(Request) (string, bool), error) {
	if override == nil && l.resolver == nil {
		return l.policy, l.policy.KeyFunc, nil
	}
	var p Policy
	if override != nil {
		p = *override
	} else {
		p = l.resolver(req)
	}
	cp, err := l.cache.lookup(&p)
	if err == nil && l.multi && (cp.Algorithm == InFlight || cp.MaxWait > 0) {
		err = &PolicyError{Policy: p.Name, Field: "Algorithm",
			Reason: "an InFlight or MaxWait policy cannot be resolved on a limiter with several policies"}
	}
	if err != nil {
		l.reportInvalid(ctx, p.Name, err)
		return l.policy, l.policy.KeyFunc, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	return cp, p.KeyFunc, nil
}

// decide makes t an early decision for reason (the target holds the
// reason, not a Decision, which every check would otherwise zero).
func (t *target) decide(reason Reason) {
	t.early, t.reason = true, reason
}

// earlyDecision writes t's early decision at now to d: a missing key is
// refused under t's policy, exempt and skipped requests proceed.
func (t *target) earlyDecision(now time.Time, d *Decision) {
	cp := t.cp
	if t.reason == ReasonMissingKey {
		*d = Decision{Reason: ReasonMissingKey, Policy: cp.Name, Limit: cp.Limit, Window: cp.Window, At: now, cp: cp}
		return
	}
	*d = Decision{Allowed: true, Reason: t.reason, Policy: cp.Name, At: now}
}

func (l *Limiter) check(ctx context.Context, req Request, cost int64, override *Policy) (Decision, error) {
	var d Decision
	err := l.checkInto(ctx, req, cost, override, &d)
	return d, err
}

// checkInto is check writing the decision to *d (zero on entry): the
// decision is built in place instead of copied from call to call.
func (l *Limiter) checkInto(ctx context.Context, req Request, cost int64, override *Policy, d *Decision) error {
	if isNil(req) {
		*d = Decision{Reason: ReasonSkipped, Policy: l.policy.Name}
		return ErrNilRequest
	}
	if ctx == nil {
		ctx = req.Context()
	}
	now := l.clock.Now()
	if l.multi {
		return l.checkMulti(ctx, req, cost, override, now, d)
	}
	bp := l.keyPool.Get().(*[]byte)
	var t target
	l.resolve(ctx, req, override, now, (*bp)[:0], &t)
	if t.early {
		t.earlyDecision(now, d)
		l.report(ctx, &t, d)
		l.keyPool.Put(bp)
		return t.err
	}
	*bp = t.key
	var err error
	if t.cp.Algorithm == InFlight {
		*d, err = l.acquire(ctx, &t, now)
		l.keyPool.Put(bp)
		if err == nil {
			err = t.err
		}
		return err
	}
	start := l.started(now)
	res, err := l.store.Take(ctx, t.key, &t.cp.Policy, now, cost)
	if l.timer != nil {
		l.timer.OnStoreDuration(ctx, l.storeName, l.since(start))
	}
	if err != nil {
		*d, err = l.failed(ctx, &t, now, cost, err)
	} else {
		l.decisionInto(t.cp, &res, now, d)
		d.cost = cost
		if d.Allowed {
			d.taken, d.sum = takenStore, keySum(t.key)
			d.finish = t.cp.Count != nil
			if res.Wait > 0 {
				*d, err = l.await(ctx, &t, *d, l.store, res.Wait, now, cost)
				l.keyPool.Put(bp)
				if err == nil {
					err = t.err
				}
				return err
			}
		}
		l.report(ctx, &t, d)
	}
	l.keyPool.Put(bp)
	if err == nil {
		err = t.err
	}
	return err
}

// decisionInto is decision writing to *d.
func (l *Limiter) decisionInto(cp *compiled, r *Result, now time.Time, d *Decision) {
	d.Allowed, d.Reason = r.Allowed, r.Reason
	d.Policy, d.Limit, d.Window = cp.Name, cp.Limit, cp.Window
	d.Remaining, d.ResetAfter, d.RetryAfter = max(0, r.Remaining), r.ResetAfter, r.RetryAfter
	d.At, d.cp = now, cp
	if d.Reason == ReasonCostExceedsCapacity {
		d.RetryAfter = 0
	}
}

// decision turns a store's result into a Decision under cp.
func (l *Limiter) decision(cp *compiled, r *Result, now time.Time) Decision {
	var d Decision
	l.decisionInto(cp, r, now, &d)
	return d
}

// report sends a decision to telemetry: OnRequest when the sink
// implements RequestCounter (no Event is built), else OnCheck for every
// request, then OnAllowed or OnBlocked for those the store (or a missing
// key) decided.
func (l *Limiter) report(ctx context.Context, t *target, d *Decision) {
	if l.quiet {
		return
	}
	if l.counter != nil {
		l.counter.OnRequest(ctx, d.Policy, outcomeOf(d))
		return
	}
	e := Event{Policy: d.Policy, Store: l.storeOf(d), Decision: *d, key: t.clientBytes()}
	decide(ctx, l.telemetry, &e)
}

// failed answers a store error: with the fallback store if there is one
// and it decides, otherwise by the failure mode.
func (l *Limiter) failed(ctx context.Context, t *target, now time.Time, cost int64, err error) (Decision, error) {
	err = fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	if l.fallback != nil && ctx.Err() == nil {
		if res, ferr := l.fallback.Take(ctx, t.key, &t.cp.Policy, now, cost); ferr == nil {
			d := l.decision(t.cp, &res, now)
			d.cost = cost
			if d.Allowed {
				d.taken, d.sum = takenFallback, keySum(t.key)
				d.finish = t.cp.Count != nil
			}
			l.telemetry.OnError(ctx, Event{Policy: d.Policy, Store: l.storeName, Decision: d, key: t.clientBytes()}, err)
			l.report(ctx, t, &d)
			return d, err
		}
	}
	cp := t.cp
	d := Decision{
		Allowed: l.failure == FailOpen,
		Reason:  ReasonStoreError,
		Policy:  cp.Name,
		Limit:   cp.Limit,
		Window:  cp.Window,
		At:      now,
		cp:      cp,
	}
	if !d.Allowed {
		d.RetryAfter = time.Second
		d.ResetAfter = time.Second
	}
	e := Event{Policy: cp.Name, Store: l.storeName, Decision: d, key: t.clientBytes()}
	l.telemetry.OnError(ctx, e, err)
	if !l.quiet {
		decide(ctx, l.telemetry, &e)
	}
	return d, err
}

// Key returns the rate-limit key req is counted under, as a store sees it
// ("halt:<policy>:{ip:203.0.113.7}"), or "" when the request is exempt or
// has no key. It consumes nothing: use it to debug key extraction.
func (l *Limiter) Key(req Request) string {
	if isNil(req) {
		return ""
	}
	var t target
	l.resolve(req.Context(), req, nil, l.clock.Now(), nil, &t)
	if t.early {
		return ""
	}
	return string(t.key)
}

// ClientIP returns the client address the limiter resolves for req, and
// false when there is none (the peer is not an IP address and no trusted
// forwarding header names one).
func (l *Limiter) ClientIP(req Request) (netip.Addr, bool) {
	if isNil(req) {
		return netip.Addr{}, false
	}
	c := l.ip.resolve(req)
	return c.addr, c.ok
}

// Peek returns req's standing under its policy without consuming anything:
// what a check of the given cost would decide now (0: the policy's cost),
// Remaining and ResetAfter included. Exempt requests come back exempt. It
// needs a store that implements [Peeker] (both Halt stores do); otherwise
// it returns an error wrapping ErrUnsupported.
func (l *Limiter) Peek(ctx context.Context, req Request, cost int64) (Decision, error) {
	if isNil(req) {
		return Decision{}, ErrNilRequest
	}
	if l.peeker == nil {
		return Decision{}, fmt.Errorf("%w: Peek needs a store implementing halt.Peeker, not %T", ErrUnsupported, l.store)
	}
	if len(l.extra) > 0 {
		var t target
		now := l.clock.Now()
		l.resolve(ctx, req, nil, now, nil, &t)
		if t.early {
			var d Decision
			t.earlyDecision(now, &d)
			return d, t.err
		}
		ds, err := l.standing(ctx, req, cost)
		if len(ds) == 0 {
			return Decision{Allowed: true, Reason: ReasonAllowed, Policy: l.policy.Name, At: l.clock.Now()}, err
		}
		d := ds[mostRestrictive(ds)]
		d.multi = &multi{each: ds}
		return d, err
	}
	now := l.clock.Now()
	var t target
	l.resolve(ctx, req, nil, now, nil, &t)
	if t.early {
		var d Decision
		t.earlyDecision(now, &d)
		return d, t.err
	}
	res, err := l.peeker.Peek(ctx, t.key, &t.cp.Policy, now, cost)
	if err != nil {
		return Decision{Reason: ReasonStoreError, Policy: t.cp.Name, At: now}, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	return l.decision(t.cp, &res, now), t.err
}

// Reset forgets req's state under the limiter's policies, cooldowns
// included (after a successful login, say, the client starts over): under
// the policies named, or every policy (shadow ones too) when no name is
// given. Exemptions do not matter: the client's key is reset. It needs a
// store that implements [Resetter] (both Halt stores do); otherwise it
// returns an error wrapping ErrUnsupported.
func (l *Limiter) Reset(ctx context.Context, req Request, policies ...string) error {
	if isNil(req) {
		return ErrNilRequest
	}
	if l.resetter == nil {
		return fmt.Errorf("%w: Reset needs a store implementing halt.Resetter, not %T", ErrUnsupported, l.store)
	}
	cp, keyFunc, perr := l.resolvePolicy(ctx, req, nil)
	c := l.ip.resolve(req)
	var errs []error
	for i, p := range append([]*compiled{cp}, l.extra...) {
		if len(policies) > 0 && !slices.Contains(policies, p.Name) {
			continue
		}
		kf := p.KeyFunc
		if i == 0 {
			kf = keyFunc
		}
		key, _, ok := l.buildKey(nil, p, kf, req, c)
		if !ok {
			continue
		}
		if err := l.resetter.Reset(ctx, key, &p.Policy); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrStoreUnavailable, err))
		}
	}
	if perr != nil {
		errs = append(errs, perr)
	}
	return errors.Join(errs...)
}
