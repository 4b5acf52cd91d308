package halt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultHealthPaths are exempt from every limiter unless replaced with
// [WithHealthPaths].
var DefaultHealthPaths = []string{"/health", "/ping", "/ready", "/healthz", "/livez"}

// Decision is the outcome of one check.
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Reason says why.
	Reason Reason
	// Policy is the name of the policy that decided ("" when exempt).
	Policy string
	// Limit is the policy's limit per window.
	Limit int64
	// Window is the policy's window.
	Window time.Duration
	// Remaining is how many more requests of this cost would be allowed
	// right now; never negative. With a burst above the limit it can
	// exceed Limit.
	Remaining int64
	// ResetAfter is the time until the key is back to full capacity.
	ResetAfter time.Duration
	// RetryAfter is zero when allowed; when blocked, the earliest time after
	// which the same request would be allowed.
	RetryAfter time.Duration
	// At is the instant of the decision by the limiter's clock.
	At time.Time

	cp *compiled // rendering data of the policy that decided
}

// Exempt reports whether the request was exempt or skipped: it consumed
// nothing and carries no rate-limit headers.
func (d *Decision) Exempt() bool {
	return d.Reason == ReasonExempt || d.Reason == ReasonSkipped
}

// ResetAt is the instant the key is back to full capacity.
func (d *Decision) ResetAt() time.Time { return d.At.Add(d.ResetAfter) }

// Limiter applies one policy (or a per-request policy) to requests through a
// Store. It is safe for concurrent use. Create it with [New].
type Limiter struct {
	store     Store
	policy    *compiled
	resolver  func(Request) Policy
	resolved  sync.Map // policy name -> *compiled, for resolver results
	clock     Clock
	ip        ipResolver
	ipv6Bits  int
	private   bool
	health    []string
	userKey   any
	missing   MissingKey
	failure   FailureMode
	failCode  int
	telemetry Telemetry
	logger    *slog.Logger
	style     HeaderStyle
	quiet     bool // telemetry wants no per-request events
	warned    atomic.Bool
	keyPool   sync.Pool
}

// compiled is a validated policy with what the hot path precomputes.
type compiled struct {
	Policy
	exempt   exemptions
	prefix   string // "halt:<name>:"
	limitStr string
	policyID string // RFC 9651 sf-string of the name
}

func compile(p Policy) (*compiled, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	ex, _ := parseExemptions(p.Exemptions)
	p.Exemptions = append([]string(nil), p.Exemptions...)
	return &compiled{
		Policy:   p,
		exempt:   ex,
		prefix:   "halt:" + p.Name + ":",
		limitStr: itoa(p.Limit),
		policyID: sfString(p.Name),
	}, nil
}

// Option configures a Limiter.
type Option interface {
	apply(*Limiter) error
}

type optionFunc func(*Limiter) error

func (f optionFunc) apply(l *Limiter) error { return f(l) }

// WithTrustedProxies declares the proxies (IPs or CIDRs) whose forwarding
// headers are believed. Without it the peer address is the client.
func WithTrustedProxies(cidrs ...string) Option {
	return optionFunc(func(l *Limiter) error {
		p, err := parseTrusted(cidrs)
		l.ip.trusted = p
		return err
	})
}

// WithIPSource selects the header a trusted proxy reports the client in.
// The default is SourceXForwardedFor.
func WithIPSource(s IPSource) Option {
	return optionFunc(func(l *Limiter) error {
		if s > SourceXRealIP {
			return fmt.Errorf("halt: unknown IP source %d", s)
		}
		l.ip.source = s
		return nil
	})
}

// WithIPv6Prefix sets the prefix length IPv6 clients are keyed by. The
// default, 64, treats a subscriber's /64 as one client; 128 keys each
// address.
func WithIPv6Prefix(bits int) Option {
	return optionFunc(func(l *Limiter) error {
		if bits < 16 || bits > 128 {
			return fmt.Errorf("halt: IPv6 prefix must be between 16 and 128 bits, got %d", bits)
		}
		l.ipv6Bits = bits
		return nil
	})
}

