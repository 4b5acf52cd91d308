package halt

import (
	"strconv"
	"strings"
	"time"
)

// ResponseHeaders is where adapters let core write response headers;
// http.Header implements it. Names are in canonical form.
type ResponseHeaders interface {
	Get(name string) string
	Set(name, value string)
	Add(name, value string)
}

// IntHeaders is a ResponseHeaders that can set a header to the decimal
// form of an integer itself, more cheaply than Set can take a string
// formatted for it: fiber's writer copies the digits into the response,
// [adapter.HTTPHeaderWriter] makes the string and its value slice in one
// allocation. Header styles use it, for numbers of 1024 and over (which
// core does not keep ready-made), when the headers they are given
// implement it.
//
// [adapter.HTTPHeaderWriter]: https://pkg.go.dev/github.com/halt-go/halt/core/adapter#HTTPHeaderWriter
type IntHeaders interface {
	SetInt(name string, v int64)
}

// SliceHeaders is a ResponseHeaders over a map of value slices, as
// http.Header is, that can take a header's value slice as it is. Core gives
// it slices of one value, of capacity 1, that it shares across responses
// and never writes to (the numbers below 1024, each policy's limit, draft
// 7's RateLimit-Policy, and adapters' Cache-Control: no-store), so that
// setting such a header needs no allocation and no storage in the writer.
// Whoever holds the map must not write into a value slice in place
// (h[name][0] = v): that would change the header of every response.
// Replacing it, as http.Header's Set does, or appending to it, as Add
// does, is fine.
type SliceHeaders interface {
	SetSlice(name string, vals []string)
}

// SetIntHeader sets the response header name to v's decimal form on h,
// the way header styles do: a shared value slice for numbers below 1024
// when h is a [SliceHeaders], [IntHeaders.SetInt] for the others when h
// has it, and h.Set otherwise. Adapters use it for headers of their own,
// such as Retry-After. Nil headers are left unwritten, as
// [Limiter.WriteHeaders] leaves them.
func SetIntHeader(h ResponseHeaders, name string, v int64) {
	if isNil(h) {
		return
	}
	sh, _ := h.(SliceHeaders)
	setInt(h, sh, name, v)
}

// setInt is SetIntHeader with h's SliceHeaders (nil for none) found.
func setInt(h ResponseHeaders, sh SliceHeaders, name string, v int64) {
	if v >= 0 && v < int64(len(smallInts)) {
		if sh != nil {
			sh.SetSlice(name, smallInts[v:v+1:v+1])
			return
		}
		h.Set(name, smallInts[v])
		return
	}
	if ih, ok := h.(IntHeaders); ok {
		ih.SetInt(name, v)
		return
	}
	h.Set(name, strconv.FormatInt(v, 10))
}

// HeaderStyle renders a Decision as rate-limit response headers. When
// several limiters apply to one request, each renders in turn onto the same
// headers; a style keeps whichever decision is the most restrictive (or, for
// list-valued styles, lists each). New header drafts are one more style.
type HeaderStyle interface {
	// Write renders d onto h. (d is passed by value so that rendering never
	// moves a decision to the heap.)
	Write(h ResponseHeaders, d Decision)
}

// The header styles Halt ships. Every value is whole seconds, rounded up,
// never negative; on a 429 the reset value equals Retry-After.
var (
	// Standard writes RateLimit-Limit, RateLimit-Remaining and
	// RateLimit-Reset, Reset in delay-seconds. The default.
	Standard HeaderStyle = newTrio("Ratelimit-", false)
	// StandardUnixReset is Standard with RateLimit-Reset as a Unix
	// timestamp, for clients written against the Python SDK's README.
	StandardUnixReset HeaderStyle = newTrio("Ratelimit-", true)
	// IETF writes draft-ietf-httpapi-ratelimit-headers-08..10 structured
	// fields: RateLimit-Policy: "<name>";q=<limit>;w=<window> and
	// RateLimit: "<name>";r=<remaining>;t=<seconds>, one item per limiter.
	IETF HeaderStyle = ietf{}
	// Draft7 writes RateLimit: limit=L, remaining=R, reset=T and
	// RateLimit-Policy: L;w=W (draft-07).
	Draft7 HeaderStyle = draft7{}
	// XRateLimit writes X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset with Reset as Unix epoch seconds (GitHub style).
	XRateLimit HeaderStyle = newTrio("X-Ratelimit-", true)
	// NoHeaders writes nothing (Retry-After is still sent on 429).
	NoHeaders HeaderStyle = none{}
)

// ParseHeaderStyle maps a configuration name to a style: "standard",
// "standard-unix", "ietf", "draft7", "xratelimit" or "none".
func ParseHeaderStyle(name string) (HeaderStyle, bool) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "standard":
		return Standard, true
	case "standard-unix":
		return StandardUnixReset, true
	case "ietf":
		return IETF, true
	case "draft7":
		return Draft7, true
	case "xratelimit":
		return XRateLimit, true
	case "none":
		return NoHeaders, true
	}
	return nil, false
}

