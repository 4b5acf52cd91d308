package halt

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Event describes one rate-limit check to telemetry. It is valid during
// the call it is passed to: a sink that keeps something keeps the values
// (Key's string), not the Event.
type Event struct {
	// Policy is the name of the policy that decided (for exempt and
	// skipped requests, the policy that would have).
	Policy string
	// Store names the store that decided or failed ("memory", "redis", or
	// the store's type), "" when no store was asked. A store names itself
	// with a method Name() string.
	Store string
	// Decision is the outcome.
	Decision Decision
	// Shadow marks the decision of a shadow policy (Policy.Shadow): an
	// OnBlocked with Shadow set is a request the policy would have
	// rejected, which went on.
	Shadow bool

	key []byte // the client part of the storage key, valid during the call
}

// Key returns the client's rate-limit key (IP, "user:…", a hashed API
// key…), without the store prefix; "" for exempt and skipped requests.
// Credentials never appear in clear. It allocates: sinks that count
// requests need not call it.
func (e *Event) Key() string { return string(e.key) }

// NoticeKind classifies a [Notice].
type NoticeKind string

// Notice kinds that Halt reports. Stores and later features (quotas,
// penalties) add their own kinds without changing the interface.
const (
	// NoticeUntrustedProxy: a private peer sent forwarding headers but no
	// trusted proxies are configured, so every request looks private and is
	// exempt. Reported once per Limiter.
	NoticeUntrustedProxy NoticeKind = "untrusted_proxy"
	// NoticeStoreDown: a store switched to its failure mode.
	NoticeStoreDown NoticeKind = "store_down"
	// NoticeStoreUp: a store recovered.
	NoticeStoreUp NoticeKind = "store_up"
	// NoticePrivateExempt: the first request from a private client address
	// (loopback, RFC 1918...) was exempt; so are all that follow. Reported
	// once per Limiter, so that a quick start tried from localhost, which
	// never shows a rate-limit header, says why.
	NoticePrivateExempt NoticeKind = "private_exempt"
	// NoticeProxyOnly: a request came through a trusted proxy that named no
	// client beyond the trusted proxies (no usable X-Forwarded-For), so it
	// was limited under the proxy's own address. Reported once per Limiter.
	NoticeProxyOnly NoticeKind = "proxy_without_client"
	// NoticeInvalidPolicy: a policy from WithPolicyResolver or WithPolicy
	// failed validation; requests it was meant for are decided under the
	// limiter's own policy. Reported at Error, once per policy name.
	NoticeInvalidPolicy NoticeKind = "invalid_policy"
)

// Notice is a condition worth an operator's attention, reported once per
// occurrence rather than once per request.
type Notice struct {
	Kind    NoticeKind
	Message string
	// Level is how serious it is; SlogTelemetry logs the notice at it. The
	// zero value is slog.LevelInfo.
	Level slog.Level
	// Attrs carries structured details, as for log/slog.
	Attrs []slog.Attr
}

// Telemetry receives what the limiter sees. Methods are called on the
// request path and must be fast and safe for concurrent use. Embed
// [NopTelemetry] to implement only the methods you need.
type Telemetry interface {
	// OnCheck is called for every request the limiter saw: decided,
	// exempt (Decision.Reason ReasonExempt) and skipped (ReasonSkipped,
	// by a skip option or MissingKeySkip) alike, and for store failures.
	// A sink that implements RequestCounter hears OnRequest instead (and
	// no OnAllowed or OnBlocked for the request).
	OnCheck(ctx context.Context, e Event)
	// OnAllowed is called when a request was admitted by the store (or by
	// the fallback store).
	OnAllowed(ctx context.Context, e Event)
	// OnBlocked is called when a request was rejected, and when a shadow
	// policy would have rejected it (e.Shadow).
	OnBlocked(ctx context.Context, e Event)
	// OnError is called when the store failed; e.Decision is what the
	// fallback store or the failure mode decided.
	OnError(ctx context.Context, e Event, err error)
	// OnNotice reports conditions such as a misconfigured proxy or a store
	// going down or coming back.
	OnNotice(ctx context.Context, n Notice)
}

// NopTelemetry implements every Telemetry method as a no-op.
type NopTelemetry struct{}

// OnCheck does nothing.
func (NopTelemetry) OnCheck(context.Context, Event) {}

// OnAllowed does nothing.
func (NopTelemetry) OnAllowed(context.Context, Event) {}

// OnBlocked does nothing.
func (NopTelemetry) OnBlocked(context.Context, Event) {}