// WithExemptPrivateIPs turns the exemption of private client IPs
// (loopback, RFC 1918, link-local, unique-local) on or off. It is on by
// default, as in the Python SDK.
func WithExemptPrivateIPs(on bool) Option {
	return optionFunc(func(l *Limiter) error { l.private = on; return nil })
}

// WithHealthPaths replaces the health-check paths that are never limited.
// With no arguments, no path is exempt.
func WithHealthPaths(paths ...string) Option {
	return optionFunc(func(l *Limiter) error {
		l.health = l.health[:0:0]
		for _, p := range paths {
			if len(p) == 0 || p[0] != '/' {
				return fmt.Errorf("halt: health path %q must start with /", p)
			}
			l.health = append(l.health, trimSlash(p))
		}
		return nil
	})
}

// WithUserKey sets the per-request value name the user strategy reads (a
// string for gin, echo and fiber; any context key for net/http). The
// default is DefaultUserKey.
func WithUserKey(key any) Option {
	return optionFunc(func(l *Limiter) error {
		if key == nil {
			return errors.New("halt: user key must not be nil")
		}
		l.userKey = key
		return nil
	})
}

// WithMissingKey sets what happens to requests with no key under the
// strategy. The default is MissingKeyUseIP.
func WithMissingKey(m MissingKey) Option {
	return optionFunc(func(l *Limiter) error {
		if m > MissingKeySkip {
			return fmt.Errorf("halt: unknown missing-key mode %d", m)
		}
		l.missing = m
		return nil
	})
}

// WithFailureMode sets what happens when the store fails. The default is
// FailOpen.
func WithFailureMode(m FailureMode) Option {
	return optionFunc(func(l *Limiter) error {
		if m > FailClosed {
			return fmt.Errorf("halt: unknown failure mode %d", m)
		}
		l.failure = m
		return nil
	})
}

// WithFailClosedStatus sets the status of responses rejected because the
// store failed under FailClosed: 503 (default) or 429.
func WithFailClosedStatus(code int) Option {
	return optionFunc(func(l *Limiter) error {
		if code != http.StatusServiceUnavailable && code != http.StatusTooManyRequests {
			return fmt.Errorf("halt: fail-closed status must be 429 or 503, got %d", code)
		}
		l.failCode = code
		return nil
	})
}

// WithClock sets the clock (tests). A nil clock keeps the system clock.
func WithClock(c Clock) Option {
	return optionFunc(func(l *Limiter) error {
		if c != nil {
			l.clock = c
		}
		return nil
	})
}

// WithTelemetry sets the telemetry sink. A nil value keeps the default,
// which logs notices and (at most every ten seconds) store errors through
// the logger, and nothing per request. [SlogTelemetry] also logs blocked
// requests.
func WithTelemetry(t Telemetry) Option {
	return optionFunc(func(l *Limiter) error {
		if t != nil {
			l.telemetry = t
		}
		return nil
	})
}

// WithLogger sets the logger for notices and store errors. A nil logger
// keeps slog.Default().
func WithLogger(lg *slog.Logger) Option {
	return optionFunc(func(l *Limiter) error {
		if lg != nil {
			l.logger = lg
		}
		return nil
	})
}

// WithPolicyResolver picks the policy per request, for plan-based limits.
// The policy given to New is the default; resolved policies are validated
// and cached by name, so a resolver should return the same policy for the
// same name.
func WithPolicyResolver(fn func(Request) Policy) Option {
	return optionFunc(func(l *Limiter) error {
		l.resolver = fn
		return nil
	})
}

// WithHeaderStyle sets how decisions are rendered as response headers by
// the adapters. The default is [Standard]; nil means [NoHeaders].
func WithHeaderStyle(s HeaderStyle) Option {
	return optionFunc(func(l *Limiter) error {
		if s == nil {
			s = NoHeaders
		}
		l.style = s
		return nil
	})
}

