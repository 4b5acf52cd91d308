package halt

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Algorithm selects how a policy counts requests. The zero value is
// [TokenBucket].
type Algorithm uint8

const (
	// TokenBucket holds up to Burst tokens and refills Limit tokens per
	// Window, continuously. It decides exactly as golang.org/x/time/rate does
	// for rate Limit/Window and the same burst.
	TokenBucket Algorithm = iota
	// FixedWindow counts requests in windows aligned to the Unix epoch and
	// admits at most Limit per window.
	FixedWindow
	// SlidingWindow splits the window into Precision sub-windows and admits a
	// request while the last Precision sub-windows hold at most Limit.
	SlidingWindow
	// InFlight admits at most Limit requests at once per key (a concurrency
	// limit, Stripe's concurrent requests limiter): each admitted request
	// holds a lease until its handler returns ([Limiter.Finish]), and a
	// lease never released (a crashed instance, a handler still running)
	// frees itself Window after it was taken, so Window must exceed the
	// longest request. It needs a store implementing [Leaser]; a
	// rejection's RetryAfter is one second. It cannot be combined with
	// other policies on one limiter.
	InFlight
)

// String returns the algorithm's name as used in configuration.
func (a Algorithm) String() string {
	switch a {
	case TokenBucket:
		return "token_bucket"
	case FixedWindow:
		return "fixed_window"
	case SlidingWindow:
		return "sliding_window"
	case InFlight:
		return "in_flight"
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// KeyStrategy selects what a policy counts against. The zero value is
// [KeyIP].
type KeyStrategy uint8

const (
	// KeyIP keys by the client IP resolved by the limiter (IPv6 by prefix).
	KeyIP KeyStrategy = iota
	// KeyUser keys by the authenticated user id found in the request's
	// per-request values (see [WithUserKey]).
	KeyUser
	// KeyAPIKey keys by the X-API-Key header, else an Authorization Bearer
	// token. The secret is hashed before it reaches a store or a log.
	KeyAPIKey
	// KeyComposite keys by user and client IP together ("user:ip"); without a
	// user it keys by the client IP alone.
	KeyComposite
	// KeyCustom keys by Policy.KeyFunc.
	KeyCustom
)

// String returns the strategy's name as used in configuration.
func (k KeyStrategy) String() string {
	switch k {
	case KeyIP:
		return "ip"
	case KeyUser:
		return "user"
	case KeyAPIKey:
		return "api_key"
	case KeyComposite:
		return "composite"
	case KeyCustom:
		return "custom"
	}
	return fmt.Sprintf("KeyStrategy(%d)", uint8(k))
}

// DefaultPrecision is the number of sub-windows a [SlidingWindow] policy
// uses when Policy.Precision is zero.
const DefaultPrecision = 10

// MaxPrecision bounds Policy.Precision: state per key grows with it.
const MaxPrecision = 1000

// Policy describes one rate limit. It is plain data: build it literally or
// take one from the presets package and adjust the copy. The zero value is
// not valid; [Policy.Validate] says why.
type Policy struct {
	// Name namespaces the policy's counters: two policies with the same
	// name share counters. Required; printable ASCII, at most 64 bytes.
	Name string
	// Limit is how many requests (of cost 1) the policy admits per Window.
	Limit int64
	// Window is the period Limit applies to: a whole number of
	// microseconds, the resolution every store decides at.
	Window time.Duration
	// Burst is the token bucket's capacity: how many requests may arrive at
	// once. The default (0) is Limit. It must be at least Limit. Fixed and
	// sliding windows admit at most Limit per window and reject a Burst
	// other than 0 or Limit.
	Burst int64
	// Algorithm selects the counting algorithm. The default is TokenBucket.
	Algorithm Algorithm
	// KeyStrategy selects what requests are counted against. The default
	// is KeyIP.
	KeyStrategy KeyStrategy
	// KeyFunc extracts the key for KeyCustom. A false result (no key) falls
	// back as configured by [WithMissingKey].
	KeyFunc func(Request) (string, bool)
	// PerRoute counts every route separately: the key gains the pattern of
	// the route the request matched ([Request.Route]), so a client that used
	// up its budget on /items/{id} still has a whole one on /search.
	// Requests that matched no route share one budget per client.
	PerRoute bool
	// Shadow makes the policy a dry run: it is decided and counted like any
	// other, but never rejects a request and never writes headers; each
	// request it would have rejected reaches telemetry's OnBlocked with
	// Event.Shadow set. Roll out a new limit as a shadow policy, watch what
	// it would do, then turn Shadow off.
	Shadow bool
	// Cost is what one request takes from the limit. The default (0) is 1.
	Cost int64
	// BlockDuration is a cooldown: once a key is blocked it stays blocked
	// this long, whatever refills meanwhile. Zero means no cooldown. It is
	// a whole number of microseconds.
	BlockDuration time.Duration
	// Precision is the number of sub-windows of a SlidingWindow policy. The
	// default (0) is DefaultPrecision. Window must divide evenly by it into
	// sub-windows of whole microseconds.
	Precision int
	// Exemptions lists requests this policy never limits: a path ("/admin"
	// covers "/admin" and "/admin/..."), an IP address or a CIDR prefix.
	Exemptions []string
	// Plan is an optional label, such as the plan name of a plan preset.
	Plan string
	// MaxWait makes a TokenBucket policy smooth rather than reject: a
	// request whose token is due within MaxWait reserves it and waits
	// ([Limiter.Check] returns once it is due, or rejects with
	// [ReasonCanceled] when the request's context ends first, giving the
	// token back); one that would wait longer is rejected at once, its
	// RetryAfter the time until it would fit. Zero means never wait. A
	// policy with MaxWait may have a Burst below Limit ("5 per second,
	// burst 1" spaces requests 200 ms apart). See [WithWaitLimits].
	MaxWait time.Duration
	// Count, when set, decides after the response whether a request counts:
	// the request is taken up front (a burst cannot slip past while the
	// handlers run) and given back when Count(status) is false. Use
	// [CountFailures] to limit failed attempts only (an OTP or login
	// endpoint), [CountSuccesses] for the converse, or any predicate. A
	// handler that panics counts as status 500. The adapters' middleware
	// does this; direct users of Check call [Limiter.Finish]. Policies of
	// one name must agree on it.
	Count func(status int) bool
}

// Capacity is the most the policy can grant at once: Burst (or Limit when
// Burst is zero).
func (p *Policy) Capacity() int64 {
	if p.Burst == 0 {
		return p.Limit
	}
	return p.Burst
}

// RequestCost is the cost of one request under the policy (Cost, or 1).
func (p *Policy) RequestCost() int64 {
	if p.Cost == 0 {
		return 1
	}
	return p.Cost
}

// SubWindows is the number of sub-windows of a sliding window policy
// (Precision, or DefaultPrecision).
func (p *Policy) SubWindows() int {
	if p.Precision == 0 {
		return DefaultPrecision
	}
	return p.Precision
}

// PolicyError reports an invalid Policy field.
type PolicyError struct {
	Policy string // the policy's name, possibly empty
	Field  string // the Go field name, such as "Burst"
	Reason string
}

func (e *PolicyError) Error() string {
	if e.Policy == "" {
		return "halt: policy: " + e.Field + ": " + e.Reason
	}
	return fmt.Sprintf("halt: policy %q: %s: %s", e.Policy, e.Field, e.Reason)
}

// maxWindow keeps window arithmetic far from int64 overflow.
const maxWindow = 10 * 366 * 24 * time.Hour

// maxLimit keeps counts far from float64's exact-integer range.
const maxLimit = 1 << 40

// Validate reports the first invalid field as a *PolicyError, or nil.
func (p *Policy) Validate() error {
	bad := func(field, reason string, args ...any) error {
		return &PolicyError{Policy: p.Name, Field: field, Reason: fmt.Sprintf(reason, args...)}
	}
	switch {
	case p.Name == "":
		return bad("Name", "must not be empty: the name namespaces the policy's counters")
	case len(p.Name) > 64:
		return bad("Name", "must be at most 64 bytes, got %d", len(p.Name))
	case !printableASCII(p.Name):
		return bad("Name", "must be printable ASCII")
	case p.Limit <= 0:
		return bad("Limit", "must be positive, got %d", p.Limit)
	case p.Limit > maxLimit:
		return bad("Limit", "must be at most %d, got %d", int64(maxLimit), p.Limit)
	case p.Window <= 0:
		return bad("Window", "must be positive, got %v", p.Window)
	case p.Window > maxWindow:
		return bad("Window", "must be at most %v, got %v", maxWindow, p.Window)
	case p.Window%time.Microsecond != 0:
		return bad("Window", "must be a whole number of microseconds (the stores' resolution), got %v", p.Window)
	case p.Burst < 0:
		return bad("Burst", "must not be negative, got %d", p.Burst)
	case p.Burst != 0 && p.Burst < p.Limit && p.MaxWait == 0:
		return bad("Burst", "must be at least Limit (%d), got %d", p.Limit, p.Burst)
	case p.Burst > maxLimit:
		return bad("Burst", "must be at most %d, got %d", int64(maxLimit), p.Burst)
	case p.Algorithm > InFlight:
		return bad("Algorithm", "unknown algorithm %d", uint8(p.Algorithm))
	case p.Algorithm != TokenBucket && p.Burst != 0 && p.Burst != p.Limit:
		return bad("Burst", "only the token bucket has a burst; %s admits at most Limit per window", p.Algorithm)
	case p.KeyStrategy > KeyCustom:
		return bad("KeyStrategy", "unknown key strategy %d", uint8(p.KeyStrategy))
	case p.KeyStrategy == KeyCustom && p.KeyFunc == nil:
		return bad("KeyFunc", "must be set for KeyCustom")
	case p.Cost < 0:
		return bad("Cost", "must not be negative, got %d", p.Cost)
	case p.Cost > p.Capacity():
		return bad("Cost", "%d exceeds the capacity %d: no request could ever pass", p.Cost, p.Capacity())
	case p.BlockDuration < 0:
		return bad("BlockDuration", "must not be negative, got %v", p.BlockDuration)
	case p.BlockDuration > maxWindow:
		return bad("BlockDuration", "must be at most %v, got %v", maxWindow, p.BlockDuration)
	case p.BlockDuration%time.Microsecond != 0:
		return bad("BlockDuration", "must be a whole number of microseconds (the stores' resolution), got %v",
			p.BlockDuration)
	case p.Precision < 0 || p.Precision > MaxPrecision:
		return bad("Precision", "must be between 1 and %d, got %d", MaxPrecision, p.Precision)
	case p.Algorithm == SlidingWindow && p.Window%(time.Duration(p.SubWindows())*time.Microsecond) != 0:
		return bad("Precision", "window %v does not divide into %d equal sub-windows of whole microseconds "+
			"(the stores' resolution)", p.Window, p.SubWindows())
	}
	if _, err := parseExemptions(p.Exemptions); err != nil {
		return bad("Exemptions", "%v", err)
	}
	return p.validateFlow()
}

// validateFlow checks the flow-control fields (flow.go).
func (p *Policy) validateFlow() error {
	bad := func(field, reason string, args ...any) error {
		return &PolicyError{Policy: p.Name, Field: field, Reason: fmt.Sprintf(reason, args...)}
	}
	switch {
	case p.MaxWait < 0:
		return bad("MaxWait", "must not be negative, got %v", p.MaxWait)
	case p.MaxWait > maxWindow:
		return bad("MaxWait", "must be at most %v, got %v", maxWindow, p.MaxWait)
	case p.MaxWait > 0 && p.Algorithm != TokenBucket:
		return bad("MaxWait", "only a token bucket can reserve a future token; %s cannot wait", p.Algorithm)
	case p.Algorithm != InFlight:
		return nil
	case p.Limit > MaxInFlight:
		return bad("Limit", "an InFlight policy holds at most %d leases per key, got %d", MaxInFlight, p.Limit)
	case p.Burst != 0 && p.Burst != p.Limit:
		return bad("Burst", "an InFlight policy has no burst: at most Limit requests are in flight")
	case p.Cost > 1:
		return bad("Cost", "an InFlight request holds one slot, got cost %d", p.Cost)
	case p.BlockDuration != 0:
		return bad("BlockDuration", "an InFlight policy has no cooldown")
	case p.Precision != 0:
		return bad("Precision", "only a SlidingWindow has sub-windows")
	case p.Count != nil:
		return bad("Count", "an InFlight slot is held until the response whatever its status")
	case p.Shadow:
		return bad("Shadow", "an InFlight policy cannot be a dry run")
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// exemptions is a policy's parsed exemption list.
type exemptions struct {
	paths    []string
	prefixes []netip.Prefix
}

func parseExemptions(list []string) (exemptions, error) {
	var ex exemptions
	for _, s := range list {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			return ex, errors.New("empty entry")
		case strings.HasPrefix(s, "/"):
			ex.paths = append(ex.paths, strings.TrimRight(s, "/"))
		case strings.Contains(s, "/"):
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				return ex, fmt.Errorf("%q is neither a path, an IP nor a CIDR", s)
			}
			ex.prefixes = append(ex.prefixes, normPrefix(pfx))
		default:
			ip, err := netip.ParseAddr(s)
			if err != nil || ip.Zone() != "" {
				return ex, fmt.Errorf("%q is neither a path, an IP nor a CIDR", s)
			}
			ip = ip.Unmap()
			ex.prefixes = append(ex.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	return ex, nil
}

// normPrefix unmaps an IPv4-mapped prefix and masks it.
func normPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// matchPath reports whether path is prefix or lies below it, segment-wise.
// An empty prefix (from "/") matches every path.
func matchPath(path, prefix string) bool {
	// Every request is matched against every health path: comparing the
	// byte after the slash first spares most of them the full comparison.
	if len(prefix) > 1 && (len(path) < len(prefix) || path[1] != prefix[1]) {
		return false
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/'
}