// OnError does nothing.
func (NopTelemetry) OnError(context.Context, Event, error) {}

// OnNotice does nothing.
func (NopTelemetry) OnNotice(context.Context, Notice) {}

// SlogTelemetry logs blocked requests at Info, store errors at Error,
// notices at their own level, and allowed requests at Debug when the logger
// enables it.
// A nil Logger means slog.Default().
type SlogTelemetry struct {
	Logger *slog.Logger
}

func (t SlogTelemetry) logger() *slog.Logger {
	if t.Logger == nil {
		return slog.Default()
	}
	return t.Logger
}

// OnCheck does nothing: OnAllowed and OnBlocked cover every outcome.
func (t SlogTelemetry) OnCheck(context.Context, Event) {}

// OnAllowed logs at Debug.
func (t SlogTelemetry) OnAllowed(ctx context.Context, e Event) {
	if l := t.logger(); l.Enabled(ctx, slog.LevelDebug) {
		l.LogAttrs(ctx, slog.LevelDebug, "halt: allowed", eventAttrs(e)...)
	}
}

// OnBlocked logs at Info ("halt: would block" for a shadow policy).
func (t SlogTelemetry) OnBlocked(ctx context.Context, e Event) {
	msg := "halt: blocked"
	if e.Shadow {
		msg = "halt: would block (shadow policy)"
	}
	t.logger().LogAttrs(ctx, slog.LevelInfo, msg, eventAttrs(e)...)
}

// OnError logs at Error.
func (t SlogTelemetry) OnError(ctx context.Context, e Event, err error) {
	attrs := append(eventAttrs(e), slog.String("error", err.Error()))
	t.logger().LogAttrs(ctx, slog.LevelError, "halt: store error", attrs...)
}

// OnNotice logs at the notice's level.
func (t SlogTelemetry) OnNotice(ctx context.Context, n Notice) {
	attrs := append([]slog.Attr{slog.String("kind", string(n.Kind))}, n.Attrs...)
	t.logger().LogAttrs(ctx, n.Level, "halt: "+n.Message, attrs...)
}

func eventAttrs(e Event) []slog.Attr {
	return []slog.Attr{
		slog.String("policy", e.Policy),
		slog.String("key", e.Key()),
		slog.String("reason", e.Decision.Reason.String()),
		slog.Int64("remaining", e.Decision.Remaining),
		slog.Duration("retry_after", e.Decision.RetryAfter),
	}
}

// defaultTelemetry is what a Limiter without WithTelemetry reports to: it
// logs notices, and store errors at most once every ten seconds (with the
// count of those it held back), never individual requests.
type defaultTelemetry struct {
	NopTelemetry
	log        SlogTelemetry
	lastError  atomic.Int64
	suppressed atomic.Int64
}

func (t *defaultTelemetry) OnError(ctx context.Context, e Event, err error) {
	now := time.Now().UnixNano()
	last := t.lastError.Load()
	if now-last < int64(10*time.Second) || !t.lastError.CompareAndSwap(last, now) {
		t.suppressed.Add(1)
		return
	}
	attrs := append(eventAttrs(e), slog.String("error", err.Error()),
		slog.Int64("suppressed", t.suppressed.Swap(0)))
	t.log.logger().LogAttrs(ctx, slog.LevelError, "halt: store error", attrs...)
}

func (t *defaultTelemetry) OnNotice(ctx context.Context, n Notice) { t.log.OnNotice(ctx, n) }

// StoreTimer is what a telemetry sink implements, beside Telemetry, to
// hear how long each store decision took (Take, or TakeAll for several
// policies): the limiter reads the clock once more per request only when
// some sink implements it. store is as Event.Store.
type StoreTimer interface {
	OnStoreDuration(ctx context.Context, store string, d time.Duration)
}

// Outcome is what became of a request, as a [RequestCounter] hears it.
type Outcome uint8

// Outcomes of a request.
const (
	// OutcomeAllowed: the store (or the fallback store, or a missing-key
	// rule) admitted the request.
	OutcomeAllowed Outcome = iota
	// OutcomeBlocked: the request was rejected.
	OutcomeBlocked
	// OutcomeExempt: the request was exempt (Decision.Reason ReasonExempt).
	OutcomeExempt
	// OutcomeSkipped: no key, or a skip option (ReasonSkipped).
	OutcomeSkipped
	// OutcomeFailed: the store failed and the failure mode decided
	// (ReasonStoreError); OnError has reported the error.
	OutcomeFailed
)