// WriteHeaders renders d as the limiter's rate-limit headers onto h, as
// HeaderStyle().Write(h, *d) does, without copying d for Halt's own styles.
// A nil h or d writes nothing.
func (l *Limiter) WriteHeaders(h ResponseHeaders, d *Decision) {
	if h == nil || d == nil {
		return
	}
	if t, ok := l.style.(*trio); ok {
		t.write(h, d)
		return
	}
	l.style.Write(h, *d)
}

// ResetSeconds is the reset value headers show: whole seconds rounded up;
// on a rejected decision that can succeed later it equals RetrySeconds.
func (d *Decision) ResetSeconds() int64 {
	if r := d.RetrySeconds(); r > 0 {
		return r
	}
	return ceilSeconds(d.ResetAfter)
}

// RetrySeconds is the Retry-After value of a rejected decision: whole
// seconds rounded up, at least 1. It is 0 for an allowed decision and for
// rejections that no wait can turn into an admission (a cost above the
// policy's capacity, a missing credential): those carry no Retry-After.
func (d *Decision) RetrySeconds() int64 {
	if d.Allowed || d.Reason == ReasonCostExceedsCapacity || d.Reason == ReasonMissingKey {
		return 0
	}
	return max(1, ceilSeconds(d.RetryAfter))
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// moreRestrictive reports whether a prior decision (remaining, reset) beats
// d: an earlier limiter that is closer to exhaustion keeps its headers.
func moreRestrictive(priorRemaining, priorReset string, d *Decision, reset int64) bool {
	if priorRemaining == "" || !d.Allowed {
		return false
	}
	r, err := strconv.ParseInt(priorRemaining, 10, 64)
	if err != nil {
		return false
	}
	if r != d.Remaining {
		return r < d.Remaining
	}
	t, err := strconv.ParseInt(priorReset, 10, 64)
	return err == nil && t >= reset
}

// trio is the three-header family: <prefix>Limit, Remaining and Reset.
type trio struct {
	limit, remaining, reset string // header names
	epoch                   bool   // Reset as a Unix timestamp
}

func newTrio(prefix string, epoch bool) *trio {
	return &trio{limit: prefix + "Limit", remaining: prefix + "Remaining", reset: prefix + "Reset", epoch: epoch}
}

func (s *trio) Write(h ResponseHeaders, d Decision) { s.write(h, &d) }

func (s *trio) write(h ResponseHeaders, d *Decision) {
	reset := d.ResetSeconds()
	if s.epoch {
		reset += d.At.Unix()
	}
	// A prior limiter's headers (read only when there are some: most
	// requests pass one limiter).
	if prior := h.Get(s.remaining); prior != "" && moreRestrictive(prior, h.Get(s.reset), d, reset) {
		return
	}
	sh, _ := h.(SliceHeaders)
	switch own := d.cp != nil && d.cp.Limit == d.Limit; {
	case own && sh != nil:
		sh.SetSlice(s.limit, d.cp.limitVals)
	case own:
		h.Set(s.limit, d.cp.limitVals[0])
	default:
		setInt(h, sh, s.limit, d.Limit)
	}
	setInt(h, sh, s.remaining, d.Remaining)
	setInt(h, sh, s.reset, reset)
}

type draft7 struct{}

func (draft7) Write(h ResponseHeaders, d Decision) {
	reset := d.ResetSeconds()
	if prior := h.Get("Ratelimit"); prior != "" {
		if moreRestrictive(dictMember(prior, "remaining"), dictMember(prior, "reset"), &d, reset) {
			return
		}
	}
	b := make([]byte, 0, 64)
	b = append(b, "limit="...)
	b = append(b, d.limitString()...)
	b = append(b, ", remaining="...)
	b = strconv.AppendInt(b, d.Remaining, 10)
	b = append(b, ", reset="...)
	b = strconv.AppendInt(b, reset, 10)
	h.Set("Ratelimit", string(b))
	if d.ownLimits() {
		if sh, ok := h.(SliceHeaders); ok {
			sh.SetSlice("Ratelimit-Policy", d.cp.draft7Policy)
		} else {
			h.Set("Ratelimit-Policy", d.cp.draft7Policy[0])
		}
		return
	}
	h.Set("Ratelimit-Policy", draft7Policy(d.Limit, d.Window))
}

// draft7Policy is draft 7's RateLimit-Policy value for limit per window.
func draft7Policy(limit int64, window time.Duration) string {
	return itoa(limit) + ";w=" + itoa(ceilSeconds(window))
}

// dictMember returns the value of key in "k=v, k=v".
func dictMember(dict, key string) string {
	for dict != "" {
		var item string
		item, dict, _ = strings.Cut(dict, ",")
		k, v, _ := strings.Cut(strings.TrimSpace(item), "=")
		if k == key {
			return v
		}
	}
	return ""
}

type ietf struct{}

func (s ietf) Write(h ResponseHeaders, d Decision) {
	if d.multi != nil || d.pair.cp != nil {
		var buf [2]Decision
		if each := d.records(&buf); len(each) > 1 {
			for i := range each {
				s.item(h, &each[i])
			}
			return
		}
	}
	s.item(h, &d)
}

// item writes one policy's RateLimit and RateLimit-Policy items.
func (ietf) item(h ResponseHeaders, d *Decision) {
	id := `"halt"`
	if d.cp != nil {
		id = d.cp.policyID
	}
	b := make([]byte, 0, 48)
	b = append(b, id...)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, d.Remaining, 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, d.ResetSeconds(), 10)
	h.Add("Ratelimit", string(b))
	if d.ownLimits() {
		h.Add("Ratelimit-Policy", d.cp.ietfPolicy)
		return
	}
	h.Add("Ratelimit-Policy", ietfPolicy(id, d.Limit, d.Window))
}