// New returns a Limiter applying p through store. It validates p and the
// options and returns the first error; it never panics.
func New(store Store, p Policy, opts ...Option) (*Limiter, error) {
	if store == nil {
		return nil, errors.New("halt: store must not be nil")
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
		failCode: http.StatusServiceUnavailable,
		logger:   slog.Default(),
		style:    Standard,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.apply(l); err != nil {
			return nil, err
		}
	}
	if l.telemetry == nil {
		l.telemetry = &defaultTelemetry{log: SlogTelemetry{Logger: l.logger}}
	}
	switch l.telemetry.(type) {
	case NopTelemetry, *NopTelemetry, *defaultTelemetry:
		l.quiet = true
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

// FailClosedStatus is the status adapters send when the store failed under
// FailClosed.
func (l *Limiter) FailClosedStatus() int { return l.failCode }

// CheckOption adjusts one check.
type CheckOption struct {
	cost   int64
	policy *Policy
}

// WithCost sets the cost of this request, overriding the policy's Cost. A
// cost of zero or less keeps the policy's cost.
func WithCost(n int64) CheckOption { return CheckOption{cost: n} }

// WithPolicy decides this request under p instead of the limiter's policy.
// p is validated (and cached by name, like resolver results).
func WithPolicy(p Policy) CheckOption { return CheckOption{policy: &p} }

// Check decides whether req may proceed, and records it if so. Being rate
// limited is not an error: it is Decision.Allowed == false. The error is
// non-nil only when the store failed (wrapped with ErrStoreUnavailable; the
// decision then follows the failure mode) or a resolved policy was invalid.
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

func (l *Limiter) check(ctx context.Context, req Request, cost int64, override *Policy) (Decision, error) {
	cp := l.policy
	if override != nil || l.resolver != nil {
		var p Policy
		if override != nil {
			p = *override
		} else {
			p = l.resolver(req)
		}
		var err error
		if cp, err = l.lookup(p); err != nil {
			return l.failed(ctx, l.policy, "", err)
		}
	}
	now := l.clock.Now()
	path := req.Path()
	if l.isHealth(path) || cp.exemptPath(path) {
		return Decision{Allowed: true, Reason: ReasonExempt, At: now}, nil
	}
	client, peer, haveIP := l.ip.resolve(req)
	if haveIP {
		if l.private && isPrivate(client) {
			l.warnProxy(ctx, req, peer)
			return Decision{Allowed: true, Reason: ReasonExempt, At: now}, nil
		}
		if cp.exemptIP(client) {
			return Decision{Allowed: true, Reason: ReasonExempt, At: now}, nil
		}
	}

	bp := l.keyPool.Get().(*[]byte)
	defer l.keyPool.Put(bp)
	key, ok := l.appendKey(append((*bp)[:0], cp.prefix...), &cp.Policy, req, client, haveIP)
	if !ok {
		switch l.missing {
		case MissingKeySkip:
			return Decision{Allowed: true, Reason: ReasonSkipped, At: now}, nil
		case MissingKeyDeny:
			d := Decision{Reason: ReasonLimited, RetryAfter: cp.Window, ResetAfter: cp.Window}
			return l.finish(ctx, cp, d, now, nil), nil
		}
		key = l.appendIP(key[:len(cp.prefix)], client, haveIP)
	}
	*bp = key
	res, err := l.store.Take(ctx, key, &cp.Policy, now, cost)
	if err != nil {
		return l.failed(ctx, cp, string(key[len(cp.prefix):]), err)
	}
	d := Decision{
		Allowed:    res.Allowed,
		Reason:     res.Reason,
		Remaining:  res.Remaining,
		ResetAfter: res.ResetAfter,
		RetryAfter: res.RetryAfter,
	}
	return l.finish(ctx, cp, d, now, key[len(cp.prefix):]), nil
}

// finish fills the policy fields and reports to telemetry.
func (l *Limiter) finish(ctx context.Context, cp *compiled, d Decision, now time.Time, key []byte) Decision {
	d.Policy, d.Limit, d.Window, d.At, d.cp = cp.Name, cp.Limit, cp.Window, now, cp
	if d.Remaining < 0 {
		d.Remaining = 0
	}
	if l.quiet {
		return d
	}
	e := Event{Policy: cp.Name, Key: string(key), Decision: d}
	l.telemetry.OnCheck(ctx, e)
	if d.Allowed {
		l.telemetry.OnAllowed(ctx, e)
	} else {
		l.telemetry.OnBlocked(ctx, e)
	}
	return d
}

// failed applies the failure mode to a store (or policy) error.
func (l *Limiter) failed(ctx context.Context, cp *compiled, key string, err error) (Decision, error) {
	var pe *PolicyError
	if !errors.As(err, &pe) {
		err = fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	now := l.clock.Now()
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
	l.telemetry.OnError(ctx, Event{Policy: cp.Name, Key: key, Decision: d}, err)
	return d, err
}

func (l *Limiter) lookup(p Policy) (*compiled, error) {
	if v, ok := l.resolved.Load(p.Name); ok {
		cp := v.(*compiled)
		if samePolicy(&cp.Policy, &p) {
			return cp, nil
		}
	}
	cp, err := compile(p)
	if err != nil {
		return nil, err
	}
	l.resolved.Store(p.Name, cp)
	return cp, nil
}

func samePolicy(a, b *Policy) bool {
	return a.Limit == b.Limit && a.Window == b.Window && a.Burst == b.Burst &&
		a.Algorithm == b.Algorithm && a.KeyStrategy == b.KeyStrategy && a.Cost == b.Cost &&
		a.BlockDuration == b.BlockDuration && a.Precision == b.Precision &&
		len(a.Exemptions) == len(b.Exemptions) && (a.KeyFunc == nil) == (b.KeyFunc == nil)
}

// Key returns the rate-limit key req is counted under, as a store sees it
// ("halt:<policy>:<key>"), or "" when the request is exempt. It consumes
// nothing: use it to debug key extraction.
func (l *Limiter) Key(req Request) string {
	cp := l.policy
	if l.resolver != nil {
		var err error
		if cp, err = l.lookup(l.resolver(req)); err != nil {
			return ""
		}
	}
	path := req.Path()
	if l.isHealth(path) || cp.exemptPath(path) {
		return ""
	}
	client, _, haveIP := l.ip.resolve(req)
	if haveIP && ((l.private && isPrivate(client)) || cp.exemptIP(client)) {
		return ""
	}
	key, ok := l.appendKey([]byte(cp.prefix), &cp.Policy, req, client, haveIP)
	if !ok {
		if l.missing != MissingKeyUseIP {
			return ""
		}
		key = l.appendIP([]byte(cp.prefix), client, haveIP)
	}
	return string(key)
}

// ClientIP returns the client address the limiter resolves for req, and
// false when the peer address cannot be parsed.
func (l *Limiter) ClientIP(req Request) (netip.Addr, bool) {
	a, _, ok := l.ip.resolve(req)
	return a, ok
}

func (l *Limiter) isHealth(path string) bool {
	for _, h := range l.health {
		if matchPath(path, h) {
			return true
		}
	}
	return false
}

func (c *compiled) exemptPath(path string) bool {
	for _, p := range c.exempt.paths {
		if matchPath(path, p) {
			return true
		}
	}
	return false
}

func (c *compiled) exemptIP(a netip.Addr) bool {
	for _, p := range c.exempt.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// warnProxy reports, once, a private peer that sent forwarding headers while
// no trusted proxies are configured: every request then looks private.
func (l *Limiter) warnProxy(ctx context.Context, req Request, peer netip.Addr) {
	if len(l.ip.trusted) != 0 || l.warned.Load() {
		return
	}
	if len(req.HeaderValues("X-Forwarded-For")) == 0 && len(req.HeaderValues("Forwarded")) == 0 &&
		len(req.HeaderValues("X-Real-Ip")) == 0 {
		return
	}
	if !l.warned.CompareAndSwap(false, true) {
		return
	}
	n := Notice{
		Kind: NoticeUntrustedProxy,
		Message: "a private peer sent forwarding headers but no trusted proxies are configured; " +
			"every request through it is exempt as private. Use WithTrustedProxies",
		Attrs: []slog.Attr{slog.String("peer", peer.String())},
	}
	l.telemetry.OnNotice(ctx, n)
	switch l.telemetry.(type) {
	case SlogTelemetry, *defaultTelemetry:
	default: // the operator must see this even with custom telemetry
		SlogTelemetry{Logger: l.logger}.OnNotice(ctx, n)
	}
}

func trimSlash(p string) string {
	for len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	if p == "/" {
		return ""
	}
	return p
}