var outcomeNames = [...]string{"allowed", "blocked", "exempt", "skipped", "error"}

// String returns "allowed", "blocked", "exempt", "skipped" or "error".
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// outcomeOf is the Outcome of a request's decision d.
func outcomeOf(d *Decision) Outcome {
	switch {
	case d.Reason == ReasonExempt:
		return OutcomeExempt
	case d.Reason == ReasonSkipped:
		return OutcomeSkipped
	case d.Reason == ReasonStoreError:
		return OutcomeFailed
	case d.Allowed:
		return OutcomeAllowed
	}
	return OutcomeBlocked
}

// RequestCounter is what a metrics sink implements, beside Telemetry, to
// count requests without receiving their Events: the limiter then calls
// OnRequest once per request, with its policy's name and its outcome,
// where it would call OnCheck followed by OnAllowed or OnBlocked. No Event
// is built for it, so counting a request costs one call. Store errors
// still go to OnError, and a shadow policy's would-be rejections to
// OnBlocked (e.Shadow).
type RequestCounter interface {
	OnRequest(ctx context.Context, policy string, o Outcome)
}

// decide reports e, a request's outcome, to t: to OnRequest when t
// implements RequestCounter, else to OnCheck and then to OnAllowed or
// OnBlocked for those the store (or a missing key) decided; a fan-out
// does so for each of its sinks.
func decide(ctx context.Context, t Telemetry, e *Event) {
	switch t := t.(type) {
	case RequestCounter:
		t.OnRequest(ctx, e.Policy, outcomeOf(&e.Decision))
		return
	case *fanout:
		for _, s := range t.sinks {
			decide(ctx, s, e)
		}
		return
	}
	t.OnCheck(ctx, *e)
	switch outcomeOf(&e.Decision) {
	case OutcomeAllowed:
		t.OnAllowed(ctx, *e)
	case OutcomeBlocked:
		t.OnBlocked(ctx, *e)
	}
}

// fanout reports to several sinks in turn.
type fanout struct {
	sinks  []Telemetry
	timers []StoreTimer
}

// Telemetries returns a sink that reports to each of sinks in turn (nil
// ones are dropped), such as SlogTelemetry and a metrics exporter. It is
// what WithTelemetry does with several sinks. It allocates nothing per
// event.
func Telemetries(sinks ...Telemetry) Telemetry {
	f := &fanout{}
	for _, t := range sinks {
		if isNil(t) {
			continue
		}
		if inner, ok := t.(*fanout); ok {
			f.sinks = append(f.sinks, inner.sinks...)
			f.timers = append(f.timers, inner.timers...)
			continue
		}
		f.sinks = append(f.sinks, t)
		if st, ok := t.(StoreTimer); ok {
			f.timers = append(f.timers, st)
		}
	}
	return f
}

func (f *fanout) OnCheck(ctx context.Context, e Event) {
	for _, t := range f.sinks {
		t.OnCheck(ctx, e)
	}
}

func (f *fanout) OnAllowed(ctx context.Context, e Event) {
	for _, t := range f.sinks {
		t.OnAllowed(ctx, e)
	}
}

func (f *fanout) OnBlocked(ctx context.Context, e Event) {
	for _, t := range f.sinks {
		t.OnBlocked(ctx, e)
	}
}

func (f *fanout) OnError(ctx context.Context, e Event, err error) {
	for _, t := range f.sinks {
		t.OnError(ctx, e, err)
	}
}

func (f *fanout) OnNotice(ctx context.Context, n Notice) {
	for _, t := range f.sinks {
		t.OnNotice(ctx, n)
	}
}

func (f *fanout) OnStoreDuration(ctx context.Context, store string, d time.Duration) {
	for _, t := range f.timers {
		t.OnStoreDuration(ctx, store, d)
	}
}

// quietSink reports whether t wants no per-request events.
func quietSink(t Telemetry) bool {
	switch t := t.(type) {
	case NopTelemetry, *NopTelemetry, *defaultTelemetry:
		return true
	case *fanout:
		for _, s := range t.sinks {
			if !quietSink(s) {
				return false
			}
		}
		return true
	}
	return false
}

// logsNotices reports whether t already logs notices.
func logsNotices(t Telemetry) bool {
	switch t := t.(type) {
	case SlogTelemetry, *SlogTelemetry, *defaultTelemetry:
		return true
	case *fanout:
		for _, s := range t.sinks {
			if logsNotices(s) {
				return true
			}
		}
	}
	return false
}