// ietfPolicy is the IETF style's RateLimit-Policy item for the policy
// whose sf-string is id, limit per window.
func ietfPolicy(id string, limit int64, window time.Duration) string {
	return id + ";q=" + itoa(limit) + ";w=" + itoa(max(1, ceilSeconds(window)))
}

type none struct{}

func (none) Write(ResponseHeaders, Decision) {}

// ownLimits reports whether d's limit and window are its policy's, whose
// header values are made once, when it is compiled.
func (d *Decision) ownLimits() bool {
	return d.cp != nil && d.cp.Limit == d.Limit && d.cp.Window == d.Window
}

func (d *Decision) limitString() string {
	if d.cp != nil && d.cp.Limit == d.Limit {
		return d.cp.limitVals[0]
	}
	return itoa(d.Limit)
}

// sfString renders s as an RFC 9651 sf-string. Policy names are printable
// ASCII (Validate), so only '"' and '\' need escaping.
func sfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// smallInts caches the decimal strings header values use most. Slices of
// it are the shared value slices SliceHeaders get: nothing writes to it
// after init.
var smallInts = func() [1024]string {
	var a [1024]string
	for i := range a {
		a[i] = strconv.Itoa(i)
	}
	return a
}()

func itoa(n int64) string {
	if n >= 0 && n < int64(len(smallInts)) {
		return smallInts[n]
	}
	return strconv.FormatInt(n, 10)
}

// The JSON bodies of rejections. retry_after, where present, equals the
// Retry-After header.
const (
	bodyLimited     = `{"error":"rate_limit_exceeded","message":"Too many requests. Please try again later.","retry_after":`
	bodyUnavailable = `{"error":"service_unavailable","message":"Rate limiting is temporarily unavailable. Please try again later.","retry_after":`
	bodyTooCostly   = `{"error":"cost_exceeds_capacity","message":"This request costs more than the rate limit can ever allow; retrying will not help."}`
	bodyMissingKey  = `{"error":"missing_credential","message":"This endpoint is rate limited per client and the request did not say who it is from."}`
)

// Rejection describes the response to a rejected request, by reason:
//
//   - rate limited or cooling down: 429 and
//     {"error":"rate_limit_exceeded","message":"Too many requests. Please try again later.","retry_after":42}
//     whose retry_after equals the Retry-After header;
//   - the store failed under FailClosed: 503 (or [WithFailClosedStatus])
//     and {"error":"service_unavailable",...,"retry_after":1};
//   - a cost above what the policy can ever grant: 429 and
//     {"error":"cost_exceeds_capacity",...}, no retry_after;
//   - no key under MissingKeyDeny: 401 and {"error":"missing_credential",...},
//     no retry_after;
//   - a calendar quota used up ([WithQuotas]): 429 and
//     {"error":"quota_exceeded",...,"retry_after":N} to the period's end;
//   - a banned client ([WithPenalties]): 403 Forbidden and
//     {"error":"banned",...,"retry_after":N} to the ban's end.
//
// [WithRejectStatus] changes the status of each.
func (l *Limiter) Rejection(d *Decision) (status int, body []byte) {
	status = l.rejectStatus(d.Reason)
	switch d.Reason {
	case ReasonCostExceedsCapacity:
		return status, []byte(bodyTooCostly)
	case ReasonMissingKey:
		return status, []byte(bodyMissingKey)
	case ReasonStoreError:
		b := append(make([]byte, 0, len(bodyUnavailable)+8), bodyUnavailable...)
		b = strconv.AppendInt(b, d.RetrySeconds(), 10)
		return status, append(b, '}')
	case ReasonQuotaExceeded:
		return status, rejectBody(bodyQuota, d)
	case ReasonBanned:
		return status, rejectBody(bodyBanned, d)
	}
	b := append(make([]byte, 0, len(bodyLimited)+8), bodyLimited...)
	b = strconv.AppendInt(b, d.RetrySeconds(), 10)
	return status, append(b, '}')
}
