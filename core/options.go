package halt

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// Option configures a Limiter. Options are applied in order; [New] returns
// the first error.
type Option interface {
	apply(*Limiter) error
}

type optionFunc func(*Limiter) error

func (f optionFunc) apply(l *Limiter) error { return f(l) }

// WithTrustedProxies declares the proxies (IPs or CIDRs) whose forwarding
// headers are believed. Without it (or with no arguments) the peer address
// is the client. An empty entry is an error, and so is a prefix that
// covers every address ("0.0.0.0/0", "::/0"): it would let any client name
// itself in X-Forwarded-For. See [WithTrustAllProxies] for the rare setup
// that really wants that.
func WithTrustedProxies(cidrs ...string) Option {
	return optionFunc(func(l *Limiter) error {
		p, err := parseTrusted(cidrs)
		l.ip.trusted = p
		return err
	})
}

// WithTrustAllProxies believes the forwarding headers of every peer: the
// client is the leftmost address they name. Use it only when every request
// reaches the application through a proxy that overwrites (not appends to)
// the header, and nothing can reach the application directly; otherwise
// any client can pick its own key.
func WithTrustAllProxies() Option {
	return optionFunc(func(l *Limiter) error { l.ip.trustAll = true; return nil })
}

// WithTrustUnixSocket treats a peer without an IP address (a unix socket,
// which only a local proxy can reach) as a trusted proxy: its forwarding
// headers are believed. Without it such requests have no client address
// and are all counted under one key, "ip:unknown".
func WithTrustUnixSocket() Option {
	return optionFunc(func(l *Limiter) error { l.ip.unix = true; return nil })
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
// default, as in the Python SDK; the first exempt request is reported
// once ([NoticePrivateExempt]).
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

// WithFailureMode sets what happens when the store fails and no fallback
// store decided. The default is FailOpen.
func WithFailureMode(m FailureMode) Option {
	return optionFunc(func(l *Limiter) error {
		if m > FailClosed {
			return fmt.Errorf("halt: unknown failure mode %d", m)
		}
		l.failure = m
		return nil
	})
}

// WithFallback decides with store while the limiter's own store fails (an
// unreachable Redis, say): for instance a memory store, so each instance
// keeps limiting on its own. N instances then admit up to N times the
// limit until the primary is back. Every failure is still reported to
// telemetry's OnError, with the fallback's decision. When the fallback
// fails too, the failure mode decides.
func WithFallback(store Store) Option {
	return optionFunc(func(l *Limiter) error {
		if isNil(store) {
			return errors.New("halt: fallback store must not be nil")
		}
		l.fallback = store
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
		l.status.failed = code
		return nil
	})
}

// WithRejectStatus sets the HTTP status of rejections for one reason:
// ReasonLimited (429 by default, also used for ReasonCooldown),
// ReasonCostExceedsCapacity (429), ReasonMissingKey (401),
// ReasonStoreError (503, see also [WithFailClosedStatus]) or ReasonBanned
// (403 Forbidden: a ban is a refusal, not a request to slow down; pass
// 429 to answer bans as rate limiting). The status must be a 4xx or 5xx
// code.
func WithRejectStatus(r Reason, code int) Option {
	return optionFunc(func(l *Limiter) error {
		if code < 400 || code > 599 {
			return fmt.Errorf("halt: reject status for %s must be 4xx or 5xx, got %d", r, code)
		}
		switch r {
		case ReasonLimited, ReasonCooldown:
			l.status.limited = code
		case ReasonCostExceedsCapacity:
			l.status.tooCostly = code
		case ReasonMissingKey:
			l.status.missing = code
		case ReasonStoreError:
			l.status.failed = code
		case ReasonBanned:
			l.status.banned = code
		default:
			return fmt.Errorf("halt: %s is not a rejection reason", r)
		}
		return nil
	})
}

// WithClock sets the clock (tests). A nil clock keeps the system clock.
func WithClock(c Clock) Option {
	return optionFunc(func(l *Limiter) error {
		if !isNil(c) {
			l.clock = c
		}
		return nil
	})
}

// WithTelemetry sets the telemetry sinks; several are reported to in turn
// ([Telemetries]), and the store's notices reach them too (see
// [NoticeSource]). No (or only nil) sinks keep the default, which logs
// notices and (at most every ten seconds) store errors through the logger,
// and nothing per request. [SlogTelemetry] also logs blocked requests.
func WithTelemetry(sinks ...Telemetry) Option {
	return optionFunc(func(l *Limiter) error {
		var keep []Telemetry
		for _, t := range sinks {
			if !isNil(t) {
				keep = append(keep, t)
			}
		}
		switch len(keep) {
		case 0:
		case 1:
			l.telemetry = keep[0]
		default:
			l.telemetry = Telemetries(keep...)
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
// The policy given to New is the default. Resolved policies are validated
// and their compiled form is cached by name (at most 4,096 names; an entry
// is replaced when any field differs). A resolved policy that fails
// validation is a programming error, not an outage: it is reported once
// per name ([NoticeInvalidPolicy], logged at Error), and its requests are
// decided under the default policy, with Check returning the
// *[PolicyError].
func WithPolicyResolver(fn func(Request) Policy) Option {
	return optionFunc(func(l *Limiter) error {
		l.resolver = fn
		return nil
	})
}

// WithHeaderStyle sets how decisions are rendered as response headers by
// the adapters; it is the one place the style is chosen. The default is
// [Standard]; nil means [NoHeaders].
func WithHeaderStyle(s HeaderStyle) Option {
	return optionFunc(func(l *Limiter) error {
		if isNil(s) {
			s = NoHeaders
		}
		l.style = s
		return nil
	})
}
